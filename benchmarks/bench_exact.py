"""Evaluations per second of the exact field (the "exact" model) against the data's size and
the time, with the straightforward evaluation measured in the same run as the baseline.

    python benchmarks/bench_exact.py --quick --json out/bench_exact.json

The cases are those a user meets: a bundled dataset of 20,000 points, hand-drawn ones of 300
and 50 points, at times across a run (near t = 1 each particle is near one point and most
weights underflow), from the Gaussian and from a point source (the bundled moons). From the
Gaussian the baseline is one softmax over 64 MB temporaries, as the field was evaluated
before; from a point source it is torch's evaluation, against the compiled kernel. The
largest difference of the two estimates is printed beside the ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from common import parser, print_table, write_json

from dexplorer.core import native_build
from dexplorer.core.datasets import make_dataset
from dexplorer.core.fields import CouplingField, ExactField, Field, as_time
from dexplorer.core.paths import LinearPath
from dexplorer.core.sources import make_source
from dexplorer.core.threads import use_cpu_threads
from dexplorer.engine.devices import choose_device

TIMES = (0.1, 0.5, 0.9, 0.99)
BASELINE_ELEMENTS = 1 << 24


def baseline(field: ExactField, x: torch.Tensor, t: float) -> torch.Tensor:
    """E[x1 | x] by one softmax over chunks of 2^24 logits (the evaluation before)."""
    t = as_time(t, x)
    a, s = field.path.alpha(t), field.path.sigma(t)
    variance = (s * s).clamp_min(1e-12)
    out = torch.empty_like(x)
    chunk = max(1, BASELINE_ELEMENTS // len(field.points))
    squared_norms = (field.points * field.points).sum(1)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        logits = (2 * a) * (part @ field.points.T) - (a * a) * squared_norms
        weights = torch.softmax(logits / (2 * variance) + field.log_weights, dim=1)
        out[start : start + chunk] = weights @ field.points
    return out


def gaussian_case(points: np.ndarray, device: torch.device) -> tuple[Field, Callable]:
    """The exact field from N(0, I) and its baseline (:func:`baseline`)."""
    field = ExactField(points, LinearPath(), device=device)
    return field, partial(baseline, field)


def moons_case(points: np.ndarray, device: torch.device) -> tuple[Field, Callable]:
    """The exact field from the bundled moons and its baseline: torch's evaluation (the
    compiled kernel left out)."""
    source = make_source("moons")
    plain = CouplingField(source, points, device=device)
    plain.kernel = None
    return CouplingField(source, points, device=device), lambda x, t: plain.estimate(x, t).data


def per_second(function, device: torch.device, budget: float) -> float:
    """Calls a second of ``function`` over ``budget`` seconds (after one warm-up call)."""
    function()
    calls, start = 0, time.perf_counter()
    while True:
        function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            return calls / elapsed


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, action="append", help="particle count(s)")
    args = p.parse_args()
    use_cpu_threads()
    device = choose_device(args.device)
    counts = args.n or ([2000] if args.quick else [2000, 20000])
    budget = 0.5 if args.quick else 2.0
    smiley = make_dataset("smiley", 20000, 0).points
    cases = {
        "three_modes, 20,000 points": make_dataset("three_modes", 20000, 0).points,
        "drawn, 300 points": smiley[:300],
        "drawn, 50 points": smiley[:50],
    }
    if device.type == "cpu" and native_build.load("coupling_field").library is None:
        print("the coupling kernel is not built: the moons rows compare torch with itself")
    sources = {"gaussian": gaussian_case, "moons": moons_case}
    rows = []
    for source, make in sources.items():
        for name, points in cases.items():
            field, before_of = make(points, device)
            for n in counts:
                x = 2 * torch.randn(n, 2, generator=torch.Generator().manual_seed(0)).to(device)
                for t in TIMES:
                    ours = per_second(partial(field.estimate, x, t), device, budget)
                    before = per_second(partial(before_of, x, t), device, budget)
                    difference = (field.estimate(x, t).data - before_of(x, t)).abs().max()
                    rows.append(
                        {
                            "source": source,
                            "data": name,
                            "n": n,
                            "t": t,
                            "particles_per_s": ours * n,
                            "baseline_per_s": before * n,
                            "vs_baseline": ours / before,
                            "max_difference": float(difference),
                        }
                    )
                    print(f"{source}, {name}, n={n}, t={t}: {ours / before:.2f}x the baseline")
    print()
    print_table(rows, list(rows[0]))
    payload = {"benchmark": "exact", "device": device.type, "results": rows}
    write_json(args.json, payload)


if __name__ == "__main__":
    main()
