"""The bounded trajectory cache against the whole one (dexplorer.engine.ring): memory held,
the per-frame cost of reading a time, playing through the run at 60 frames a second (how
many frames showed a held step instead of the one asked for), the time a backward scrub
takes to recompute, and the largest N that the memory here lets play at a number of steps.

The same run is kept whole and bounded (a budget of ``--share`` of the whole trajectory's
float32 bytes), both held at once: their reading is timed alternating, back to back (on a
loaded machine a read after an idle wait pays for waking torch's threads), then each plays
and scrubs; all of it ``--repeats`` times.

    python benchmarks/bench_ring.py --quick
    python benchmarks/bench_ring.py --device cuda --sizes 1000000,10000000 --steps 200
"""

from __future__ import annotations

import os
import random
import statistics
import time

import torch
from common import parser, print_table, write_json

from dexplorer.core.fields import NetworkField
from dexplorer.core.networks import PRESETS, build_network
from dexplorer.core.objectives import make_objective
from dexplorer.engine.devices import choose_device
from dexplorer.engine.grids import grid_points
from dexplorer.engine.ring import smallest_bytes
from dexplorer.engine.trajectory import BUDGET_VARIABLE, RunSpec, TrajectoryCache, cache_budget

MESH = 225
FPS = 60


def field(device: torch.device, preset: str) -> NetworkField:
    torch.manual_seed(0)
    network = build_network(PRESETS[preset]).to(device).eval().requires_grad_(False)
    return NetworkField(network, make_objective("flow"))


def started(spec: RunSpec, device: torch.device, budget: int | None) -> TrajectoryCache:
    if budget is None:
        os.environ.pop(BUDGET_VARIABLE, None)
    else:
        os.environ[BUDGET_VARIABLE] = str(budget)
    cache = TrajectoryCache(device)
    cache.start(spec)
    cache.wait()
    os.environ.pop(BUDGET_VARIABLE, None)
    return cache


def held_bytes(cache: TrajectoryCache) -> int:
    if cache.layout is not None:
        return cache.layout.bytes
    return cache.particles.numel() * cache.particles.element_size() + cache.extra.numel() * 4


def read_ms(cache: TrajectoryCache, out: torch.Tensor, t: float, device: torch.device) -> float:
    """Median milliseconds of reading time t (held) into ``out``."""
    cache.hold(t)
    times = []
    for _ in range(50):
        start = time.perf_counter()
        cache.interpolate(t, out)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def play(cache: TrajectoryCache, out: torch.Tensor, seconds: float) -> tuple[float, float]:
    """Play t from 0 to 1 in ``seconds`` at 60 frames a second: (the share of frames that
    showed another step than asked, the median frame's reading in ms)."""
    cache.hold(0.0)
    frames, stale, times = round(seconds * FPS), 0, []
    begin = time.perf_counter()
    for frame in range(frames + 1):
        t = frame / frames
        start = time.perf_counter()
        cache.interpolate(t, out)
        times.append(time.perf_counter() - start)
        stale += cache.shown_position(t) != cache.step_position(t)
        time.sleep(max(0.0, begin + (frame + 1) / FPS - time.perf_counter()))
    return stale / (frames + 1), 1e3 * statistics.median(times)


def scrubs(cache: TrajectoryCache, count: int) -> list[float]:
    """Seconds each backward scrub (to a random time before the ring) takes to be shown."""
    rng = random.Random(1)
    seconds = []
    for _ in range(count):
        cache.hold(1.0)
        t = rng.uniform(0.05, 0.5)
        start = time.perf_counter()
        cache.hold(t)
        seconds.append(time.perf_counter() - start)
    return seconds


def largest_n(steps: int, budget: float, bounded: bool) -> int:
    """The most particles a cache of ``budget`` bytes takes at ``steps`` steps: whole in
    float16 (before), or bounded (after)."""
    if not bounded:
        return int(budget // ((steps + 1) * 4)) - MESH
    low, high = 1, 1 << 40
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if smallest_bytes(mid, steps, MESH) <= budget else (low, mid - 1)
    return low


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000", help="particle counts, comma-separated")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--sampler", default="midpoint")
    p.add_argument("--preset", default="original", choices=sorted(PRESETS))
    p.add_argument("--share", type=float, default=0.35, help="bounded budget / whole bytes")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--play", type=float, default=4.0, help="seconds to play the run through")
    p.add_argument("--scrubs", type=int, default=5)
    args = p.parse_args()
    if args.quick:
        args.sizes, args.repeats, args.play, args.scrubs = "20000", 1, 2.0, 3
    device = choose_device(args.device)
    rows = []
    for n in (int(size) for size in args.sizes.split(",")):
        spec = RunSpec(
            field(device, args.preset),
            args.sampler,
            args.steps,
            n,
            extra=grid_points(15, 3.0, device),
        )
        whole_bytes = (args.steps + 1) * (n + MESH) * 8
        budgets = {"whole": None, "bounded": int(args.share * whole_bytes)}
        out = torch.empty((n, 2), device=device)
        for repeat in range(args.repeats):
            caches = {mode: started(spec, device, budget) for mode, budget in budgets.items()}
            reads = {mode: [] for mode in caches}
            for _ in range(3):  # alternating, back to back
                for mode, cache in caches.items():
                    reads[mode].append(read_ms(cache, out, 0.503, device))
            for mode, cache in caches.items():
                stale, frame_ms = play(cache, out, args.play)
                scrub = scrubs(cache, args.scrubs) if cache.layout is not None else [0.0]
                rows.append(
                    {
                        "n": n,
                        "steps": args.steps,
                        "mode": mode,
                        "repeat": repeat,
                        "backend": cache.state.backend,
                        "MiB": held_bytes(cache) / 2**20,
                        "first_pass_s": cache.state.seconds,
                        "read_ms": statistics.median(reads[mode]),
                        "play_frame_ms": frame_ms,
                        "stale_frames": stale,
                        "scrub_median_s": statistics.median(scrub),
                        "scrub_max_s": max(scrub),
                        "layout": "" if cache.layout is None else str(cache.layout),
                    }
                )
            for cache in caches.values():
                cache.cancel()
    print_table(rows, [c for c in rows[0] if c != "layout"])
    for row in rows:
        if row["layout"]:
            print(row["layout"])
            break
    budget = cache_budget(device)
    limits = [
        {
            "steps": steps,
            "budget_GiB": budget / 2**30,
            "largest_n_before": largest_n(steps, budget, False),
            "largest_n_after": largest_n(steps, budget, True),
        }
        for steps in (args.steps, 1000)
    ]
    print_table(limits, list(limits[0]))
    write_json(args.json, {"runs": rows, "limits": limits})


if __name__ == "__main__":
    main()
