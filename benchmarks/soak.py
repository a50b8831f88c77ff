"""Memory soak: the resident memory (RSS) of the app against frames, over a lesson's worth
of use, and its slope after warm-up.

    python benchmarks/soak.py                  # offscreen, 10,000 frames
    python benchmarks/soak.py --quick          # offscreen, 600 frames, a change every 10
    python benchmarks/soak.py --window --minutes 30 --json out/soak_window.json

Offscreen, the app draws on an offscreen canvas (with its controls) and every
``--change-every`` frames the next action of a cycle is applied through the state's API:
dataset, sampler, steps, time, colouring, theme, a comparison on and off, a short
training run, a brush stroke. With ``--window`` the real window runs under Xvfb in a child
process (``--paused`` off, so it plays) and its RSS is sampled every few seconds; keys are
sent with xdotool where it is installed. Memory is flat when the slope after warm-up is
near zero and the mean RSS of the second half of the run is within 5 % of the first half's
(single samples move with what an action holds for a moment, a training run or a panel).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import parser, print_table, write_json

from dexplorer.core.datasets import DATASETS
from dexplorer.core.drawing import Drawing
from dexplorer.core.runs import Data, Run
from dexplorer.core.samplers import SAMPLERS
from dexplorer.core.threads import use_cpu_threads
from dexplorer.scene.colors import COLOR_MODES
from dexplorer.scene.theme import THEMES
from dexplorer.state import AppState

WARM_UP = 0.2
"""Fraction of a window run left out of the slope (caches, pipelines and allocators fill
up); offscreen, the first cycle of actions is left out (each action allocates what it
needs the first time: comparison panels, a training job, ...)."""


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (from /proc)."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def actions(state: AppState) -> list[Callable[[], object]]:
    """The cycle of changes a lesson makes, each through the state's API."""
    datasets = [name for name in DATASETS if name != "custom"][:4]
    samplers, themes = list(SAMPLERS), list(THEMES)

    def stroke() -> None:
        state.mode = "draw"
        state.drawing.begin(-1.0, -1.0)
        for k in range(40):
            state.drawing.extend(-1.0 + k * 0.05, np.sin(k * 0.3))
        state.finish_stroke()
        state.mode = "select"

    def train() -> None:
        state.train_unit, state.train_steps = "steps", 30
        state.start_training("cpu")

    return [
        lambda: state.change(dataset=datasets[1], label=None),
        lambda: state.change(sampler=samplers[1]),
        lambda: state.change(steps=40),
        lambda: state.set_time(0.7),
        lambda: setattr(state.look, "color_mode", COLOR_MODES[-1]),
        lambda: setattr(state.look, "theme", themes[1]),
        lambda: state.set_view(2),
        lambda: state.set_view(1),
        train,
        stroke,
        lambda: state.change(dataset=datasets[0], label=None),
        lambda: state.change(sampler=samplers[2], steps=60),
        lambda: setattr(state.look, "color_mode", COLOR_MODES[0]),
        lambda: setattr(state.look, "theme", themes[0]),
        lambda: state.set_view(4),
        lambda: state.set_view(1),
        lambda: state.set_time(0.2),
    ]


CYCLE = len(actions(AppState()))
"""Actions in one cycle."""


def soak_offscreen(
    frames: int,
    change_every: int,
    sample_every: int,
    size: tuple[int, int] = (960, 600),
    n: int = 5000,
    progress: Callable[[int, float], None] | None = None,
) -> list[tuple[int, float]]:
    """Draw ``frames`` offscreen frames, applying the next action every ``change_every``;
    returns (frame, RSS MB) every ``sample_every`` frames."""
    from dexplorer.headless import offscreen_app

    folder = Path(tempfile.mkdtemp(prefix="dexplorer-soak-"))
    state = AppState(data=Data(n=n), runs=[Run(steps=60)])
    state.drawing = Drawing(folder / "drawing.json")  # never the user's own drawing
    app = offscreen_app(state, size, "cpu")
    app.settle()
    cycle = actions(state)
    samples = []
    try:
        for frame in range(frames + 1):
            if frame and frame % change_every == 0:
                cycle[(frame // change_every - 1) % len(cycle)]()
            app.screenshot()
            if frame % sample_every == 0:
                samples.append((frame, rss_mb()))
                if progress is not None:
                    progress(*samples[-1])
    finally:
        app.close()
        shutil.rmtree(folder, ignore_errors=True)
    return samples


def soak_window(
    minutes: float, sample_seconds: float, progress: Callable[[int, float], None] | None = None
) -> list[tuple[int, float]]:
    """Run the real window under Xvfb for ``minutes``; returns (second, RSS MB) samples of
    its process. Keys (play/pause, datasets, views) are sent with xdotool if installed."""
    number = next(n for n in range(90, 300) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {**os.environ, "DISPLAY": f":{number}"}
    env.pop("RENDERCANVAS_FORCE_OFFSCREEN", None)
    folder = Path(tempfile.mkdtemp(prefix="dexplorer-soak-"))
    env["XDG_DATA_HOME"] = str(folder)  # the drawing autosave goes here
    keys = ["space", "2", "c", "c", "c", "1", "space", "h", "h"]
    xdotool = shutil.which("xdotool")
    samples = []
    try:
        deadline = time.time() + 20
        while not Path(f"/tmp/.X11-unix/X{number}").exists() and time.time() < deadline:
            time.sleep(0.1)
        command = [sys.executable, "-m", "dexplorer", "-n", "5000", "--size", "1280x720"]
        window = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        start = time.time()
        try:
            while time.time() - start < minutes * 60 and window.poll() is None:
                second = round(time.time() - start)
                samples.append((second, rss_mb(window.pid)))
                if progress is not None:
                    progress(*samples[-1])
                if xdotool and len(samples) % 6 == 0:
                    key = keys[len(samples) // 6 % len(keys)]
                    subprocess.run([xdotool, "key", key], env=env, capture_output=True)
                time.sleep(sample_seconds)
            if window.poll() is not None:
                raise SystemExit(f"the window exited early with code {window.returncode}")
        finally:
            window.terminate()
            window.wait(30)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    return samples


def summary(samples: list[tuple[int, float]], warm_up: float) -> dict:
    """After ``warm_up`` (in the unit of the first column): the slope (KB per unit, by
    least squares), the first and last RSS, and the drift: the mean RSS of the second half
    against the first half's, in percent."""
    steady = [sample for sample in samples if sample[0] >= warm_up]
    x = np.array([s[0] for s in steady], float)
    y = np.array([s[1] for s in steady], float)
    slope = float(np.polyfit(x, y, 1)[0]) if len(steady) >= 2 else 0.0
    half = len(y) // 2
    drift = float((y[half:].mean() / y[:half].mean() - 1) * 100) if half else 0.0
    return {
        "slope_kb": slope * 1024,
        "first_mb": float(y[0]),
        "last_mb": float(y[-1]),
        "drift_percent": drift,
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=10_000, help="offscreen frames")
    p.add_argument("--change-every", type=int, default=50, help="frames between changes")
    p.add_argument("--n", type=int, default=5000, help="particles")
    p.add_argument("--window", action="store_true", help="the real window under Xvfb")
    p.add_argument("--minutes", type=float, default=30.0, help="how long the window runs")
    args = p.parse_args()
    os.environ.setdefault("RENDERCANVAS_FORCE_OFFSCREEN", "1")
    use_cpu_threads()  # as every entry point of the app does

    def show(at: int, rss: float) -> None:
        print(f"{at:>8d}  {rss:8.1f}", flush=True)

    if args.window:
        minutes = 1.0 if args.quick else args.minutes
        print(f"{'second':>8s}  {'RSS MB':>8s}")
        samples = soak_window(minutes, 5.0, show)
        unit, warm_up = "second", minutes * 60 * WARM_UP
    else:
        frames = 600 if args.quick else args.frames
        change_every = 10 if args.quick else args.change_every
        every = max(frames // 60, 10)
        print(f"{'frame':>8s}  {'RSS MB':>8s}")
        samples = soak_offscreen(frames, change_every, every, n=args.n, progress=show)
        unit, warm_up = "frame", change_every * (CYCLE + 1)
    result = summary(samples, warm_up)
    print()
    print_table(
        [{**result, "unit": unit, "samples": len(samples)}],
        ["samples", "unit", "first_mb", "last_mb", "drift_percent", "slope_kb"],
    )
    print(f"slope after warm-up: {result['slope_kb']:.2f} KB per {unit}")
    payload = {
        "mode": "window" if args.window else "offscreen",
        "unit": unit,
        "samples": samples,
        **result,
    }
    write_json(args.json, payload)


if __name__ == "__main__":
    main()
