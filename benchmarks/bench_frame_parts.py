"""Each part of a frame against N (50k, 100k, 200k particles by default), to find the part
whose cost grows faster than N: the engine's calls timed directly, the scene's parts by
drawing the app with one layer at a time, and the whole frame with the trajectories
complete and while they are still being computed.

    python benchmarks/bench_frame_parts.py --quick --json out/bench_frame_parts.json

Engine parts (torch, timed directly, t moving): ``interpolate`` (positions at t into the
shared array), ``histogram`` (the density's cell counts), ``blur`` (its two matrix products
and normalisation), ``density`` (both, as the app calls them).

Scene parts (the app's frame on an offscreen canvas, no UI unless said, until the device has
finished; the image read-back of the offscreen canvas is timed apart, as ``readback``):
``empty`` (no layer), ``particles held`` (the particles alone, t fixed: the splat and its
resolve, nothing uploaded), ``particles moving`` (t moving: + interpolation and upload),
``density held`` / ``density moving`` (the density alone), ``full`` (the default layers,
t moving), ``full + ui`` (the window's frame), ``full + ui, computing`` (the same while the
trajectories are computed in the background, on the same cores), ``full + ui, torch N
threads`` (torch with a thread per core instead of the app's one, see
dexplorer/core/threads.py). ``pygfx points`` is pygfx's own Points in a scene of their own
(the baseline of bench_render.py).

Passes over the whole canvas (a bare renderer at the size, one tiny quad drawn, no N):
``pass: clear`` (the first render of a frame clears its targets: colour, depth, and pygfx's
picking target unless said), ``pass: + Background`` (a gfx.Background instead of the clear
colour), ``flush: pygfx filter`` (pygfx's flush, a filtering pass from its colour texture
onto the canvas), ``flush: drawn in place`` (dexplorer's renderer, which draws into the
canvas's texture and has nothing left to do), ``ui: ImGui`` (one small ImGui window drawn over
the frame).

Each part has three figures: wall ms, CPU ms of the whole process (every thread), and
``device`` ms, the wall time inside wgpu's submit and poll calls, where lavapipe does the
device's work.

The ratios ``x2`` compare each part with the N before it: 2.0 for a part linear in N when N
doubles. Every part is measured ``--repeats`` times (interleaved over N); the table gives the
median and the spread (max - min over the repeats). The machine's load average is printed
with every repeat: figures taken under load are slower and noisier.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable
from types import SimpleNamespace

import pygfx as gfx
import torch
from bench_frame import device_wait
from bench_render import plain_points_fps
from common import parser, print_table, state_with, write_json
from wgpu.backends.wgpu_native import _api

from dexplorer.core.threads import use_cpu_threads
from dexplorer.engine.devices import choose_device
from dexplorer.headless import offscreen_app, parse_size, prepare_environment
from dexplorer.scene.page import paint_page
from dexplorer.scene.renderer import Renderer
from dexplorer.state import LAYERS, AppState

DEFAULT_LAYERS = ("particles", "density", "paths", "data")


Timing = tuple[float, float, float]
"""Median milliseconds of one call: wall time, CPU time of the whole process (every thread:
lavapipe's, torch's), which other processes on the cores disturb less, and the wall time
spent inside wgpu's submit and poll calls (on lavapipe the device works there)."""

DEVICE_CALLS = ("wgpuQueueSubmit", "wgpuDevicePoll")


class DeviceClock:
    """Adds up the wall time spent in wgpu-native's :data:`DEVICE_CALLS`."""

    seconds = 0.0

    @classmethod
    def install(cls) -> None:
        for name in DEVICE_CALLS:
            call = getattr(_api.libf, name)

            def timed(*args: object, call: Callable = call) -> object:
                start = time.perf_counter()
                try:
                    return call(*args)
                finally:
                    cls.seconds += time.perf_counter() - start

            setattr(_api.libf, name, timed)


class Clock:
    """Wall, process CPU and device time from :meth:`start` to :meth:`stop`, kept."""

    def __init__(self) -> None:
        self.times: list[tuple[float, float, float]] = []

    def start(self) -> None:
        self._start = time.perf_counter(), time.process_time(), DeviceClock.seconds

    def stop(self) -> None:
        now = time.perf_counter(), time.process_time(), DeviceClock.seconds
        self.times.append(tuple(b - a for a, b in zip(self._start, now, strict=True)))

    def median(self, skip: int = 0) -> Timing:
        kept = self.times[skip:]
        return tuple(1000 * statistics.median(t[i] for t in kept) for i in range(3))


def median_ms(function: Callable[[], object], calls: int) -> Timing:
    """The median :data:`Timing` of ``calls`` calls, after one warm-up call."""
    function()
    clock = Clock()
    for _ in range(calls):
        clock.start()
        function()
        clock.stop()
    return clock.median()


class Stepper:
    """Moves t by a small step each call (so every frame interpolates), or holds it."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def __call__(self, moving: bool) -> None:
        state = self.state
        state.playing = False
        if moving:
            state.set_time((state.t + 0.013) % 1.0)


def engine_parts(app, frames: int, stepper: Stepper) -> dict[str, Timing]:
    """The engine's calls of one frame, timed directly."""
    sim = app.engine.simulations[0]
    grid = sim.density_grid
    positions = sim.positions.target
    r = grid.resolution
    counts = torch.zeros(r * r + 1)

    def interpolate() -> None:
        stepper(True)
        sim.update_positions(app.state.t)

    def histogram() -> torch.Tensor:
        cells = ((positions + grid.extent) * (r / (2 * grid.extent))).floor().long()
        inside = ((cells >= 0) & (cells < r)).all(dim=1)
        index = torch.where(inside, cells[:, 1] * r + cells[:, 0], r * r)
        one = torch.ones(()).expand(len(index))
        counts.zero_()
        return counts.index_add_(0, index, one)[: r * r].view(r, r)

    image = histogram()

    def blur() -> None:
        blurred = grid.blur @ image @ grid.blur.T
        sim.density.target.copy_(blurred / blurred.max().clamp_min(1e-12))

    return {
        "interpolate": median_ms(interpolate, frames),
        "histogram": median_ms(histogram, frames),
        "blur": median_ms(blur, frames),
        "density": median_ms(sim.update_density, frames),
    }


def scene_ms(app, frames: int, stepper: Stepper, moving: bool) -> tuple[Timing, Timing]:
    """The median :data:`Timing` of the app's frame until the device is done, and of the
    offscreen canvas's read-back after it."""
    frame_clock, total_clock = Clock(), Clock()

    def frame() -> None:
        frame_clock.start()
        app.draw()
        device_wait(app)
        frame_clock.stop()

    app.canvas.request_draw(frame)
    for _ in range(frames + 2):
        stepper(moving)
        total_clock.start()
        app.canvas.draw()
        total_clock.stop()
    app.canvas.request_draw(app.draw)
    skip = 2  # the first frames compile pipelines
    pairs = zip(total_clock.times, frame_clock.times, strict=True)
    readback = Clock()
    readback.times = [tuple(t - f for t, f in zip(*pair, strict=True)) for pair in pairs]
    return frame_clock.median(skip), readback.median(skip)


def show(app, layers: tuple[str, ...], ui: bool) -> None:
    for name in LAYERS:
        app.state.look.visible[name] = name in layers
    app.state.look.show_ui = ui


def scene_parts(app, frames: int, stepper: Stepper) -> dict[str, Timing]:
    """The scene with one layer at a time, held and moving, then the full frame."""
    parts = {}
    cases = [
        ("empty", (), False, False),
        ("particles held", ("particles",), False, False),
        ("particles moving", ("particles",), False, True),
        ("density held", ("density",), False, False),
        ("density moving", ("density",), False, True),
        ("full", DEFAULT_LAYERS, False, True),
        ("full + ui", DEFAULT_LAYERS, True, True),
    ]
    for label, layers, ui, moving in cases:
        show(app, layers, ui)
        parts[label], readback = scene_ms(app, frames, stepper, moving)
        if label == "full + ui":
            parts["readback"] = readback
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    parts[f"full + ui, torch {torch.get_num_threads()} threads"] = scene_ms(
        app, frames, stepper, True
    )[0]
    torch.set_num_threads(threads)
    return parts


def computing_ms(app, frames: int, stepper: Stepper) -> tuple[Timing, int]:
    """The window's frame while the trajectories are recomputed (another seed): its median
    :data:`Timing` over the frames drawn before they are done, and how many there were."""
    app.state.change(seed=app.state.data.seed + 1)
    show(app, DEFAULT_LAYERS, True)
    app.draw()  # starts the run
    sim = app.engine.simulations[0]
    clock = Clock()
    while not sim.cache.state.done and len(clock.times) < frames:
        stepper(True)
        clock.start()
        app.draw()
        device_wait(app)
        clock.stop()
    app.engine.wait()
    if not clock.times:
        return (float("nan"),) * 3, 0
    return clock.median(), len(clock.times)


def _pass_ms(
    size: tuple[int, int], frames: int, renderer_class: type, page: bool, background: bool
) -> dict[str, Timing]:
    """The median :data:`Timing` of a bare renderer's render, flush and (with ``page``, the
    app's blender) ImGui over it, each until the device is done."""
    from imgui_bundle import imgui
    from rendercanvas.offscreen import RenderCanvas
    from wgpu.utils.imgui import ImguiRenderer

    canvas = RenderCanvas(size=size, pixel_ratio=1)
    renderer = renderer_class(canvas, pixel_ratio=1, ppaa="none")
    if page:
        paint_page(renderer, (1.0, 1.0, 1.0))  # the app's blender: no picking target
    scene = gfx.Scene()
    scene.add(gfx.Mesh(gfx.plane_geometry(0.1, 0.1), gfx.MeshBasicMaterial(pick_write=False)))
    if background:
        scene.add(gfx.Background.from_color("#fff"))
    camera = gfx.NDCCamera()
    ui = ImguiRenderer(renderer.device, canvas) if page else None

    def gui() -> None:
        imgui.begin("controls")
        imgui.text("a window over the frame")
        imgui.end()

    if ui is not None:
        ui.set_gui(gui)
    fence = SimpleNamespace(renderer=renderer)
    calls = {"render": lambda: renderer.render(scene, camera, flush=False)}
    calls["flush"] = renderer.flush
    if ui is not None:
        calls["ui"] = ui.render
    clocks = {name: Clock() for name in calls}

    def frame() -> None:
        for name, call in calls.items():
            device_wait(fence)
            clocks[name].start()
            call()
            device_wait(fence)
            clocks[name].stop()

    canvas.request_draw(frame)
    for _ in range(frames + 2):
        canvas.draw()
    canvas.close()
    return {name: clock.median(2) for name, clock in clocks.items()}


def pass_parts(size: tuple[int, int], frames: int) -> dict[str, Timing]:
    """The passes over the whole canvas, on a bare renderer (see the module's docstring)."""
    pygfx = _pass_ms(size, frames, gfx.WgpuRenderer, page=False, background=False)
    background = _pass_ms(size, frames, gfx.WgpuRenderer, page=False, background=True)
    ours = _pass_ms(size, frames, Renderer, page=True, background=False)
    return {
        "pass: clear, with picking target": pygfx["render"],
        "pass: clear": ours["render"],
        "pass: + Background": background["render"],
        "flush: pygfx filter": pygfx["flush"],
        "flush: drawn in place": ours["flush"],
        "ui: ImGui": ours["ui"],
    }


def measure(n: int, size: tuple[int, int], device, frames: int, steps: int) -> dict:
    """Every part at ``n`` particles: {part: Timing}, and "frames computing"."""
    state = state_with(n, steps)
    app = offscreen_app(state, size, device, ui=True, fast=False)  # the window's options
    app.engine.wait()
    stepper = Stepper(state)
    gc.collect()
    try:
        show(app, DEFAULT_LAYERS, True)
        scene_ms(app, 2, stepper, True)  # pipelines compiled, positions and density filled
        parts: dict = engine_parts(app, frames, stepper)
        parts.update(scene_parts(app, frames, stepper))
        computing, count = computing_ms(app, frames, stepper)
        parts["full + ui, computing"] = computing
    finally:
        app.close()
        app.canvas.close()
        del app
        gc.collect()
    parts["pygfx points"] = (1000 / plain_points_fps(n, size, frames), *(float("nan"),) * 2)
    parts.update(pass_parts(size, frames))
    return {"parts": parts, "frames computing": count}


def load() -> float:
    return os.getloadavg()[0]


def table(counts: list[int], measured: dict[int, list[dict]]) -> list[dict]:
    """A row per part: median wall and CPU ms per N, the spread of the wall times over the
    repeats, and the ratio of each to the N before."""
    rows = []
    for label in measured[counts[0]][0]["parts"]:
        row: dict = {"part": label}
        previous = None
        for n in counts:
            timings = [m["parts"][label] for m in measured[n]]
            wall = statistics.median(t[0] for t in timings)
            cpu = statistics.median(t[1] for t in timings)
            k = f"{n // 1000}k"
            row[f"{k}_ms"], row[f"{k}_cpu"] = wall, cpu
            row[f"{k}_device"] = statistics.median(t[2] for t in timings)
            if len(timings) > 1:
                row[f"{k}_spread"] = max(t[0] for t in timings) - min(t[0] for t in timings)
            if previous is not None:
                row[f"{k}_x2"] = wall / previous[0] if previous[0] > 0 else None
                row[f"{k}_cpu_x2"] = cpu / previous[1] if previous[1] > 0 else None
            previous = wall, cpu
        rows.append(row)
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", default="1280x720")
    p.add_argument("--n", type=int, action="append", help="particle counts (default 50k 100k 200k)")
    p.add_argument("--repeats", type=int, help="measurements of each N (default 1 quick, else 3)")
    args = p.parse_args()
    prepare_environment()
    use_cpu_threads()  # as every entry point of the app does
    DeviceClock.install()
    device = choose_device(args.device)
    size = parse_size(args.size)
    counts = sorted(args.n or [50_000, 100_000, 200_000])
    repeats = args.repeats or (1 if args.quick else 3)
    frames = 6 if args.quick else 15
    steps = 20 if args.quick else 100
    measured: dict[int, list[dict]] = {n: [] for n in counts}
    loads = []
    for repeat in range(repeats):
        for n in counts:
            before = load()
            result = measure(n, size, device, frames, steps)
            loads.append((n, round(before, 1), round(load(), 1)))
            measured[n].append(result)
            wall, cpu, _ = result["parts"]["full + ui"]
            print(
                f"repeat {repeat + 1}, {n:>7}: window frame {wall:.0f} ms ({cpu:.0f} ms CPU), "
                f"{result['frames computing']} frames while computing "
                f"(load average {before:.1f} -> {load():.1f})",
                flush=True,
            )
    rows = table(counts, measured)
    print()
    print(f"ms per part at {args.size}: wall and CPU (all threads), median of {repeats} repeat(s)")
    print_table(rows, list(dict.fromkeys(key for row in rows for key in row)))
    print(f"load average (1 min) before and after each N: {loads}")
    payload = {
        "benchmark": "frame_parts",
        "device": device.type,
        "size": args.size,
        "load_average": loads,
        "results": rows,
    }
    write_json(args.json, payload)


if __name__ == "__main__":
    main()
