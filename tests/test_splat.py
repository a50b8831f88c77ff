"""The splatted points (splat + resolve): shape, alpha, colour and clearing, checked pixel by
pixel on lavapipe against what the over operator gives, drawn by the device (its compute and
resolve passes) and by the CPU (``splat.c``, what a software adapter uses, blended into the
frame by the renderer in the cloud's place among the other objects)."""

import numpy as np
import pytest
from test_scene import _adapter_problem

pytest.importorskip("pygfx")
pytestmark = pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())

SIZE = 64
"""Canvas pixels; the camera shows [-1, 1]^2, so a world unit is 32 pixels."""


def cpu_kernel_ready():
    """Whether the C kernel can be had here (waiting for it to be loaded)."""
    from dexplorer.core import native_build
    from dexplorer.scene import cpu_points
    from dexplorer.scene.renderer import software_adapter

    if not software_adapter():
        return False
    return native_build.load("splat").library is not None and cpu_points.cpu_kernel() is not None


@pytest.fixture(autouse=True, params=["gpu", "cpu"])
def splat_on(request, monkeypatch):
    """Every test runs with each way of drawing: the device's passes, and the C kernel."""
    from dexplorer.scene import cpu_points

    if request.param == "gpu":
        monkeypatch.setattr(cpu_points, "cpu_kernel", lambda: None)
    elif not cpu_kernel_ready():
        pytest.skip("the CPU's drawing needs a software adapter and a C compiler")
    return request.param


def srgb_to_linear(value):
    value = np.asarray(value, float)
    return np.where(value <= 0.04045, value / 12.92, ((value + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(value):
    value = np.asarray(value, float)
    return np.where(value <= 0.0031308, value * 12.92, 1.055 * value ** (1 / 2.4) - 0.055)


class Stage:
    """A white canvas with one splatted cloud on it."""

    def __init__(
        self, points, color=(0.0, 0.0, 0.0), size=5.0, opacity=0.5, background=True, order=1
    ):
        import pygfx as gfx
        from rendercanvas.offscreen import RenderCanvas

        from dexplorer.scene.particles import SplatPoints, fit_splats, points_buffer
        from dexplorer.scene.renderer import Renderer

        self.canvas = RenderCanvas(size=(SIZE, SIZE), pixel_ratio=1)
        self.renderer = Renderer(self.canvas, pixel_ratio=1, ppaa="none")
        self.scene = gfx.Scene()
        if background:
            self.scene.add(gfx.Background.from_color((1, 1, 1, 1)))
        self.layer = SplatPoints(
            points_buffer(np.asarray(points, np.float32)), color, size, opacity, order
        )
        self.scene.add(*self.layer.objects)
        self.camera = gfx.OrthographicCamera(2, 2)
        self.fit = lambda: fit_splats([self.scene], self.renderer.physical_size)
        self.canvas.request_draw(lambda: self.renderer.render(self.scene, self.camera))

    def move(self, points):
        buffer = self.layer.points.geometry.points
        buffer.data[:] = points
        buffer.update_full()

    def draw(self, fit=True):
        if fit:  # as every frame of the app does: chooses the splat, starts a frame
            self.fit()
        return np.asarray(self.canvas.draw())[..., :3].astype(float)


def test_a_point_is_a_round_disc_of_its_size_where_it_belongs():
    stage = Stage([[0.25, -0.25]], size=11.0, opacity=1.0)
    image = stage.draw()
    ink = 1 - image.mean(axis=2) / 255
    assert ink.sum() == pytest.approx(np.pi * 5.5**2, rel=0.08)  # area, with partial pixels
    rows, cols = np.nonzero(ink > 0.01)
    # world (0.25, -0.25) is pixel (40, 40) in x and y (y grows downwards)
    weights = ink[rows, cols]
    assert np.average(cols + 0.5, weights=weights) == pytest.approx(40, abs=0.3)
    assert np.average(rows + 0.5, weights=weights) == pytest.approx(40, abs=0.3)
    # round: the farthest inked pixel centre is no farther than the radius plus a pixel
    distance = np.hypot(cols + 0.5 - 40, rows + 0.5 - 40)
    assert distance.max() <= 5.5 + 1.0
    assert ink[40, 40] > 0.98  # opacity is capped at 0.999


@pytest.mark.parametrize("count", [1, 3])
def test_overlapping_points_compose_as_the_over_operator(count):
    stage = Stage(np.zeros((count, 2)), size=9.0, opacity=0.5)
    centre = stage.draw()[32, 32]
    transmitted = 0.5**count  # black over white, count times
    expected = 255 * linear_to_srgb(transmitted)
    assert centre == pytest.approx(np.full(3, expected), abs=2.5)


@pytest.mark.parametrize(("count", "opacity"), [(500, 0.0012), (60, 0.01), (2000, 0.001)])
def test_many_faint_points_compose_as_the_over_operator(count, opacity):
    """Millions of particles are each fainter than 1% (``default_opacity``): the depth each
    adds, rounded to a fixed-point step, must stay exact enough for hundreds of them over
    a pixel to give 1 - (1 - opacity)^count (with a fixed scale of 512 steps a unit, 500
    points of 0.0012 gave 0.62 for 0.45)."""
    from dexplorer.state import default_opacity

    stage = Stage(np.zeros((count, 2)), size=9.0, opacity=opacity)
    stage.layer.set_style(9.0, opacity)
    transmitted = (1 - opacity) ** count
    expected = 255 * linear_to_srgb(transmitted)
    assert stage.draw()[32, 32] == pytest.approx(np.full(3, expected), abs=2.5)
    assert default_opacity(10_000_000) == 0.0012


def test_each_point_can_have_its_own_colour_and_a_pixel_shows_their_mean():
    stage = Stage([[0.0, 0.0], [0.0, 0.0], [0.5, 0.5]], size=9.0, opacity=1.0)
    stage.layer.set_own_colors(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.6, 0.0]]))
    image = stage.draw()
    assert image[32, 32] == pytest.approx([127.5, 0, 127.5], abs=3)  # red and blue
    assert image[16, 48] == pytest.approx([0, 153, 0], abs=3)  # world (0.5, 0.5) alone
    stage.layer.set_own_colors(None)
    assert stage.draw()[16, 48] == pytest.approx([0, 0, 0], abs=3)  # the uniform colour


def test_the_accumulator_is_clear_for_every_frame():
    stage = Stage([[-0.5, 0.5]], size=9.0, opacity=0.5)
    first = stage.draw()
    assert first[16, 16].mean() < 200
    again = stage.draw()
    assert np.array_equal(first, again)  # nothing left over from the frame before
    stage.move([[0.5, -0.5]])
    moved = stage.draw()
    assert moved[16, 16] == pytest.approx([255, 255, 255], abs=1)
    assert moved[48, 48].mean() == pytest.approx(first[16, 16].mean(), abs=1)


def test_nan_points_are_not_drawn_and_finite_ones_are():
    stage = Stage([[np.nan, np.nan], [0.0, 0.0], [np.inf, 0.0]], size=9.0, opacity=1.0)
    image = stage.draw()
    ink = 1 - image.mean(axis=2) / 255
    assert ink[32, 32] > 0.98
    assert ink.sum() == pytest.approx(np.pi * 4.5**2, rel=0.1)


def test_a_panel_larger_than_the_accumulator_waits_for_fit(monkeypatch, splat_on):
    import dexplorer.scene.particles as particles

    if splat_on == "cpu":
        pytest.skip("the CPU's accumulator is its own: it grows with the panel (below)")
    stage = Stage([[0.0, 0.0]], size=9.0, opacity=1.0)
    stage.fit()  # the splat chosen
    room = stage.layer.material.channels * particles.CHANNEL_BYTES
    with monkeypatch.context() as device:
        device.setattr(particles, "accumulator_limit", lambda: 16 * room)
        stage.layer.points.allocate(16)  # a device that binds 16 pixels: less than the panel
    assert stage.draw(fit=False).min() == 255  # nothing drawn, nothing broken
    stage.fit()
    assert stage.layer.points.capacity == SIZE * SIZE
    assert stage.draw()[32, 32].max() < 5


def test_the_cpus_accumulator_grows_with_the_panel(splat_on):
    if splat_on == "gpu":
        pytest.skip("the device's accumulator waits for fit (above)")
    stage = Stage([[0.0, 0.0]], size=9.0, opacity=1.0)
    stage.fit()
    stage.layer.points.allocate(16)  # less than the panel
    assert stage.draw(fit=False)[32, 32].max() < 5
    assert stage.layer.points.capacity >= SIZE * SIZE


def test_the_under_cloud_is_composited_below_and_each_cloud_hides_alone():
    stage = Stage([[0.0, 0.0]], color=(0.0, 0.0, 0.0), size=9.0, opacity=0.5)
    stage.layer.set_under([[0.0, 0.0], [0.5, 0.5]], (1.0, 0.0, 0.0), 9.0, 0.5)
    stage.layer.set_under_visible(True)
    image = stage.draw()
    # black at 0.5 over red at 0.5 over white, in linear light
    red, white = np.array([1.0, 0.0, 0.0]), np.ones(3)
    expected = 255 * linear_to_srgb(0.5 * (0.5 * red + 0.5 * white))
    assert image[32, 32] == pytest.approx(expected, abs=3)
    alone = 255 * linear_to_srgb(0.5 * red + 0.5 * white)
    assert image[16, 48] == pytest.approx(alone, abs=3)  # world (0.5, 0.5): red only
    stage.layer.set_visible(False)
    image = stage.draw()
    assert image[32, 32] == pytest.approx(alone, abs=3)  # the under cloud stays
    stage.layer.set_visible(True)
    stage.layer.set_under_visible(False)
    image = stage.draw()
    assert image[16, 48] == pytest.approx([255, 255, 255], abs=1)
    assert image[32, 32] == pytest.approx(np.full(3, 255 * linear_to_srgb(0.5)), abs=3)


def test_the_accumulator_is_kept_when_the_colouring_changes():
    """Colouring each point (more channels) grows the accumulator once; going back and
    forth keeps it (a replaced buffer stays alive in pygfx's bind-group cache) and draws
    the same picture."""
    stage = Stage([[0.0, 0.0], [0.4, 0.2]], size=9.0, opacity=0.8)
    first = stage.draw()
    stage.layer.set_own_colors(np.zeros((2, 3), np.float32))
    coloured = accumulator(stage)
    stage.draw()
    stage.layer.set_own_colors(None)
    assert accumulator(stage) is coloured
    assert np.array_equal(stage.draw(), first)
    stage.layer.set_own_colors(np.zeros((2, 3), np.float32))
    assert accumulator(stage) is coloured


def accumulator(stage):
    """The cloud's accumulator: the device's buffer, or the CPU's array."""
    points = stage.layer.points
    return points.accum if points.material.on_cpu else points.geometry.accum


def read_tiles(stage):
    """The tiles buffer as the device holds it: this frame's number, then each tile's mark."""
    buffer = stage.layer.points.geometry.tiles
    return np.frombuffer(stage.renderer.device.queue.read_buffer(buffer._wgpu_object), np.uint32)


def test_only_the_tiles_a_disc_touches_are_marked_and_a_disc_over_several_is_whole(splat_on):
    """The resolve draws only the tiles the splat marked this frame: a point marks exactly
    the tiles its disc's pixels fall in (several for a large one), and a disc across tile
    borders is still whole and round."""
    from dexplorer.scene.particles import TILE

    if splat_on == "cpu":
        pytest.skip("the tiles are the device's passes'")
    stage = Stage([[-0.75, 0.75], [0.0, 0.0]], size=21.0, opacity=1.0)
    image = stage.draw()
    tiles = read_tiles(stage)
    per_row = -(-SIZE // TILE)
    marked = {(int(k) // per_row, int(k) % per_row) for k in np.nonzero(tiles[1:] == tiles[0])[0]}
    # world (-0.75, 0.75) is pixel (8, 8), (0, 0) is pixel (32, 32); radius 10.5
    expected = set()
    for cx, cy in ((8, 8), (32, 32)):
        lo = (max(int(np.floor(cx - 10.5)), 0), max(int(np.floor(cy - 10.5)), 0))
        hi = (min(int(np.floor(cx + 10.5)), SIZE - 1), min(int(np.floor(cy + 10.5)), SIZE - 1))
        expected |= {
            (ty, tx)
            for ty in range(lo[1] // TILE, hi[1] // TILE + 1)
            for tx in range(lo[0] // TILE, hi[0] // TILE + 1)
        }
    assert marked == expected
    assert len(expected) < per_row * per_row  # some tiles are left out
    ink = 1 - image.mean(axis=2) / 255
    centre = ink[16:48, 16:48]  # the disc at (32, 32) spans four tiles
    assert centre.sum() == pytest.approx(np.pi * 10.5**2, rel=0.05)
    rows, cols = np.nonzero(centre > 0.5)
    assert np.hypot(cols + 16.5 - 32, rows + 16.5 - 32).max() <= 10.5 + 0.5
    stage.move([[0.75, -0.75], [0.75, -0.75]])
    moved = stage.draw()
    assert read_tiles(stage)[0] == tiles[0] + 1  # a new frame: the old marks are stale
    assert moved[32, 32] == pytest.approx([255, 255, 255], abs=1)  # nothing left behind


def test_the_cpu_and_the_gpu_splat_draw_the_same_pixels(monkeypatch, splat_on):
    """A cloud with its own colours and alphas over an under cloud, panned and zoomed so that
    points fall across the edges: the C kernel gives the device's picture."""
    from dexplorer.scene import cpu_points

    if splat_on == "gpu":
        pytest.skip("compares the two: runs once")
    rng = np.random.default_rng(3)
    points = rng.normal(0, 0.6, (3000, 2)).astype(np.float32)
    points[::97] = np.nan
    colors = rng.random((3000, 3)).astype(np.float32)
    alphas = rng.random(3000).astype(np.float32)
    alphas[::5] = 0.0
    under = rng.normal(0.3, 0.5, (800, 2)).astype(np.float32)
    images = []
    for path in ("cpu", "gpu"):
        if path == "gpu":
            monkeypatch.setattr(cpu_points, "cpu_kernel", lambda: None)
        stage = Stage(points, size=4.0, opacity=0.6)
        stage.layer.set_own_colors(colors)
        stage.layer.colors.data[:, 3] = alphas
        stage.layer.material.point_alpha = True
        stage.layer.set_under(under, (0.1, 0.3, 0.9), 2.5, 0.4)
        stage.layer.set_under_visible(True)
        stage.camera.local.position = (0.3, -0.2, 0)
        stage.camera.local.scale = (1.3, 1.3, 1)
        images.append(stage.draw())
        assert stage.layer.material.on_cpu == (path == "cpu")
    assert (images[0] != 255).any(axis=2).sum() > 1000  # a real picture
    assert np.abs(images[0] - images[1]).max() <= 1


def flat_plane(color, x, y, width, height, order):
    """A flat, blended rectangle of ``color`` centred at world (x, y), drawn at ``order``."""
    import pygfx as gfx

    material = gfx.MeshBasicMaterial(color=color, alpha_mode="blend", pick_write=False)
    plane = gfx.Mesh(gfx.plane_geometry(width, height), material, render_order=order)
    plane.local.position = (x, y, 0)
    return plane


def test_a_cloud_is_drawn_in_its_place_among_the_other_objects():
    """What is drawn before the cloud shows through it, what is drawn after covers it: the
    CPU's blend happens between the two (a black rectangle under the left half, a blue bar
    over the middle)."""
    stage = Stage([[0.0, 0.0]], color=(1.0, 0.0, 0.0), size=40.0, opacity=0.5, order=2)
    stage.scene.add(flat_plane((0, 0, 0, 1), -0.5, 0.0, 1.0, 2.0, order=1))
    stage.scene.add(flat_plane((0, 0, 1, 1), 0.0, 0.0, 2.0, 0.25, order=3))
    image = stage.draw()
    red, black, white = np.array([1.0, 0, 0]), np.zeros(3), np.ones(3)
    over_black = 255 * linear_to_srgb(0.5 * red + 0.5 * black)
    over_white = 255 * linear_to_srgb(0.5 * red + 0.5 * white)
    assert image[20, 26] == pytest.approx(over_black, abs=2)  # world (-0.19, 0.38)
    assert image[20, 38] == pytest.approx(over_white, abs=2)  # world (0.19, 0.38)
    assert image[32, 32] == pytest.approx([0, 0, 255], abs=1)  # the bar covers the disc


def test_a_frame_that_begins_with_a_cloud_is_cleared():
    """With nothing drawn before the cloud, the frame is still cleared: a moved point
    leaves nothing behind."""
    stage = Stage([[-0.5, 0.5]], color=(1.0, 1.0, 1.0), size=9.0, opacity=1.0, background=False)
    first = stage.draw()
    assert first[16, 16].min() > 250
    stage.move([[0.5, -0.5]])
    moved = stage.draw()
    assert np.array_equal(moved[16, 16], moved[2, 2])  # the clear colour again
    assert moved[48, 48].min() > 250


def test_a_cloud_in_a_viewport_is_drawn_inside_it():
    """A panel's viewport: the cloud lands in the viewport's own pixels."""
    stage = Stage([[0.0, 0.0], [0.5, 0.5]], size=5.0, opacity=1.0)
    rect = (32, 32, 32, 32)  # the bottom-right quarter; a world unit is 16 pixels there
    stage.canvas.request_draw(lambda: stage.renderer.render(stage.scene, stage.camera, rect=rect))
    image = stage.draw()
    ink = 1 - image.mean(axis=2) / 255
    assert ink[48, 48] > 0.9 and ink[40, 56] > 0.9  # world (0, 0) and (0.5, 0.5)
    outside = np.concatenate([image[:32].reshape(-1, 3), image[32:, :32].reshape(-1, 3)])
    assert (outside == image[0, 0]).all()  # the clear colour: nothing drawn there
    assert ink[32:, 32:][ink[32:, 32:] > 0.5].size < 2 * np.pi * 2.5**2 + 20  # two discs
