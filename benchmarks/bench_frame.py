"""The whole frame as the window draws it, while playing: engine (interpolation, density),
upload, scene, UI, and the wait for the device, with each part timed, against N.

    python benchmarks/bench_frame.py --quick --json out/bench_frame.json

The app runs on an offscreen canvas with the controls shown and t advancing by the real time
between frames, as in the window. An offscreen frame ends by reading the image back to memory,
which a window does not do (it presents instead); that read-back is timed on its own and left
out of "frame", so "frame" is what a window would spend ("frame_cpu" is the CPU time of the
whole process in it, every thread: lavapipe's and torch's, which other processes on the
cores disturb less than the wall time). The baseline, measured in the same
run, is the same frame with plain pygfx Points for the particles.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pygfx as gfx
from common import parser, print_table, state_with, write_json

from dexplorer.core.threads import use_cpu_threads
from dexplorer.engine.devices import choose_device
from dexplorer.headless import offscreen_app, parse_size, prepare_environment
from dexplorer.scene.particles import ParticlesLayer


class PygfxPointsLayer(ParticlesLayer):
    """The baseline: the particles drawn as pygfx Points (quads on the rasterizer), from
    (n, 3) positions (pygfx's layout) filled from the engine's (n, 2) array each frame."""

    def __init__(self, positions: np.ndarray, size: float = 4.0, opacity=0.5):
        super().__init__(positions, size, opacity)
        material = gfx.PointsMaterial(size=size, color=(1, 0.5, 0, 1), aa=True, opacity=opacity)
        material.alpha_mode = "blend"
        self.xyz = gfx.Buffer(np.zeros((len(positions), 3), np.float32))
        geometry = gfx.Geometry(positions=self.xyz)
        self.points = gfx.Points(geometry, material, render_order=3)

    def update(self) -> None:
        self.xyz.data[:, :2] = self.positions.data
        self.xyz.update_full()

    def set_colors(self, *args: object, **kwargs: object) -> None:
        """Uniform orange: the baseline measures drawing, not colouring."""

    def set_style(self, size: float, opacity: float) -> None:
        self.points.material.size = size
        self.points.material.opacity = opacity


class Timer:
    """Wraps the app's steps and records how long each took in each frame."""

    def __init__(self, app) -> None:
        self.app = app
        self.parts: dict[str, list[float]] = {}
        self._wrap(app, "update", "engine + layers")
        self._wrap(app.view, "render", "scene")
        if app.ui is not None:
            self._wrap(app.ui, "render", "ui")

    def _wrap(self, owner: object, name: str, label: str) -> None:
        function = getattr(owner, name)
        times = self.parts.setdefault(label, [])

        def timed(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            result = function(*args, **kwargs)
            times.append(time.perf_counter() - start)
            return result

        setattr(owner, name, timed)


def device_wait(app) -> float:
    """Seconds until the device has finished the work submitted so far (a 4-byte read)."""
    device = app.renderer.device
    buffer = getattr(app, "_bench_fence", None)
    if buffer is None:
        import wgpu

        usage = wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
        buffer = app._bench_fence = device.create_buffer(size=4, usage=usage)
    start = time.perf_counter()
    device.queue.read_buffer(buffer)
    return time.perf_counter() - start


def measure(n: int, size: tuple[int, int], device, frames: int, baseline: bool) -> dict:
    state = state_with(n, 20)
    # The window's render options: pygfx's defaults on a GPU, 1x without antialiasing on a
    # CPU adapter (App chooses).
    app = offscreen_app(state, size, device, ui=True, fast=False)
    app.engine.simulations[0].cache.wait()
    if baseline:
        panel = app.view.panels[0]
        panel.particles = PygfxPointsLayer(app.engine.simulations[0].positions.array, 3.0, 0.45)
        panel._swap("particles", panel.particles)
    timer = Timer(app)
    frame_times, cpu_times, waits = [], [], []

    def frame() -> None:
        start, cpu = time.perf_counter(), time.process_time()
        app.draw()  # update + scene + UI, submitted
        waits.append(device_wait(app))
        frame_times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu)

    app.canvas.request_draw(frame)
    state.playing = True
    readbacks = []
    for _ in range(frames + 2):
        start = time.perf_counter()
        app.canvas.draw()  # the offscreen canvas reads the image back after the frame
        readbacks.append(time.perf_counter() - start - frame_times[-1])
    skip = slice(2, None)  # the first frames compile pipelines
    totals, waits, readbacks = frame_times[skip], waits[skip], readbacks[skip]
    row = {"n": n, "size": f"{size[0]}x{size[1]}", "points": "pygfx" if baseline else "splat"}
    row["frame_ms"] = 1000 * statistics.median(totals)
    row["fps"] = 1000 / row["frame_ms"]
    row["frame_cpu_ms"] = 1000 * statistics.median(cpu_times[skip])
    for label, times in timer.parts.items():
        row[f"{label}_ms"] = 1000 * statistics.median(times[skip])
    row["device_wait_ms"] = 1000 * statistics.median(waits)
    row["offscreen_readback_ms"] = 1000 * statistics.median(readbacks)
    return row


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", default="1280x720")
    p.add_argument("--n", type=int, action="append", help="particle count(s) to measure")
    p.add_argument("--no-baseline", action="store_true", help="without the pygfx Points frame")
    args = p.parse_args()
    prepare_environment()
    use_cpu_threads()  # torch on one thread, as every entry point of the app runs it
    device = choose_device(args.device)
    size = parse_size(args.size)
    counts = args.n or ([50_000] if args.quick else [10_000, 50_000, 200_000, 1_000_000])
    frames = 10 if args.quick else 30
    rows = []
    for n in counts:
        ours = measure(n, size, device, frames, baseline=False)
        if args.no_baseline:
            rows.append(ours)
            print(f"{n:>8}: {ours['fps']:.1f} fps", flush=True)
            continue
        base = measure(n, size, device, frames, baseline=True)
        ours["vs_pygfx_points"] = ours["fps"] / base["fps"]
        rows += [base, ours]
        print(f"{n:>8}: {ours['fps']:.1f} fps (pygfx Points: {base['fps']:.1f} fps)", flush=True)
    print()
    print_table(rows, list(dict.fromkeys(key for row in rows for key in row)))
    payload = {"benchmark": "frame", "device": device.type, "size": args.size, "results": rows}
    for row in rows:
        if row["points"] == "splat":
            payload[f"frame_fps_{row['n'] // 1000}k"] = row["fps"]
    write_json(args.json, payload)


if __name__ == "__main__":
    main()
