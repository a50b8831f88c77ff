"""Frames per second of the full scene and of each layer alone, offscreen, against N and the
canvas size, with plain pygfx Points of the same particles as the baseline measured in the
same run.

    python benchmarks/bench_render.py --quick --json out/bench_render.json

Every frame moves t, so the engine interpolates, the density is recomputed and uploaded, and
the frame is drawn and read back (an offscreen canvas reads every frame back to memory; a
window presents it instead: see bench_frame.py for the frame as the window draws it). Where
the device draws the particles from steps of the run it holds (``dexplorer/engine/rows.py``),
the first frames upload those steps (``rows_mb_per_frame``), and the scene is measured again
once every step is there (``steps_held_fps``).
"""

from __future__ import annotations

import gc
import statistics
import time

import numpy as np
import pygfx as gfx
from common import parser, print_table, state_with, write_json
from rendercanvas.offscreen import RenderCanvas

from dexplorer.core.threads import use_cpu_threads
from dexplorer.engine.devices import choose_device
from dexplorer.headless import offscreen_app, parse_size, prepare_environment
from dexplorer.state import LAYERS, AppState


def frames_per_second(draw, frames: int) -> float:
    draw()  # warm-up: pipelines compile
    gc.collect()  # what earlier runs left must not be collected while timing
    start = time.perf_counter()
    for _ in range(frames):
        draw()
    return frames / (time.perf_counter() - start)


def scene_app(n: int, size: tuple[int, int], device, ui: bool, steps: int):
    state = state_with(n, steps)
    app = offscreen_app(state, size, device, ui=ui, fast=False)  # the window's render options
    app.settled = False  # as in the window, no frame waits for a layer computed aside
    app.engine.simulations[0].cache.wait()
    return app


def app_fps(app, frames: int, layers: tuple[str, ...] | None = None) -> float:
    """Frames per second of the app with ``layers`` shown (all the default ones if None)."""
    state = app.state
    if layers is not None:
        for name in LAYERS:
            state.look.visible[name] = name in layers
    if {"paths", "guess"} & set(layers or ()):
        state.selected = list(range(16))  # the guess layer's lines too

    def draw() -> None:
        state.set_time((state.t + 0.01) % 1.0)
        app.canvas.draw()

    return frames_per_second(draw, frames)


def off_and_on(app, frames: int, layer: str, repeats: int) -> list[dict]:
    """The default scene's frame rate with ``layer`` off and on, measured in turns
    ``repeats`` times (a co-runner's load weighs on both alike): median, lowest, highest."""
    default = tuple(name for name, shown in AppState().look.visible.items() if shown)
    measured: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for shown in (False, True):
            measured[shown].append(app_fps(app, frames, default + (layer,) * shown))
    return [
        {
            "layer": layer,
            "shown": shown,
            "fps_median": statistics.median(fps),
            "fps_min": min(fps),
            "fps_max": max(fps),
            "repeats": repeats,
        }
        for shown, fps in measured.items()
    ]


def plain_points_fps(n: int, size: tuple[int, int], frames: int) -> float:
    """Baseline: pygfx's own Points, round and translucent like the particles."""
    canvas = RenderCanvas(size=size, pixel_ratio=1)
    renderer = gfx.WgpuRenderer(canvas, pixel_ratio=1, ppaa="none")
    scene = gfx.Scene()
    scene.add(gfx.Background.from_color("#fff"))
    positions = np.zeros((n, 3), np.float32)
    positions[:, :2] = np.random.default_rng(0).standard_normal((n, 2))
    material = gfx.PointsMaterial(size=3, color=(1, 0.5, 0, 1), opacity=0.45, aa=True)
    material.alpha_mode = "blend"
    points = gfx.Points(gfx.Geometry(positions=positions), material)
    scene.add(points)
    camera = gfx.OrthographicCamera(7.6, 7.6)
    canvas.request_draw(lambda: renderer.render(scene, camera))

    def draw() -> None:
        points.geometry.positions.update_full()
        canvas.draw()

    fps = frames_per_second(draw, frames)
    canvas.close()  # its GPU objects must not weigh on the app measured next
    return fps


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", action="append", help="canvas size(s), default 1280x720 1920x1080")
    p.add_argument("--n", type=int, action="append", help="particle count(s) to measure")
    p.add_argument("--repeats", type=int, default=3, help="turns of each layer off and on")
    args = p.parse_args()
    prepare_environment()
    use_cpu_threads()  # torch on one thread, as every entry point of the app runs it
    device = choose_device(args.device)
    sizes = args.size or (["1280x720"] if args.quick else ["1280x720", "1920x1080"])
    counts = args.n or ([10_000, 50_000] if args.quick else [10_000, 50_000, 200_000, 1_000_000])
    frames = 20 if args.quick else 30
    rows, layer_rows, off_on_rows = [], [], []
    for size_text in sizes:
        size = parse_size(size_text)
        for n in counts:
            baseline = plain_points_fps(n, size, frames)
            steps = 20 if args.quick else 100
            app = scene_app(n, size, device, ui=True, steps=steps)
            uploaded = app.uploaded_rows
            fps = app_fps(app, frames)
            row = {
                "n": n,
                "size": size_text,
                "full_scene_fps": fps,
                "pygfx_points_fps": baseline,
                "full_vs_points": fps / baseline,
                "rows_mb_per_frame": (app.uploaded_rows - uploaded) / (frames + 1) / 2**20,
            }
            if app.uploaded_rows:  # drawn from steps on the device: once every step is there
                app_fps(app, steps + 1)
                uploaded = app.uploaded_rows
                row["steps_held_fps"] = fps = app_fps(app, frames)
                row["steps_held_mb_per_frame"] = (app.uploaded_rows - uploaded) / 2**20 / frames
            app.state.look.show_schedule = True  # the schedule window (P), off by default
            row["schedule_on_fps"] = app_fps(app, frames)
            row["schedule_off_fps"] = fps
            app.state.look.show_schedule = False
            rows.append(row)
            first = row["full_scene_fps"]
            print(f"{size_text} {n:>8}: full scene {first:.1f} fps, plain Points {baseline:.1f}")
            if n == 50_000 or not args.quick:
                app.state.look.show_ui = False
                empty = app_fps(app, frames, ())
                for layer in ("empty", *LAYERS):
                    shown = () if layer == "empty" else (layer,)
                    alone = empty if layer == "empty" else app_fps(app, frames, shown)
                    layer_rows.append(
                        {
                            "n": n,
                            "size": size_text,
                            "layer": layer,
                            "fps": alone,
                            "ms_over_empty": 1000 / alone - 1000 / empty,
                            "vs_points": alone / baseline,
                        }
                    )
                for row in off_and_on(app, frames, "streaks", args.repeats):
                    off_on_rows.append({"n": n, "size": size_text, **row})
            app.close()  # stop the threads computing aside (the model density's worker)
            app.canvas.close()  # its GPU objects must not weigh on the next app
            del app
            gc.collect()
    print()
    print_table(rows, list(rows[0]))
    print()
    if layer_rows:
        print("each layer alone, no UI (ms_over_empty: its cost per frame)")
        print_table(layer_rows, list(layer_rows[0]))
        print()
        print(
            "the default scene with a layer off and on, no UI (in turns: median, lowest, highest)"
        )
        print_table(off_on_rows, list(off_on_rows[0]))
    else:
        print("each layer alone: only at 50,000 particles with --quick (not among the sizes)")
    payload = {"benchmark": "render", "device": device.type, "results": rows, "layers": layer_rows}
    payload["off_and_on"] = off_on_rows
    for row in rows:
        if row["size"] == "1280x720":
            payload[f"full_scene_fps_{row['n'] // 1000}k"] = row["full_scene_fps"]
            payload[f"pygfx_points_fps_{row['n'] // 1000}k"] = row["pygfx_points_fps"]
    write_json(args.json, payload)


if __name__ == "__main__":
    main()
