"""Reference frames of the scene, and how far two sets of them differ.

    python benchmarks/pixels.py --out /tmp/pixels-before
    python benchmarks/pixels.py --compare /tmp/pixels-before /tmp/pixels-after --json out.json

Each frame is the app at 480x360 on an offscreen canvas without the controls, after
``settle()``: the default scene, each layer alone, and a 2- and a 4-panel comparison.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SIZE = (480, 360)
LAYERS = ("particles", "density", "mesh", "paths", "vectors", "data", "source")
SELECTED = (3, 50, 400, 1234)
"""The particles whose paths the frames with paths show."""


def _state(frame: str) -> object:
    from dexplorer.state import AppState

    state = AppState()
    state.change(n=2000, steps=20)
    state.t = 0.5
    if frame.startswith("compare"):
        state.set_view(int(frame[-1]))
    if frame.startswith("alone-"):
        shown = frame.removeprefix("alone-")
        for name in state.look.visible:
            state.look.visible[name] = name == shown
    if frame == "alone-paths":
        state.selected = list(SELECTED)
    return state


FRAMES = ("default", *(f"alone-{name}" for name in LAYERS), "compare2", "compare4")


def capture(out: Path) -> None:
    """Render every frame of :data:`FRAMES` into ``out`` as PNG."""
    import imageio.v3 as iio

    from dexplorer.headless import offscreen_app

    out.mkdir(parents=True, exist_ok=True)
    for frame in FRAMES:
        app = offscreen_app(_state(frame), SIZE, "cpu", ui=False)
        try:
            app.settle()
            image = app.screenshot()
        finally:
            app.close()
        iio.imwrite(out / f"{frame}.png", np.asarray(image)[..., :3])
        print(f"{frame}: {out / f'{frame}.png'}", flush=True)


def compare(before: Path, after: Path) -> dict:
    """Per frame: the share of pixels that differ by more than one colour level, and the
    largest difference."""
    import imageio.v3 as iio

    rows = {}
    for path in sorted(before.glob("*.png")):
        a = iio.imread(path).astype(int)
        other = after / path.name
        if not other.exists():
            rows[path.stem] = {"missing": True}
            continue
        b = iio.imread(other).astype(int)
        difference = np.abs(a - b).max(axis=-1)
        rows[path.stem] = {
            "share_over_1": float((difference > 1).mean()),
            "max_difference": int(difference.max()),
        }
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="folder to write the frames into")
    p.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    p.add_argument("--json", type=Path, help="write the comparison as JSON")
    args = p.parse_args()
    if args.out is not None:
        capture(args.out)
    if args.compare is not None:
        rows = compare(*args.compare)
        for name, row in rows.items():
            if row.get("missing"):
                print(f"{name:>16}: missing")
                continue
            share, most = row["share_over_1"], row["max_difference"]
            print(f"{name:>16}: {100 * share:7.3f} % of pixels differ by >1, max {most}")
        if args.json is not None:
            args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
