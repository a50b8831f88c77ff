"""Frames per second of the full scene (engine update + upload + draw + UI), offscreen, against
N, with plain pygfx Points of the same particles as the baseline measured in the same run.

    python benchmarks/bench_render.py --quick --json out/bench_render.json
"""

from __future__ import annotations

import time

import numpy as np
import pygfx as gfx
from common import parser, print_table, write_json
from rendercanvas.offscreen import RenderCanvas

from dexplorer.engine.devices import choose_device
from dexplorer.headless import offscreen_app, parse_size, prepare_environment
from dexplorer.state import AppState


def frames_per_second(draw, frames: int) -> float:
    draw()  # warm-up: pipelines compile
    start = time.perf_counter()
    for _ in range(frames):
        draw()
    return frames / (time.perf_counter() - start)


def full_scene_fps(n: int, size: tuple[int, int], device, frames: int) -> tuple[float, float]:
    """(fps, trajectory particle-steps per second) of the app with every default layer."""
    state = AppState()
    state.change(n=n, steps=100)
    app = offscreen_app(state, size, device, ui=True)
    app.simulation.cache.wait()
    seconds = app.simulation.cache.state.seconds
    throughput = n * 100 / seconds

    def draw() -> None:
        state.set_time((state.t + 0.01) % 1.0)
        app.canvas.draw()

    return frames_per_second(draw, frames), throughput


def plain_points_fps(n: int, size: tuple[int, int], frames: int) -> float:
    canvas = RenderCanvas(size=size, pixel_ratio=1)
    renderer = gfx.WgpuRenderer(canvas, pixel_ratio=1, ppaa="none")
    scene = gfx.Scene()
    scene.add(gfx.Background.from_color("#fff"))
    positions = np.zeros((n, 3), np.float32)
    positions[:, :2] = np.random.default_rng(0).standard_normal((n, 2))
    points = gfx.Points(
        gfx.Geometry(positions=positions), gfx.PointsMaterial(size=3, color=(1, 0.5, 0, 0.45))
    )
    scene.add(points)
    camera = gfx.OrthographicCamera(7.6, 7.6)
    canvas.request_draw(lambda: renderer.render(scene, camera))

    def draw() -> None:
        points.geometry.positions.update_full()
        canvas.draw()

    return frames_per_second(draw, frames)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", default="1280x720")
    args = p.parse_args()
    prepare_environment()
    device = choose_device(args.device)
    size = parse_size(args.size)
    sizes = [10_000, 50_000] if args.quick else [10_000, 50_000, 200_000, 1_000_000]
    frames = 10 if args.quick else 40
    rows = []
    for n in sizes:
        baseline = plain_points_fps(n, size, frames)
        fps, throughput = full_scene_fps(n, size, device, frames)
        rows.append(
            {
                "n": n,
                "size": args.size,
                "full_scene_fps": fps,
                "pygfx_points_fps": baseline,
                "full_vs_points": fps / baseline,
                "engine_particle_steps_per_s": throughput,
            }
        )
        print(f"{n:>8}: full scene {fps:.1f} fps, plain Points {baseline:.1f} fps", flush=True)
    print()
    print_table(rows, list(rows[0]))
    payload = {"benchmark": "render", "device": device.type, "results": rows}
    for row in rows:
        payload[f"full_scene_fps_{row['n'] // 1000}k"] = row["full_scene_fps"]
        payload[f"pygfx_points_fps_{row['n'] // 1000}k"] = row["pygfx_points_fps"]
    write_json(args.json, payload)


if __name__ == "__main__":
    main()
