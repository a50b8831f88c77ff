"""Sampling throughput: particle-steps per second against N, per sampler, network preset,
device and implementation, each also as a ratio against the plain-module (eager) baseline
measured in the same run, with the network's GFLOP/s against a matmul peak from the same run.

Implementations (``--impls``, comma-separated), each run through the back-end dispatcher
(dexplorer.engine.backends) with the back-end named in brackets forced:
  eager            [torch] the network module as written (the baseline)
  chunked          [chunked] dexplorer.core.fused.ChunkedMLP
  compiled         [chunked] ChunkedMLP with a torch.compile'd chunk kernel (mode "default")
  reduce-overhead  [chunked] the same with mode "reduce-overhead" (CUDA graphs; CUDA only)
  bf16             [torch] the module under bfloat16 autocast; error_vs_eager shows the
                   accuracy kept
  triton           [triton] the whole trajectory in one Triton kernel, hidden layers in tf32
                   (CUDA; euler, midpoint and heun only)
  triton-bf16      [triton] the same with bfloat16 hidden layers
                   (their tensor-core GFLOP/s exceed the float32 matmul peak: vs_peak > 1)
  native           [native] the whole trajectory in a compiled C kernel on the CPU threads
                   (euler, midpoint, heun)
  wgsl             [wgsl] the whole trajectory in one WGSL compute dispatch on the wgpu
                   adapter (the GPU through Vulkan; lavapipe on a machine without one, where
                   it is far slower than torch), float32, read back whole

    python benchmarks/bench_sampling.py --quick --json out/bench_sampling.json
    python benchmarks/bench_sampling.py --device cuda \
        --impls eager,chunked,compiled,reduce-overhead,bf16
    python benchmarks/bench_sampling.py --device cuda --presets original --samplers midpoint \
        --sizes 1000000,4000000 --steps 50 --impls eager,bf16,triton,triton-bf16
"""

from __future__ import annotations

import contextlib
import time

import torch
from common import parser, print_table, timed, write_json

from dexplorer.core.fields import NetworkField
from dexplorer.core.fused import ChunkedMLP
from dexplorer.core.networks import PRESETS, NetworkConfig, build_network
from dexplorer.core.objectives import make_objective
from dexplorer.core.samplers import SAMPLERS, SamplerSettings, initial_noise
from dexplorer.engine import backends
from dexplorer.engine.devices import choose_device

EVALUATIONS = {
    "euler": 1,
    "midpoint": 2,
    "heun": 2,
    "rk4": 4,
    "ddpm": 1,
    "ddim": 1,
    "euler_maruyama": 2,
}
"""Network evaluations per step (Euler-Maruyama asks for the velocity and the noise)."""
TRITON_PRECISIONS = {"triton": "tf32", "triton-bf16": "bf16"}
IMPLS = {
    "eager": "torch",
    "chunked": "chunked",
    "compiled": "chunked",
    "reduce-overhead": "chunked",
    "bf16": "torch",
    "triton": "triton",
    "triton-bf16": "triton",
    "native": "native",
    "wgsl": "wgsl",
}
"""Each implementation and the back-end it forces."""
HEADLINE = ("original", "midpoint", 50_000, 200)


def flops_per_evaluation(config: NetworkConfig) -> int:
    """Multiply-adds x 2 of one network evaluation (the time features are per call)."""
    w = config.width
    return 2 * (2 * w + (config.depth - 1) * w * w + w * 2)


def matmul_peak(device: torch.device) -> float:
    """GFLOP/s of a large float32 matmul: the ceiling the network's figures compare with."""
    a = torch.randn(2048, 1024, device=device)
    b = torch.randn(1024, 1024, device=device)
    out = torch.empty(2048, 1024, device=device)
    seconds = timed(lambda: torch.mm(a, b, out=out), device, 5)
    return 2 * 2048 * 1024 * 1024 / seconds / 1e9


def make_field(preset: str, impl: str, device: torch.device) -> NetworkField:
    torch.manual_seed(0)
    network = build_network(preset).to(device).eval().requires_grad_(False)
    field = NetworkField(network, make_objective("flow"))
    if impl in ("compiled", "reduce-overhead"):
        field.fast = ChunkedMLP(network, compile="default" if impl == "compiled" else impl)
    return field


def backend(
    field: NetworkField, sampler: str, impl: str, n: int, steps: int, device: torch.device
) -> backends.Backend:
    """The dispatcher's back-end for ``impl``; ValueError when it cannot run this."""
    precision = TRITON_PRECISIONS.get(impl)
    return backends.choose(field, sampler, device, n, steps, force=IMPLS[impl], precision=precision)


def measure(preset: str, sampler: str, impl: str, n: int, steps: int, device, repeats: int):
    """(particle-steps per second, final positions, seconds of the first call)."""
    field = make_field(preset, impl, device)
    chosen = backend(field, sampler, impl, n, steps, device)
    out = torch.empty((steps + 1, n, 2), device=device)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if impl == "bf16"
        else contextlib.nullcontext()
    )

    def run() -> None:
        x0, generator = initial_noise(n, 0, device)  # the same trajectories for every impl
        with autocast:
            backends.trajectory(chosen, x0, SamplerSettings(generator=generator), out)

    start = time.perf_counter()
    run()  # warm-up; compiles the kernel for the compiled implementations
    first = time.perf_counter() - start
    seconds = timed(run, device, repeats, warm_up=False)
    if field.fast is not None and field.fast.compiled is None:
        print(f"  ({impl} fell back to the eager kernel)")
    return n * steps / seconds, out[-1].float().clone(), first


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--impls",
        help=f"eager plus any of {', '.join(IMPLS)} (default: eager,chunked,compiled, and "
        "native on a CPU; --quick leaves compiled out: compiling takes 5-30 s here)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--sizes", help="comma-separated particle counts instead of the defaults")
    p.add_argument("--samplers", help="comma-separated samplers instead of the defaults")
    p.add_argument(
        "--presets", help=f"comma-separated presets (default: all of {', '.join(PRESETS)})"
    )
    p.add_argument("--steps", type=int, help="steps per run instead of 4 to 50 after N")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    # One compiled kernel per preset, chunk shape and mode: more than dynamo's default limit.
    torch._dynamo.config.cache_size_limit = 64
    device = choose_device(args.device)
    default_impls = "eager,chunked" if args.quick else "eager,chunked,compiled"
    if device.type == "cpu":
        default_impls += ",native"
    impls = [i for i in (args.impls or default_impls).split(",") if i]
    unknown = set(impls) - set(IMPLS)
    if unknown or "eager" not in impls:
        raise SystemExit(f"--impls takes eager plus any of {', '.join(IMPLS)}")
    if device.type != "cuda" and "reduce-overhead" in impls:
        impls.remove("reduce-overhead")
    if "wgsl" in impls:
        print(f"  (wgsl runs on {backends.wgsl_sampler().adapter_summary})")
    if args.quick:
        sizes, samplers, repeats = [10_000, 50_000], ["euler", "midpoint"], 1
        headline_steps = 20
    elif device.type == "cuda":
        sizes, samplers, repeats = [10_000, 100_000, 1_000_000, 4_000_000], list(SAMPLERS), 3
        headline_steps = HEADLINE[3]
    else:
        sizes, samplers, repeats = [1_000, 10_000, 100_000, 1_000_000], list(SAMPLERS), 2
        headline_steps = HEADLINE[3]
    if args.sizes:
        sizes = [int(n) for n in args.sizes.split(",")]
    if args.samplers:
        samplers = args.samplers.split(",")
    presets = args.presets.split(",") if args.presets else list(PRESETS)
    if set(presets) - set(PRESETS):
        raise SystemExit(f"--presets takes any of {', '.join(PRESETS)}")
    peak = matmul_peak(device)
    print(f"matmul peak: {peak:.1f} GFLOP/s on {device.type}, {torch.get_num_threads()} threads")
    plan = [
        (preset, sampler, n, args.steps or (10 if args.quick else max(4, min(50, 2_000_000 // n))))
        for n in sizes
        for preset in presets
        for sampler in samplers
    ]
    plan.insert(0, (*HEADLINE[:3], headline_steps))
    rows = []
    for index, (preset, sampler, n, steps) in enumerate(plan):
        baseline = reference = None
        for impl in impls:
            try:
                backend(make_field(preset, impl, device), sampler, impl, n, steps, device)
            except ValueError as error:
                print(f"  ({impl} skipped for {preset} {sampler}: {error})")
                continue
            rate, final, first = measure(preset, sampler, impl, n, steps, device, repeats)
            baseline = baseline or rate
            reference = final if reference is None else reference
            flops = rate * EVALUATIONS[sampler] * flops_per_evaluation(PRESETS[preset])
            rows.append(
                {
                    "case": "headline" if index == 0 else "",
                    "device": device.type,
                    "n": n,
                    "steps": steps,
                    "preset": preset,
                    "sampler": sampler,
                    "impl": impl,
                    "particle_steps_per_s": rate,
                    "vs_eager": rate / baseline,
                    "gflops": flops / 1e9,
                    "vs_peak": flops / 1e9 / peak,
                    "error_vs_eager": float((final - reference).abs().max()),
                    "first_call_s": first,
                }
            )
            print(
                f"{n:>9} x {steps:<3} {preset:>8} {sampler:>14} {impl:>15}: {rate:.3e} "
                f"particle-steps/s ({rate / baseline:.2f}x eager, {flops / 1e9:.1f} GFLOP/s)",
                flush=True,
            )
    print()
    columns = ["case", "device", "n", "steps", "preset", "sampler", "impl"]
    columns += ["particle_steps_per_s", "vs_eager", "gflops", "vs_peak", "error_vs_eager"]
    print_table(rows, columns)
    headline = {r["impl"]: r for r in rows if r["case"] == "headline"}
    for impl, row in headline.items():
        print(
            f"headline original midpoint 50k x {row['steps']} {impl}: "
            f"{row['particle_steps_per_s']:.3e} particle-steps/s, {row['gflops']:.1f} GFLOP/s "
            f"({row['vs_peak']:.0%} of the {peak:.0f} GFLOP/s matmul peak)"
        )
    write_json(
        args.json,
        {
            "benchmark": "sampling",
            "matmul_peak_gflops": peak,
            "headline": headline,
            "results": rows,
        },
    )


if __name__ == "__main__":
    main()
