"""Training robustness and speed: the default recipe on the cases a user meets.

The robustness matrix trains every objective (flow, diffusion, vpred) with each preset on
each case, with default settings and the default budget (``DEFAULT_SECONDS`` of wall time),
and prints the quality number of each model (1x: as close to the data as held-out data;
threshold 1.5x). The cases: every bundled dataset (20,000 points), small sets of 50, 150
and 300 points, a 300-point smiley drawn like the original tool's (a mouth arc and two
eyes), a labelled drawing of three classes, and flow matching with the OT coupling.

``--contended`` measures training steps per second with one torch thread (the app), two,
and the thread tuner (the CLI), first on an idle machine and then beside a CPU-bound
co-runner process, and prints each against the idle figure of the same run. The matrix
trains with one thread, as the app does beside its renderer.

    python benchmarks/bench_train.py --quick --json out/bench_train.json
    python benchmarks/bench_train.py --contended
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import torch
from common import parser, print_table, write_json

from dexplorer.core.datasets import DATASETS, Dataset, make_dataset
from dexplorer.core.metrics import measure_quality
from dexplorer.core.pretrained import QUALITY_SAMPLER
from dexplorer.core.threads import SINGLE, use_cpu_threads
from dexplorer.core.training import DEFAULT_SECONDS, Trainer, TrainSettings
from dexplorer.engine.devices import choose_device

THRESHOLD = 1.5
OBJECTIVES = ("flow", "diffusion", "vpred")
PRESETS = ("default", "original")


def drawn_smiley(n: int = 300, seed: int = 0) -> Dataset:
    """A smiley as the original tool ships it: two round eyes and a mouth arc, few points."""
    rng = np.random.default_rng(seed)
    k = n // 4
    eyes = [rng.normal((side, 1.0), 0.12, (k, 2)) for side in (-0.9, 0.9)]
    angle = rng.uniform(0.15 * np.pi, 0.85 * np.pi, n - 2 * k)
    mouth = np.stack([1.6 * np.cos(angle), -0.3 - 1.2 * np.sin(angle)], axis=1)
    mouth += rng.normal(0, 0.04, mouth.shape)
    return Dataset.custom(np.concatenate([*eyes, mouth]), title="drawn smiley")


def labelled_drawing(n: int = 240, seed: int = 0) -> Dataset:
    """Three strokes, one class each, as a user paints them with a class per stroke."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 1, n)
    label = rng.integers(0, 3, n)
    strokes = [
        np.stack([-2 + 1.5 * t, 2 - 3 * t], 1),  # a diagonal bar
        np.stack([np.cos(6 * t), np.sin(6 * t)], 1) * 1.1 + [1.5, 1.0],  # a ring
        np.stack([-2 + 4 * t, -2 + 0.4 * np.sin(9 * t)], 1),  # a wave
    ]
    points = np.choose(label[:, None], strokes) + rng.normal(0, 0.05, (n, 2))
    return Dataset.custom(points, label, ("bar", "ring", "wave"), title="labelled drawing")


def cases(quick: bool) -> dict[str, Callable[[], Dataset]]:
    """Name -> data of each case (the OT case is the smiley of 300 points)."""
    if quick:
        return {"drawn smiley 300": drawn_smiley}
    found: dict[str, Callable[[], Dataset]] = {
        name: (lambda name=name: make_dataset(name, n=20000, seed=0)) for name in DATASETS
    }
    for n in (50, 150, 300):
        found[f"smiley {n}"] = lambda n=n: make_dataset("smiley", n=n, seed=0)
    found["drawn smiley 300"] = drawn_smiley
    found["labelled drawing 240"] = labelled_drawing
    return found


def train_cell(data: Dataset, settings: TrainSettings, device: torch.device) -> dict:
    """Train with the default budget and measure the model as the CLI does."""
    trainer = Trainer(data, settings, device)
    outcome = trainer.run(seconds=DEFAULT_SECONDS)
    sampler, steps = QUALITY_SAMPLER[settings.objective]
    quality = measure_quality(trainer.samples(8000, steps, sampler), data.points, seed=1)
    return {
        "steps": outcome.steps,
        "steps_per_s": outcome.steps / outcome.seconds,
        "ratio": quality.ratio,
        "error": quality.error,
        "memorising": quality.memorising,
        "warning": outcome.warning,
        "stopped": outcome.stopped,
    }


def matrix(quick: bool, device: torch.device) -> list[dict]:
    presets = ("default",) if quick else PRESETS
    rows = []
    for case, make in cases(quick).items():
        data = make()
        variants = [(o, p, False) for o in OBJECTIVES for p in presets]
        if case in ("smiley 300", "drawn smiley 300"):
            variants += [("flow", p, True) for p in presets]
        for objective, preset, ot in variants:
            settings = TrainSettings(objective=objective, preset=preset, ot_coupling=ot)
            result = train_cell(data, settings, device)
            row = {
                "case": case,
                "points": len(data),
                "objective": objective + (" + OT" if ot else ""),
                "preset": preset,
                **result,
                "passes": result["ratio"] <= THRESHOLD,
            }
            rows.append(row)
            flag = "" if row["passes"] else "  ABOVE THRESHOLD"
            print(
                f"  {case:22s} {row['objective']:10s} {preset:8s} {result['ratio']:5.2f} "
                f"± {result['error']:.2f} ({result['steps']} steps){flag}",
                flush=True,
            )
    return rows


def steps_per_second(threads: int | None, seconds: float = 3.0) -> float:
    """Training steps per second of the default recipe on the smiley, with ``threads``
    torch threads, or ``None``: as the CLI trains, its thread tuner choosing."""
    use_cpu_threads(threads or SINGLE)
    trainer = Trainer(make_dataset("smiley", n=20000, seed=0), TrainSettings())
    trainer.run(steps=20)
    start = trainer.step
    outcome = trainer.run(seconds=seconds, tune_threads=threads is None)
    return (trainer.step - start) / outcome.seconds


CO_RUNNER = "import time\nend = time.time() + 600\nwhile time.time() < end:\n    pass\n"
SETTINGS = {"1 thread (app, sampling)": SINGLE, "2 threads": 2, "tuned (CLI training)": None}


def contended() -> list[dict]:
    """Steps per second idle and beside a busy process, for each thread setting."""
    idle = {name: steps_per_second(threads) for name, threads in SETTINGS.items()}
    runner = subprocess.Popen([sys.executable, "-c", CO_RUNNER])
    try:
        time.sleep(0.5)
        busy = {name: steps_per_second(threads) for name, threads in SETTINGS.items()}
    finally:
        runner.kill()
        runner.wait()
    rows = []
    for name in SETTINGS:
        rows.append(
            {
                "threads": name,
                "idle": idle[name],
                "busy": busy[name],
                "busy_vs_idle": busy[name] / idle[name],
                "idle_vs_1_thread": idle[name] / idle[next(iter(SETTINGS))],
            }
        )
    use_cpu_threads()
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--contended", action="store_true", help="steps/s beside a busy process")
    args = p.parse_args()
    use_cpu_threads()
    device = choose_device(args.device)
    result: dict = {"benchmark": "train", "threshold": THRESHOLD, "seconds": DEFAULT_SECONDS}
    result["settings"] = {o: asdict(TrainSettings(objective=o)) for o in OBJECTIVES}
    if args.contended:
        rows = contended()
        print("training steps per second, idle and beside a CPU-bound process:")
        print_table(rows, ["threads", "idle", "busy", "busy_vs_idle", "idle_vs_1_thread"])
        result["contended"] = rows
    else:
        print(f"quality after {DEFAULT_SECONDS:g} s of training with the defaults:")
        rows = matrix(args.quick, device)
        print()
        columns = ["case", "points", "objective", "preset", "ratio", "error", "memorising"]
        print_table(rows, [*columns, "steps", "steps_per_s", "passes"])
        failed = [r for r in rows if not r["passes"]]
        print(f"{len(rows) - len(failed)} of {len(rows)} at or under {THRESHOLD}x")
        result["results"] = rows
    write_json(args.json, result)


if __name__ == "__main__":
    main()
