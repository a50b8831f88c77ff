"""Rendered frames on the CPU (lavapipe): pixels checked against what the scene should show."""

import numpy as np
import pytest

from dexplorer.state import LAYERS, AppState

pytest.importorskip("pygfx")


def _adapter_problem() -> str:
    import wgpu

    try:
        wgpu.gpu.request_adapter_sync()
    except Exception as error:  # the message says what is missing
        return f"no GPU adapter (install mesa-vulkan-drivers for lavapipe): {error}"
    return ""


pytestmark = pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())

SIZE = (360, 240)


@pytest.fixture(scope="module")
def app():
    from dexplorer.headless import offscreen_app

    state = AppState()
    assert state.change(n=3000, steps=30, dataset="smiley", model="flow", sampler="heun")
    app = offscreen_app(state, SIZE, "cpu", ui=False)
    app.engine.simulations[0].cache.wait()
    app.view.time_label.text.visible = False  # its ink would count as particles
    return app


def render(app, t, layers, selected=()):
    for name in LAYERS:
        app.state.look.visible[name] = name in layers
    app.state.selected = list(selected)
    app.state.set_time(t)
    return app.screenshot()[..., :3].astype(int)


def main_mask(app, image, threshold=30):
    """Pixels of the main panel that differ from the white page."""
    x, y, w, h = (round(v) for v in app.view.layout.panels[0])
    ink = 255 - image.min(axis=2)
    mask = np.zeros(image.shape[:2], bool)
    mask[y : y + h, x : x + w] = ink[y : y + h, x : x + w] > threshold
    return mask


def world_of(app, mask):
    rows, cols = np.nonzero(mask)
    return np.array(
        [app.view.screen_to_world(c + 0.5, r + 0.5) for r, c in zip(rows, cols, strict=True)]
    )


def dilate(mask, radius):
    out = mask.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_particles_at_t0_look_like_the_standard_gaussian(app):
    """Covered pixels of N dots of area a drawn from N(0, I) follow the weight
    1 - exp(-N a p(x)) (dots pile up near the centre): the measured centroid is 0 and the
    spread matches that weight's, computed on the same pixels, within 12 %."""
    mask = main_mask(app, render(app, 0.0, {"particles"}))
    points = world_of(app, mask)
    assert len(points) > 500
    assert np.abs(points.mean(0)).max() < 0.15
    x, y, w, h = (round(v) for v in app.view.layout.panels[0])
    rows, cols = np.mgrid[y : y + h, x : x + w]
    world = world_of(
        app,
        np.isin(np.arange(mask.size).reshape(mask.shape), (rows * mask.shape[1] + cols).ravel()),
    )
    pixel = abs(app.view.screen_to_world(1, 0)[0] - app.view.screen_to_world(0, 0)[0])
    area = np.pi * (app.state.look.point_size / 2) ** 2 * pixel**2
    density = np.exp(-0.5 * (world**2).sum(1)) / (2 * np.pi)
    weight = 1 - np.exp(-app.state.data.n * area * density)
    expected = np.sqrt((weight[:, None] * world**2).sum(0) / weight.sum())
    measured = points.std(0)
    assert np.all(np.abs(measured / expected - 1) < 0.12), (measured, expected)


def test_particles_at_t1_cover_the_smiley(app):
    """The data's rendered mask and the particles' mask, both dilated by 2 px to close the
    gaps between separately drawn dots, overlap with IoU > 0.5 at t = 1; at t = 0 (noise)
    they overlap far less. Measured: about 0.6 at t = 1 and 0.2 at t = 0."""
    data = dilate(main_mask(app, render(app, 1.0, {"data"}), 10), 2)
    at_one = dilate(main_mask(app, render(app, 1.0, {"particles"})), 2)
    at_zero = dilate(main_mask(app, render(app, 0.0, {"particles"})), 2)
    assert iou(at_one, data) > 0.5
    assert iou(at_zero, data) < 0.7 * iou(at_one, data)


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_changes_the_main_panel_only(app, layer):
    base = render(app, 0.5, set(), selected=[1, 2, 3])
    shown = render(app, 0.5, {layer}, selected=[1, 2, 3])
    changed = np.abs(shown - base).max(axis=2) > 20
    x, y, w, h = (round(v) for v in app.view.layout.panels[0])
    inside = np.zeros(changed.shape, bool)
    inside[y : y + h, x : x + w] = True
    assert changed[inside].sum() > 30, f"{layer} drew nothing"
    assert changed[~inside].sum() == 0, f"{layer} drew outside the main panel"


def test_density_is_drawn_exactly_where_the_particles_are(app):
    """Nine in ten particle pixels lie on the density (the rest are lone outliers below its
    lowest band), and the density reaches no further from the particles than twice its
    smoothing kernel."""
    from dexplorer.core.datasets import DOMAIN as EXTENT
    from dexplorer.engine.simulation import density_blur

    resolution = app.engine.simulations[0].density_resolution
    kernel = density_blur(app.state.data.n, resolution) * 2 * EXTENT / resolution
    pixel = abs(app.view.screen_to_world(1, 0)[0] - app.view.screen_to_world(0, 0)[0])
    reach = int(np.ceil(2 * kernel / pixel))
    for t in (0.0, 1.0):
        particles = main_mask(app, render(app, t, {"particles"}))
        density = main_mask(app, render(app, t, {"density"}), 10)
        assert density.sum() > 200
        assert (particles & dilate(density, 2)).sum() > 0.9 * particles.sum()
        assert (density & dilate(particles, reach)).sum() > 0.97 * density.sum()
        assert (density & dilate(particles, 1)).sum() < density.sum()  # a real test


def test_side_panels_show_source_and_data(app):
    image = render(app, 0.5, set())
    for name in ("source", "data"):
        x, y, w, h = (round(v) for v in getattr(app.view.layout, name))
        panel = image[y : y + h, x : x + w]
        blue = (panel[..., 2] - panel[..., 0]) > 40
        assert blue.sum() > 100, name


def test_selected_particle_paths_end_at_the_particle(app):
    app.state.clear_selection()
    index = app.select_at(*app.view.world_to_screen(np.array([[0.0, 0.0]]))[0])
    assert app.state.selected == [index]
    image = render(app, 1.0, {"paths"}, selected=[index])
    end = app.engine.simulations[0].cache.particles[-1, index].numpy()
    sx, sy = app.view.world_to_screen(end[None])[0]
    window = main_mask(app, image)[int(sy) - 4 : int(sy) + 5, int(sx) - 4 : int(sx) + 5]
    assert window.any()


def test_ui_draws_the_controls(tmp_path):
    from dexplorer.headless import offscreen_app

    state = AppState()
    state.change(n=500, steps=5)
    app = offscreen_app(state, (800, 500), "cpu", ui=True)
    app.engine.simulations[0].cache.wait()
    image = app.screenshot()[..., :3].astype(int)
    panel = image[10:400, 10:280]
    assert (np.abs(panel - 255).max(axis=2) > 40).mean() > 0.5  # the dark controls
    assert app.status.computed == 5
    assert (
        app.status.backend == app.engine.simulations[0].cache.state.backend != ""
    )  # the status line


def test_keys_and_clicks_drive_the_state(app):
    app.state.playing, app.state.t = False, 0.5
    app._on_key({"key": " "})
    assert app.state.playing
    app._on_key({"key": "ArrowRight"})
    assert not app.state.playing and app.state.t == pytest.approx(16 / 30)
    app._on_key({"key": "ArrowLeft"})
    assert app.state.t == pytest.approx(15 / 30)
    app.state.clear_selection()
    x, y = app.view.world_to_screen(np.array([[1.0, 1.0]]))[0]
    app._on_pointer({"event_type": "pointer_down", "x": x, "y": y})
    app._on_pointer({"event_type": "pointer_up", "x": x, "y": y, "modifiers": ()})
    first = list(app.state.selected)
    app._on_pointer({"event_type": "pointer_down", "x": x + 40, "y": y})
    app._on_pointer({"event_type": "pointer_up", "x": x + 40, "y": y, "modifiers": ("Shift",)})
    assert len(first) == 1 and len(app.state.selected) == 2
    app._on_pointer({"event_type": "pointer_down", "x": x, "y": y})
    app._on_pointer({"event_type": "pointer_up", "x": x + 30, "y": y, "modifiers": ()})
    assert len(app.state.selected) == 2  # a drag pans, it does not select


def test_layers_draw_what_the_engine_writes_into_their_arrays():
    """The engine writes the shared arrays in place; after ``update`` the frame shows the new
    contents, from the same buffers (no pipeline is rebuilt)."""
    import pygfx as gfx
    from rendercanvas.offscreen import RenderCanvas

    from dexplorer.scene.density import DensityLayer
    from dexplorer.scene.particles import ParticlesLayer
    from dexplorer.scene.renderer import Renderer

    positions = np.zeros((50, 2), np.float32)
    density = np.zeros((32, 32), np.float32)
    canvas = RenderCanvas(size=(120, 120), pixel_ratio=1)
    renderer = Renderer(canvas, pixel_ratio=1, ppaa="none")
    scene = gfx.Scene()
    scene.add(gfx.Background.from_color("#fff"))
    particles = ParticlesLayer(positions, size=8, opacity=1.0)
    particles.set_colors("uniform", (0.0, 0.0, 0.0))
    layer = DensityLayer(density, 3.5, (0.0, 0.0, 1.0))
    scene.add(*layer.objects, *particles.objects)
    camera = gfx.OrthographicCamera(8, 8)
    canvas.request_draw(lambda: renderer.render(scene, camera))
    frames = []
    buffers = (particles.points.geometry.points, layer.texture)
    for x, value in ((0.0, 0.0), (2.0, 1.0)):  # then the points sit to the right
        positions[:, 0], density[:] = x, value
        particles.update()
        layer.update()
        frames.append(np.asarray(canvas.draw())[..., :3].astype(int))
    assert buffers == (particles.points.geometry.points, layer.image.geometry.grid)
    centre, right = (60, 60), (60, 60 + round(2.0 / 8 * 120))
    assert frames[0][centre].max() < 60 and frames[1][right].max() < 60  # dark dots moved
    assert frames[0][20, 20].min() > 240 and frames[1][20, 20][2] > frames[1][20, 20][0] + 40


def test_density_blocks_cover_every_texel_that_can_colour_a_pixel():
    from dexplorer.scene.density import BLOCK, block_mask

    density = np.zeros((4 * BLOCK, 3 * BLOCK), np.float32)
    density[BLOCK, 2 * BLOCK - 1] = 1.0  # the corner texel of block (1, 1)
    density[3 * BLOCK + 3, 5] = np.nan  # not a density: draws nothing
    blocks = block_mask(density, 0.01).reshape(4, 3)
    # the texel and its neighbours one texel away fall in blocks (0..1, 1..2)
    expected = np.zeros((4, 3), np.uint32)
    expected[0:2, 1:3] = 1
    assert np.array_equal(blocks, expected)
    assert block_mask(np.full((10, 10), 0.5, np.float32), 0.01).tolist() == [1, 1, 1, 1]


def test_the_density_drawn_in_blocks_is_the_whole_image(monkeypatch):
    """Leaving out the blocks that cannot show anything changes no pixel."""
    import pygfx as gfx
    from rendercanvas.offscreen import RenderCanvas

    import dexplorer.scene.density as density_module
    from dexplorer.scene.density import DensityLayer

    grid = np.linspace(-3.5, 3.5, 64)
    x, y = np.meshgrid(grid, grid)
    blob = np.exp(-((x - 1.2) ** 2 + (y + 0.8) ** 2) / 0.6) + 0.6 * np.exp(-(x**2 + y**2) / 0.2)
    canvas = RenderCanvas(size=(160, 160), pixel_ratio=1)
    renderer = gfx.WgpuRenderer(canvas, pixel_ratio=1, ppaa="none")
    camera = gfx.OrthographicCamera(6, 6)
    camera.local.position = (0.4, -0.2, 0)  # panned: blocks cross the canvas edge
    images = []
    for every in (False, True):
        if every:
            monkeypatch.setattr(density_module, "block_mask", lambda d, t: np.ones(64, np.uint32))
        layer = DensityLayer((blob / blob.max()).astype(np.float32), 3.5, (0.8, 0.2, 0.1))
        scene = gfx.Scene()
        scene.add(gfx.Background.from_color("#fff"), *layer.objects)
        canvas.request_draw(lambda scene=scene: renderer.render(scene, camera))
        images.append(np.asarray(canvas.draw())[..., :3].astype(int))
        if not every:
            shown = layer.image.geometry.blocks.data
            assert 0 < shown.sum() < 0.6 * shown.size  # a real test: blocks are left out
    assert (images[0] != 255).any()
    assert np.array_equal(images[0], images[1])


def test_the_cpus_density_is_the_devices(monkeypatch):
    """On a software adapter the CPU draws the density (cpu_points.contours): the bands and
    lines of the shader, within a level, in a viewport at odd pixels (its 2 x 2 blocks of
    pixels, whose changes give the lines' width, start where the frame's do), panned, and
    zoomed out past the image's edge, where the density is high: nothing is drawn beyond
    the edge though a cloud drawn with it covers the whole viewport."""
    import pygfx as gfx
    from rendercanvas.offscreen import RenderCanvas

    from dexplorer.scene import cpu_points
    from dexplorer.scene.density import DensityImage, DensityLayer
    from dexplorer.scene.particles import SplatPoints, points_buffer
    from dexplorer.scene.renderer import Renderer

    if cpu_points.cpu_kernel() is None:
        from dexplorer.core import native_build

        if not native_build.load("splat").library or cpu_points.cpu_kernel() is None:
            pytest.skip("the CPU's drawing needs a software adapter and a C compiler")
    grid = np.linspace(-3.5, 3.5, 64)
    x, y = np.meshgrid(grid, grid)
    blob = np.exp(-((x - 1.2) ** 2 + (y + 0.8) ** 2) / 0.6) + 0.6 * np.exp(-(x**2 + y**2) / 0.2)
    blob += 0.5 * np.exp(-((x + 3.5) ** 2) / 0.5)  # high along the left edge
    corners = points_buffer(np.array([[-5.0, -5.0], [5.0, 5.0]], np.float32))
    canvas = RenderCanvas(size=(200, 180), pixel_ratio=1)
    renderer = Renderer(canvas, pixel_ratio=1, ppaa="none")
    rect = (17, 9, 161, 163)  # odd origin and size
    images = []
    for view in (6, 9):
        camera = gfx.OrthographicCamera(view, view)
        camera.local.position = (0.4, -0.2, 0)
        layer = DensityLayer((blob / blob.max()).astype(np.float32), 3.5, (0.8, 0.2, 0.1))
        cloud = SplatPoints(corners, (0.0, 0.0, 0.0), 3.0, 0.5, render_order=2)
        scene = gfx.Scene()
        scene.add(gfx.Background.from_color("#fff"), *layer.objects, *cloud.objects)
        cloud.points.fit((200, 180))
        canvas.request_draw(
            lambda scene=scene, camera=camera: renderer.render(scene, camera, rect=rect)
        )
        for by_cpu in (True, False):
            monkeypatch.setattr(DensityImage, "drawn_by_cpu", property(lambda self, v=by_cpu: v))
            images.append(np.asarray(canvas.draw())[..., :3].astype(int))
    for ours, devices in (images[:2], images[2:]):
        drawn = (devices != 255).any(axis=2)
        assert drawn.sum() > 3000 and len(np.unique(devices[drawn], axis=0)) > 20  # bands, lines
        assert np.abs(ours - devices).max() <= 2
        assert (np.abs(ours - devices).max(axis=2) > 1).sum() < 20


def test_training_in_the_app_previews_samples_then_swaps_in_the_model():
    from dexplorer.headless import offscreen_app

    state = AppState()
    state.change(dataset="moons", n=500, steps=10)
    app = offscreen_app(state, (720, 400), "cpu", ui=True)
    app.engine.simulations[0].cache.wait()
    state.train_seconds = 3.0
    assert state.start_training("cpu")
    frames, previews = 0, 0
    while state.job.progress.running:
        app.screenshot()  # the UI keeps drawing while the model trains
        frames += 1
        previews += app.view.preview.points.visible
    app.screenshot()  # the finished run's model becomes the current one
    assert frames >= 3 and previews >= 1 and not app.view.preview.points.visible
    assert state.run.model == "trained" and app.engine.simulations[0].run.model == "trained"
    assert state.trained.training_steps == state.job.trainer.step > 0
    assert app.engine.simulations[0].field.network is state.trained.network


def test_draw_mode_paints_with_the_pointer_and_autosaves(tmp_path, monkeypatch):
    from dexplorer.app import drawing_path
    from dexplorer.headless import offscreen_app

    state = AppState()
    state.change(n=300, steps=10)
    app = offscreen_app(state, (360, 240), "cpu", ui=False)
    state.mode = "draw"
    start, end = app.view.world_to_screen(np.array([[-1.5, 0.5], [1.5, 0.5]]))
    app._on_pointer({"event_type": "pointer_down", "x": start[0], "y": start[1]})
    for k in range(1, 11):
        x, y = start + (end - start) * k / 10
        app._on_pointer_move({"x": x, "y": y})
    app._on_pointer({"event_type": "pointer_up", "x": end[0], "y": end[1]})
    points = state.drawing.points
    assert len(points) > 50 and np.abs(points[:, 1] - 0.5).max() <= state.drawing.radius + 0.05
    assert points[:, 0].min() < -1.2 and points[:, 0].max() > 1.2
    assert state.data.dataset == "custom" and state.run.model == "exact"
    assert len(state.custom) == len(points) and drawing_path().exists()
    app.screenshot()
    assert not app.view.controller.enabled and app.view.drawing.points.visible
    sim = app.engine.simulations[0]
    sim.cache.wait()
    assert sim.dataset is not None and len(sim.dataset) == len(points)


def test_non_finite_particles_are_reported_in_the_message_once_per_run():
    import torch

    from dexplorer.core.fields import ExactField
    from dexplorer.core.paths import LinearPath
    from dexplorer.engine.trajectory import RunSpec
    from dexplorer.headless import offscreen_app

    class Overflowing(ExactField):
        def estimate(self, x, t):
            estimate = super().estimate(x, t)
            estimate.data[x[:, 0] > 1.0] = torch.inf
            return estimate

    state = AppState()
    state.change(n=300, steps=10)
    app = offscreen_app(state, (360, 240), "cpu", ui=False)
    app.engine.simulations[0].cache.wait()
    field = Overflowing(np.array([[-2.0, 0.0], [2.0, 1.0]]), LinearPath(), spread=0.3)
    app.engine.simulations[0].cache.start(RunSpec(field, "euler", steps=10, n=300))
    app.engine.simulations[0].cache.wait()
    state.set_time(1.0)
    app.screenshot()
    count = app.engine.simulations[0].cache.state.nonfinite
    assert count > 0
    assert state.message.startswith(f"{count} of 300 particles became non-finite (inf or nan)")
    state.message = ""
    app.screenshot()
    assert state.message == ""  # said once; the user may dismiss it


def test_themes_change_the_background_and_scale_enlarges_the_time_label():
    from dexplorer.headless import offscreen_app
    from dexplorer.scene.theme import THEMES

    state = AppState()
    state.change(n=300, steps=5)
    app = offscreen_app(state, (360, 240), "cpu", ui=False)
    for name, theme in THEMES.items():
        state.look.theme = name
        corner = app.screenshot()[2, 2, :3].astype(int)
        expected = np.round(np.array(theme.background) * 255)
        assert np.abs(corner - expected).max() <= 2, (name, corner)
    state.look.theme = "light"
    for name in LAYERS:
        state.look.visible[name] = False

    def label_height(scale):
        state.look.ui_scale = scale
        image = app.screenshot()[..., :3].astype(int)
        x, y, w, h = (round(v) for v in app.view.layout.panels[0])
        ink = (255 - image[y : y + h, x : x + w].min(axis=2)) > 100  # only the label is left
        rows = np.nonzero(ink.any(axis=1))[0]
        return rows.max() - rows.min()

    assert label_height(2.0) > 1.6 * label_height(1.0)


def test_presentation_keys():
    from dexplorer.headless import offscreen_app

    state = AppState()
    state.change(n=300, steps=10)
    app = offscreen_app(state, (720, 400), "cpu", ui=True)
    app._on_key({"key": "End"})
    assert state.t == 1.0 and not state.playing
    app._on_key({"key": "Home"})
    assert state.t == 0.0
    app._on_key({"key": "4"})
    assert state.data.dataset == "moons"
    app._on_key({"key": "=", "modifiers": ("Control",)})
    app._on_key({"key": "=", "modifiers": ("Control",)})
    assert state.look.ui_scale == 1.5
    for _ in range(10):
        app._on_key({"key": "-", "modifiers": ("Control",)})
    assert state.look.ui_scale == 1.0
    app._on_key({"key": "?"})
    assert state.look.show_keys
    shown = app.screenshot()[..., :3].astype(int)
    app._on_key({"key": "h"})
    hidden = app.screenshot()[..., :3].astype(int)
    assert not state.look.show_ui
    assert np.abs(shown[100:200, 20:200] - hidden[100:200, 20:200]).max() > 50  # panel gone


def test_s_saves_a_screenshot_and_r_records_a_video(tmp_path, monkeypatch):
    import imageio.v3 as iio

    from dexplorer.headless import offscreen_app

    monkeypatch.chdir(tmp_path)
    state = AppState()
    state.change(n=300, steps=5)
    app = offscreen_app(state, (320, 192), "cpu", ui=False)
    app.screenshot()
    app._on_key({"key": "s"})
    app.screenshot()  # saved from the next frame's scene
    (png,) = tmp_path.glob("dexplorer-*.png")
    assert iio.imread(png).shape == (192, 320, 3) and "saved" in state.message
    app._on_key({"key": "r"})
    for _ in range(5):
        app.screenshot()
    app._on_key({"key": "r"})
    (mp4,) = tmp_path.glob("dexplorer-*.mp4")
    assert iio.imread(mp4).shape == (5, 192, 320, 3) and "5 frames" in state.message


def test_explain_panel_opens_with_e():
    from dexplorer.headless import offscreen_app

    state = AppState()
    state.change(n=300, steps=5)
    app = offscreen_app(state, (900, 560), "cpu", ui=True)
    for _ in range(2):
        closed = app.screenshot()[..., :3].astype(int)
    app._on_key({"key": "e"})
    for _ in range(3):  # a new ImGui window appears on its second frame
        opened = app.screenshot()[..., :3].astype(int)
    assert state.look.show_explain
    x, y = round(app.view.layout.panels[0][0]) + 40, 120
    assert (
        np.abs(opened[y - 40 : y + 40, x : x + 200] - closed[y - 40 : y + 40, x : x + 200]).max()
        > 60
    )


def test_settings_that_do_not_fit_leave_the_previous_run_and_say_why(monkeypatch):
    import dexplorer.engine.trajectory as trajectory
    from dexplorer.headless import offscreen_app

    state = AppState()
    state.change(n=300, steps=10)
    app = offscreen_app(state, (360, 240), "cpu", ui=False)
    app.engine.simulations[0].cache.wait()
    before = (state.data, state.run)
    monkeypatch.setattr(trajectory, "available_memory", lambda device: 10_000)
    assert state.change(n=100_000)
    app.screenshot()
    assert "fewer particles" in state.message
    sim = app.engine.simulations[0]
    assert (state.data, state.run) == before and (sim.data, sim.run) == before
    assert app.engine.simulations[0].cache.state.done  # the previous run is still shown


def test_a_paused_frame_does_not_recompute_positions_or_density(app, monkeypatch):
    calls = []
    sim = app.engine.simulations[0]
    for name in ("update_positions", "update_density"):
        original = getattr(sim, name)
        record = lambda *a, f=original, n=name, **k: (calls.append(n), f(*a, **k))  # noqa: E731
        monkeypatch.setattr(sim, name, record)
    app.state.playing = False
    app.state.look.visible["density"] = True
    app.state.set_time(0.3)
    app.update()
    assert calls == ["update_positions", "update_density"]
    app.update()
    assert len(calls) == 2  # same t, same finished run
    app.state.set_time(0.4)
    app.update()
    assert len(calls) == 4
    expected = np.asarray(app.engine.simulations[0].positions.array).copy()
    app.engine.simulations[0].update_positions(0.4)
    assert np.array_equal(np.asarray(app.engine.simulations[0].positions.array), expected)


def test_side_panels_are_cached_and_redrawn_when_theme_or_data_change():
    from dexplorer.headless import offscreen_app
    from dexplorer.scene.theme import THEMES

    state = AppState()
    state.change(n=300, steps=5)
    app = offscreen_app(state, (360, 240), "cpu", ui=False)
    x, y, w, h = (round(v) for v in app.view.layout.data)
    for name, theme in THEMES.items():
        state.look.theme = name
        image = app.screenshot()[..., :3].astype(int)
        corner = image[y + 1, x + 1]  # inside the data panel, outside the smiley
        assert np.abs(corner - np.round(np.array(theme.background) * 255)).max() <= 2, name
    state.look.theme = "light"
    before = app.screenshot()[y : y + h, x : x + w, :3].astype(int)
    cache = app.view.caches["data"]
    assert not cache.stale  # drawn once, then shown as it is
    assert state.change(dataset="moons")
    after = app.screenshot()[y : y + h, x : x + w, :3].astype(int)
    assert np.abs(after - before).max(axis=2).mean() > 1  # the new data is drawn


def test_on_a_software_adapter_the_app_draws_at_the_screens_pixels():
    """pygfx's defaults (twice the pixels each way, an antialiasing pass) made a lavapipe
    window of 50k particles draw 1 frame a second; the app chooses 1x, no antialiasing."""
    from dexplorer.headless import offscreen_app
    from dexplorer.scene.renderer import software_adapter

    if not software_adapter():
        pytest.skip("a GPU adapter keeps pygfx's defaults")
    app = offscreen_app(AppState(), SIZE, "cpu", ui=False, fast=False)
    assert app.renderer.pixel_ratio == 1 and app.renderer.ppaa == "none"


def test_the_pointer_reads_in_the_data_files_coordinates():
    from dexplorer.core.datasets import Dataset, Normalisation
    from dexplorer.headless import offscreen_app

    frame = Normalisation((10.5, 10.0), (2 / 3, -2 / 3))  # a y-down file spanning [6, 15]
    points = np.random.default_rng(0).uniform(-3, 3, (200, 2))
    state = AppState()
    state.change(n=300, steps=5)
    state.use_custom(Dataset.custom(points, normalisation=frame))
    app = offscreen_app(state, (800, 500), "cpu", ui=True)
    app.update()
    x, y = app.view.world_to_screen(np.array([[1.5, 2.0]]))[0]
    app._on_pointer_move({"x": x, "y": y})
    assert app.status.pointer == pytest.approx((12.75, 7.0), abs=1e-3)  # 2 up is 3 less y
    app.engine.simulations[0].cache.wait()
    app.screenshot()  # the status line shows it
    app._on_pointer_move({"x": 1.0, "y": 1.0})  # over the controls: no reading
    assert app.status.pointer is None


PAUSED_FRAMES = """
from dexplorer.headless import offscreen_app
from dexplorer.core.runs import Data, Run
from dexplorer.state import AppState

def rss_mb():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024

state = AppState(data=Data(n=3000), runs=[Run(steps=30)])
app = offscreen_app(state, (360, 240), "cpu", ui=False)
app.settle()
state.set_time(0.5)
for _ in range(20):
    app.screenshot()
before = rss_mb()
for _ in range(150):
    app.screenshot()
print(rss_mb() - before)
"""


def test_paused_frames_do_not_grow_native_memory():
    """The splat shader once branched on a uniform alone; lavapipe then compiled a new
    variant of it every frame and kept the old ones (about 200 KB a frame, 30 MB here).
    Measured in a process of its own: other tests' threads would move its RSS."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "RENDERCANVAS_FORCE_OFFSCREEN": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PAUSED_FRAMES], env=env, capture_output=True, text=True, check=True
    )
    assert float(done.stdout.split()[-1]) < 4.0


def test_the_particles_style_is_written_only_when_its_float32_value_changes(app, monkeypatch):
    particles = app.view.panels[0].particles
    particles.set_style(3.0, 0.45)
    writes = []
    buffer = particles.material.uniform_buffer
    original = buffer.update_full
    monkeypatch.setattr(buffer, "update_full", lambda: (writes.append(1), original()))
    particles.set_style(3.0, 0.45)  # 0.45 is not a float32: still the same value
    assert writes == []
    particles.set_style(3.0, 0.5)
    assert len(writes) == 1
    assert particles.material.opacity == pytest.approx(0.5)


def test_a_canvas_past_the_devices_buffer_limit_is_refused_before_drawing():
    from dexplorer.headless import offscreen_size
    from dexplorer.scene.particles import accumulator_limit
    from dexplorer.scene.view import canvas_problem

    assert canvas_problem((1280, 720)) == ""
    assert canvas_problem((3840, 2160)) == ""  # a 4K screen, coloured by start: 93 MB
    if accumulator_limit() < 458 * 2**20:
        with pytest.raises(ValueError, match="--size 8192x8192: too large for this GPU"):
            offscreen_size("8192x8192")


def test_a_panel_past_the_buffer_limit_skips_the_particles_and_says_so(app, monkeypatch):
    """The device's accumulator has a limit (the CPU's, on a software adapter, has none):
    drawn by the device, a panel past it draws no particles and says why."""
    import dexplorer.scene.cpu_points as cpu_points
    import dexplorer.scene.particles as particles

    monkeypatch.setattr(cpu_points, "cpu_kernel", lambda: None)
    for name in LAYERS:
        app.state.look.visible[name] = name == "particles"
    app.state.set_time(0.5)
    drawn = app.screenshot()
    assert main_mask(app, drawn[..., :3].astype(int)).sum() > 100
    with monkeypatch.context() as device:
        device.setattr(particles, "accumulator_limit", lambda: 4096)
        app.view.panels[0].particles.points.allocate(16)
        app.state.message = ""
        image = app.screenshot()
        assert app.state.message.startswith("particles not drawn: a panel of ")
        assert not main_mask(app, image[..., :3].astype(int)).any()  # nothing half-drawn
    assert np.array_equal(app.screenshot(), drawn)


def test_closing_the_app_stops_every_thread_it_started():
    """A thread still inside torch when Python exits aborts the process ('terminate called
    without an active exception', exit 134): closing the window or finishing a screenshot
    stops training, the comparison and the trajectories first."""
    import threading

    from dexplorer.headless import offscreen_app

    state = AppState()
    assert state.change(n=500, steps=10, dataset="moons")
    app = offscreen_app(state, SIZE, "cpu", ui=False)
    state.train_unit, state.train_steps = "steps", 100_000
    state.start_training("cpu")
    state.set_view(2)
    for _ in range(3):
        app.screenshot()

    def started() -> list[threading.Thread]:
        """The app's own threads (not the pools of workers of the C kernels, the sampler's
        and the splat's, which Python joins at exit)."""
        return [
            t
            for t in threading.enumerate()
            if t.name.startswith("dexplorer-") and not t.name.startswith("dexplorer-cpu")
        ]

    assert started(), "the app should be computing something in the background"
    app.close()
    assert not started()
