"""The streaks layer: tracers advected through the velocity grid (checked against closed
forms), respawned inside the domain, drawn along the flow, in every panel, in sessions and
videos, and costing nothing while off."""

import itertools

import numpy as np
import pytest
import torch
from test_panels import comparison_app, ink, panel_image, show
from test_scene import _adapter_problem

from dexplorer.engine.grids import grid_points
from dexplorer.engine.streaks import LIFE, TICK, TRAIL, Streaks, advect
from dexplorer.scene.streaks import tracers_for
from dexplorer.state import LAYERS, AppState

EXTENT = 3.5


def sampled(function, count=33, extent=EXTENT):
    """``function`` (n, 2) -> (n, 2) on the grid layout of the engine, (G, G, 2)."""
    points = grid_points(count, extent).numpy().astype(np.float64)
    return function(points).reshape(count, count, 2)


class LinearField:
    """v(x, t) = A x + b: a Field's velocity, enough for the streaks."""

    def __init__(self, matrix, offset=(0.0, 0.0)):
        self.matrix = torch.tensor(matrix, dtype=torch.float32)
        self.offset = torch.tensor(offset, dtype=torch.float32)

    def velocity(self, x, t):
        return x @ self.matrix.T + self.offset


def test_a_constant_field_moves_tracers_in_straight_lines():
    velocity = np.array([0.5, -0.25])
    grid = sampled(lambda p: np.broadcast_to(velocity, p.shape))
    start = np.random.default_rng(0).uniform(-2, 2, (200, 2))
    after = advect(start, grid, EXTENT, 0.01, steps=40)
    np.testing.assert_allclose(after, start + 40 * 0.01 * velocity, atol=1e-9)


def test_a_rotation_turns_tracers_by_omega_k_dt():
    """v = omega (-y, x): bilinear lookup is exact for a linear field, and the midpoint rule
    rotates by omega k dt to third order per step."""
    omega, dt, steps = 1.3, 0.02, 80
    grid = sampled(lambda p: omega * np.stack([-p[:, 1], p[:, 0]], axis=1))
    start = np.random.default_rng(1).uniform(-1.5, 1.5, (200, 2))
    after = advect(start, grid, EXTENT, dt, steps)
    angle = omega * dt * steps
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    np.testing.assert_allclose(after, start @ rotation.T, atol=1e-3)


def test_tracers_that_leave_or_age_out_start_again_inside_the_domain():
    """An outward field v = x pushes every tracer out within a life: each comes back at a
    fresh random point inside, with no trail across the domain."""
    streaks = Streaks(count=400, extent=EXTENT, resolution=17)
    streaks.follow(LinearField([[1.0, 0.0], [0.0, 1.0]]), 0.5, "outward")
    heads = []
    for _ in range(3 * LIFE[1]):
        streaks.advance(TICK)
        heads.append(streaks.trails[:, 0].copy())
        drawn = streaks.trails[np.isfinite(streaks.trails).all(axis=2)]
        assert np.abs(drawn).max() <= EXTENT
    heads = np.array(heads)
    assert np.isfinite(heads).all()
    jumps = np.linalg.norm(np.diff(heads, axis=0), axis=2)
    assert (jumps > 0.5).sum(axis=0).min() >= 2  # every tracer started again, twice at least
    assert streaks.ticks == 3 * LIFE[1] + TRAIL  # the first grid ran a trail's length at once


def test_a_new_t_is_evaluated_in_the_background_and_taken_when_ready():
    calls = []

    class Recording(LinearField):
        def velocity(self, x, t):
            calls.append(float(t))
            return super().velocity(x, t) * (1 + float(t))

    streaks = Streaks(count=50, extent=EXTENT, resolution=9)
    field = Recording([[0.0, -1.0], [1.0, 0.0]])
    streaks.follow(field, 0.25, "rotation")
    first = streaks.grid
    assert calls == [0.25]
    streaks.follow(field, 0.75, "rotation")
    streaks.wait()
    assert calls == [0.25, 0.75]
    np.testing.assert_allclose(streaks.grid, first * 1.75 / 1.25, rtol=1e-6)
    streaks.follow(field, 0.75, "rotation")  # the same t: nothing evaluated again
    streaks.wait()
    assert calls == [0.25, 0.75]


def test_a_non_finite_field_is_said_and_its_cells_have_no_streaks():
    class Broken(LinearField):
        def velocity(self, x, t):
            v = super().velocity(x, t)
            return torch.where(x[:, :1] > 0, torch.nan, v)

    streaks = Streaks(count=300, extent=EXTENT, resolution=9)
    streaks.follow(Broken([[0.0, 0.0], [0.0, 0.0]], (0.0, 1.0)), 0.5, "half")
    assert streaks.notice.startswith("the velocity is not finite at 36 of 81 grid points")
    for _ in range(5):
        streaks.advance(TICK)
    assert np.isfinite(streaks.trails[:, 0]).all()


needs_adapter = pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())


@needs_adapter
def test_a_field_along_x_draws_horizontal_trails():
    """One cloud of points draws the trails: for v = (1, 0) each trail's pixels form a segment
    many times wider than tall."""
    import pygfx as gfx
    from rendercanvas.offscreen import RenderCanvas
    from scipy import ndimage

    from dexplorer.scene.renderer import Renderer
    from dexplorer.scene.streaks import StreaksLayer

    streaks = Streaks(count=40, extent=EXTENT, resolution=9)
    streaks.follow(LinearField([[0.0, 0.0], [0.0, 0.0]], (1.0, 0.0)), 0.5, "along x")
    streaks.age[:] = LIFE[0] // 2  # every tracer fully visible
    canvas = RenderCanvas(size=(300, 300), pixel_ratio=1)
    renderer = Renderer(canvas, pixel_ratio=1, ppaa="none")
    scene = gfx.Scene()
    scene.add(gfx.Background.from_color("#fff"))
    layer = StreaksLayer((0.0, 0.0, 0.0))
    layer.update(streaks.trails, streaks.fade)
    scene.add(*layer.objects)
    camera = gfx.OrthographicCamera(2 * EXTENT, 2 * EXTENT)
    canvas.request_draw(lambda: renderer.render(scene, camera))
    image = np.asarray(canvas.draw())[..., :3].astype(int)
    canvas.close()
    labels, count = ndimage.label((255 - image.min(axis=2)) > 40)
    assert count >= 20
    boxes = ndimage.find_objects(labels)
    widths = np.array([box[1].stop - box[1].start for box in boxes])
    heights = np.array([box[0].stop - box[0].start for box in boxes])
    assert np.median(widths) >= 8 and np.median(widths / heights) > 3, (widths, heights)


@needs_adapter
def test_off_draws_and_computes_nothing_and_on_draws_in_every_panel():
    app = comparison_app(2)
    try:
        blank = show(app, set())
        for sim, panel in zip(app.engine.simulations, app.view.panels, strict=True):
            assert sim._streaks is None  # nothing evaluated, no tracer made
            assert not panel.streaks.points.visible
        image = show(app, {"streaks"})
        for index, panel in enumerate(app.view.panels):
            assert panel.streaks.points.visible
            drawn = ink(panel_image(app, image, index)) & ~ink(panel_image(app, blank, index))
            assert drawn.sum() > 100, (index, drawn.sum())
            drawn_points = tracers_for(panel.rect) * (2 * TRAIL - 1)  # as many as suit its size
            assert panel.streaks.positions.nitems == drawn_points
        app.frame_seconds = 2 * TICK  # the next frame moves the tracers two steps
        moved = app.screenshot()[..., :3].astype(int)
        assert np.abs(moved - image).max(axis=2).astype(bool).sum() > 50
        app.state.look.visible["streaks"] = False
        ticks = [sim._streaks.ticks for sim in app.engine.simulations]
        hidden = app.screenshot()[..., :3].astype(int)
        assert [sim._streaks.ticks for sim in app.engine.simulations] == ticks
        assert np.array_equal(hidden, blank)
    finally:
        app.close()


def test_the_explain_window_says_what_the_streaks_show():
    from dexplorer.ui.explain import explain

    text = explain("flow", "euler", ["particles", "streaks"])
    assert "- streaks: tracers carried by the velocity at this t" in text
    assert "streaks" not in explain("flow", "euler", ["particles"])


def test_sessions_keep_the_streaks(tmp_path):
    from dexplorer.session import apply_session, save_session

    state = AppState()
    assert not state.look.visible["streaks"] and "streaks" in LAYERS
    state.look.visible["streaks"] = True
    save_session(state, tmp_path / "streaks.toml")
    reopened = AppState()
    assert apply_session(reopened, tmp_path / "streaks.toml"), reopened.message
    assert reopened.look.visible["streaks"]


@needs_adapter
def test_a_video_with_streaks_shows_them_moving(tmp_path):
    import imageio.v3 as iio

    from dexplorer.headless import render_video

    state = AppState()
    assert state.change(n=300, steps=4, dataset="moons", model="exact")
    for name in LAYERS:
        state.look.visible[name] = name == "streaks"
    out = tmp_path / "streaks.gif"
    assert render_video(state, (200, 160), "cpu", out, 0.3, 10) == 3
    lower = iio.imread(out)[:, 80:, :, :3].astype(int)  # below the time label
    assert ink(lower[0]).sum() > 100
    for before, after in itertools.pairwise(lower):
        assert (np.abs(after - before).max(axis=2) > 30).sum() > 50
