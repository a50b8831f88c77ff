"""Training speed: wall seconds until a model reaches the quality threshold (energy distance
within 1.5x of data-vs-data, judged on a held-out draw of the data), per preset and dataset.

The learning rate decays over the budget, so every budget is its own fresh run (what a user
who asks for a run of that length gets); budgets go up in ~0.5 s to 1 s steps until the
threshold is reached or the cap is spent. The baseline in the same run is the previous
default settings (``PREVIOUS``) on the same preset and dataset.

    python benchmarks/bench_train.py --quick --json out/bench_train.json
"""

from __future__ import annotations

from dataclasses import asdict, replace

import torch
from common import parser, print_table, write_json

from dexplorer.core.datasets import make_dataset
from dexplorer.core.metrics import quality_ratio
from dexplorer.core.training import Trainer, TrainSettings
from dexplorer.engine.devices import choose_device

THRESHOLD = 1.5
PREVIOUS = TrainSettings(learning_rate=1e-2, batch_size=512, ema_decay=0.995, warmup_steps=50)
"""The default settings before the training-speed work, for the baseline."""


def quality(dataset: str, preset: str, settings: TrainSettings, seconds: float, device) -> dict:
    """Train a fresh model for ``seconds`` and judge it on a held-out draw of the data."""
    data = make_dataset(dataset, n=20000, seed=0)
    held_out = make_dataset(dataset, n=20000, seed=1).points
    trainer = Trainer(data, replace(settings, preset=preset), device)
    outcome = trainer.run(seconds=seconds)
    ratio, _ = quality_ratio(trainer.samples(4000, 32), held_out, 2000, seed=1)
    return {"budget_s": seconds, "steps": outcome.steps, "ratio": ratio, "seconds": outcome.seconds}


def time_to_threshold(
    dataset: str, preset: str, settings: TrainSettings, budgets: list[float], device
) -> dict:
    """The first budget whose model reaches the threshold (``None`` within the cap)."""
    tried = []
    for seconds in budgets:
        result = quality(dataset, preset, settings, seconds, device)
        tried.append(result)
        print(
            f"    {seconds:g} s: {result['steps']} steps, ratio {result['ratio']:.2f}", flush=True
        )
        if result["ratio"] <= THRESHOLD:
            break
    last = tried[-1]
    return {
        "seconds_to_threshold": last["budget_s"] if last["ratio"] <= THRESHOLD else None,
        "steps": last["steps"],
        "steps_per_s": last["steps"] / last["seconds"],
        "ratio": last["ratio"],
        "tried": tried,
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    if args.quick:
        datasets, budgets = ["smiley"], [1.5, 3.0]
        cases = [("default", "current"), ("default", "previous"), ("original", "current")]
    else:
        datasets = ["smiley", "moons", "checkerboard", "spiral"]
        budgets = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.0, 10.0]
        cases = [(p, w) for p in ("default", "original") for w in ("current", "previous")]
    named = {"current": TrainSettings(), "previous": PREVIOUS}
    rows = []
    for dataset in datasets:
        baselines: dict[str, float | None] = {}
        for preset, which in sorted(cases, key=lambda c: c[1] != "previous"):
            print(f"{dataset} {preset} {which} settings", flush=True)
            result = time_to_threshold(dataset, preset, named[which], budgets, device)
            seconds = result["seconds_to_threshold"]
            if which == "previous":
                baselines[preset] = seconds
            baseline = baselines.get(preset)
            rows.append(
                {
                    "dataset": dataset,
                    "preset": preset,
                    "settings": which,
                    "seconds_to_threshold": seconds,
                    "vs_previous": seconds / baseline if seconds and baseline else None,
                    "steps": result["steps"],
                    "steps_per_s": result["steps_per_s"],
                    "ratio": result["ratio"],
                    "tried": result["tried"],
                }
            )
    print()
    print(f"seconds to a quality ratio <= {THRESHOLD} (empty: not within {budgets[-1]:g} s)")
    columns = ["dataset", "preset", "settings", "seconds_to_threshold", "vs_previous"]
    print_table(rows, [*columns, "steps", "steps_per_s", "ratio"])
    write_json(
        args.json,
        {
            "benchmark": "train",
            "threshold": THRESHOLD,
            "settings": {k: asdict(v) for k, v in named.items()},
            "results": rows,
        },
    )


if __name__ == "__main__":
    main()
