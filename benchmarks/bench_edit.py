"""Live editing with the exact field: from an edit of one data point to its first updated frame
(the goal: 100 ms), to the near particles recomputed exactly, and to the full trajectory, against
restarting the run.

    python benchmarks/bench_edit.py --quick --json out/bench_edit.json

300 data points, 20,000 particles, heun with 100 steps (the app's defaults). "first frame" is
what the frame that sees the edit spends on it: the engine following the edit and the particles
written at the current t. "near exact" and "full" are wall times from the edit until those
stages are shown (they run in the background while frames are drawn). The quick run measures
the full recompute for the drag only.
"""

from __future__ import annotations

import time

import numpy as np
from common import parser, print_table, write_json

from dexplorer.core.datasets import Dataset
from dexplorer.core.editing import added, erased, moved
from dexplorer.core.runs import Data, Request, Run
from dexplorer.core.threads import use_cpu_threads
from dexplorer.engine.devices import choose_device
from dexplorer.engine.runs import Engine

POINTS = 300
PARTICLES = 20000
GOAL = 0.1
"""Seconds from an edit to its first updated frame."""
T = 0.6
"""The time shown when the edit is made."""


def _edit(kind: str, data: Dataset, rng: np.random.Generator):
    index = int(rng.integers(len(data)))
    x, y = data.points[index]
    if kind == "drag":
        return moved(data, index, x + 0.05, y - 0.03, None)
    if kind == "add":
        return added(data, x + 0.1, y + 0.1, 0, None)
    return erased(data, index, None)


def main() -> None:
    args = parser(__doc__.split("\n")[0]).parse_args()
    use_cpu_threads()
    device = choose_device(args.device)
    rng = np.random.default_rng(0)
    points = rng.uniform(-2.5, 2.5, (POINTS, 2)).astype(np.float32)
    data, run = Data("custom", PARTICLES, 0), Run("exact", "heun", 100)
    engine = Engine(device)
    custom = Dataset.custom(points)
    start = time.perf_counter()
    engine.sync(Request(data, (run,), PARTICLES, 1, custom))
    engine.wait()
    restart = time.perf_counter() - start
    simulation = engine.simulations[0]
    rows = []
    for kind in ("drag", "add", "erase"):
        edit = _edit(kind, custom, rng)
        request = Request(data, (run,), PARTICLES, 1, edit.after, edit=edit)
        start = time.perf_counter()
        engine.sync(request)
        simulation.update_positions(T)
        first = time.perf_counter() - start
        live = simulation.live
        near = len(live.near)
        while live.stage < 2:
            time.sleep(0.002)
            engine.sync(request)
        row = {
            "edit": kind,
            "near particles": near,
            "first frame ms": 1e3 * first,
            "near exact ms": 1e3 * live.seconds[2],
            "goal / first": GOAL / first,
        }
        if kind == "drag" or not args.quick:
            simulation.wait()
            row["full s"] = live.seconds[3]
            row["restart / first"] = restart / first
        rows.append(row)
        custom = edit.after
    print(f"restart (a whole run, {POINTS} points, {PARTICLES:,} particles): {restart:.2f} s")
    print_table(rows, list(dict.fromkeys(key for row in rows for key in row)))
    write_json(args.json, {"restart_s": restart, "rows": rows, "points": POINTS, "n": PARTICLES})
    engine.close()


if __name__ == "__main__":
    main()
