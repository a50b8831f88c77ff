"""Sampling throughput: particle-steps per second against N, per sampler, preset and device.

Each figure is also printed as a ratio against the baseline measured in the same run: the
`original` preset with the Euler sampler at the same N (one network call per step).

    python benchmarks/bench_sampling.py --quick --json out/bench_sampling.json
"""

from __future__ import annotations

import torch
from common import parser, print_table, timed, write_json

from dexplorer.core.fields import NetworkField
from dexplorer.core.networks import build_network
from dexplorer.core.objectives import make_objective
from dexplorer.core.samplers import SAMPLERS, sample
from dexplorer.engine.devices import choose_device


def throughput(preset: str, sampler: str, n: int, steps: int, device: torch.device) -> float:
    """Particle-steps per second of ``sampler`` on an untrained ``preset`` flow network."""
    torch.manual_seed(0)
    network = build_network(preset).to(device).eval().requires_grad_(False)
    field = NetworkField(network, make_objective("flow"))
    out = torch.empty((steps + 1, n, 2), device=device)
    seconds = timed(lambda: sample(field, n, steps, sampler, device=device, out=out), device, 2)
    return n * steps / seconds


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    device = choose_device(args.device)
    sizes = [10_000, 100_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000]
    steps = 10 if args.quick else 50
    rows = []
    for n in sizes:
        baseline = None
        for preset in ("original", "default"):
            for sampler in SAMPLERS:
                rate = throughput(preset, sampler, n, steps, device)
                baseline = baseline or rate
                rows.append(
                    {
                        "device": device.type,
                        "n": n,
                        "preset": preset,
                        "sampler": sampler,
                        "steps": steps,
                        "particle_steps_per_s": rate,
                        "vs_original_euler": rate / baseline,
                    }
                )
                print(f"{n:>9} {preset:>8} {sampler:>14} {rate:.3e} particle-steps/s", flush=True)
    print()
    print_table(
        rows, ["device", "n", "preset", "sampler", "particle_steps_per_s", "vs_original_euler"]
    )
    write_json(args.json, {"benchmark": "sampling", "steps": steps, "results": rows})


if __name__ == "__main__":
    main()
