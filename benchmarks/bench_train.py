"""Training speed: quality (energy distance relative to data-vs-data) reached within a wall-time
budget, per preset and dataset. The threshold is a ratio of 1.5.

Each budget trains a fresh model; the ratio column is the figure, and `reached` says whether
it is within the threshold. The baseline in the same run is the `original` preset.

    python benchmarks/bench_train.py --quick --json out/bench_train.json
"""

from __future__ import annotations

from common import parser, print_table, write_json

from dexplorer.core.datasets import make_dataset
from dexplorer.core.metrics import quality_ratio
from dexplorer.core.training import Trainer, TrainSettings
from dexplorer.engine.devices import choose_device

THRESHOLD = 1.5


def trained_ratio(dataset: str, preset: str, objective: str, seconds: float, device) -> dict:
    data = make_dataset(dataset, n=20000, seed=0)
    trainer = Trainer(data, TrainSettings(objective=objective, preset=preset), device)
    outcome = trainer.run(seconds=seconds)
    ratio, distance = quality_ratio(trainer.samples(8000, 50), data.points, 2000, seed=1)
    return {
        "dataset": dataset,
        "preset": preset,
        "objective": objective,
        "budget_s": seconds,
        "steps": outcome.steps,
        "steps_per_s": outcome.steps / outcome.seconds,
        "ratio": ratio,
        "energy_distance": distance,
        "reached": ratio <= THRESHOLD,
    }


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    device = choose_device(args.device)
    datasets = ["smiley"] if args.quick else ["smiley", "moons", "checkerboard", "spiral"]
    budgets = [3.0, 10.0] if args.quick else [2.0, 3.0, 5.0, 10.0, 20.0]
    rows = []
    for dataset in datasets:
        for preset in ("original", "default"):
            for seconds in budgets:
                row = trained_ratio(dataset, preset, "flow", seconds, device)
                rows.append(row)
                print(f"{dataset} {preset} {seconds:g}s: ratio {row['ratio']:.2f}", flush=True)
    print()
    print_table(rows, ["dataset", "preset", "budget_s", "steps", "steps_per_s", "ratio", "reached"])
    write_json(args.json, {"benchmark": "train", "threshold": THRESHOLD, "results": rows})


if __name__ == "__main__":
    main()
