"""A frame drawn straight into the canvas's texture is the frame pygfx's flush gives, and its
snapshot, taken after the flush, is the scene without what is drawn over it afterwards; the
app's screenshots and recordings are the scene without the controls."""

import numpy as np
import pytest
from test_scene import _adapter_problem

pytest.importorskip("pygfx")
pytestmark = pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())

SIZE = (96, 64)


def _stage(renderer_class, options):
    import pygfx as gfx
    from rendercanvas.offscreen import RenderCanvas

    from dexplorer.scene.page import paint_page

    canvas = RenderCanvas(size=SIZE, pixel_ratio=1)
    renderer = renderer_class(canvas, **options)
    paint_page(renderer, (0.9, 0.95, 1.0))
    scene = gfx.Scene()
    square = gfx.Mesh(gfx.plane_geometry(1, 1), gfx.MeshBasicMaterial(color=(0.8, 0.3, 0.1, 0.6)))
    scene.add(square)
    return canvas, renderer, scene, gfx.OrthographicCamera(3, 2)


@pytest.mark.parametrize(
    "options",
    [{"pixel_ratio": 1, "ppaa": "none"}, {}],  # a CPU adapter's, and pygfx's defaults (a GPU's)
)
def test_a_frame_drawn_into_the_canvas_is_pygfx_s_frame_and_its_snapshot_the_scene(options):
    import pygfx as gfx

    from dexplorer.scene.renderer import Renderer

    images, snapshots = [], []
    for renderer_class in (gfx.WgpuRenderer, Renderer):
        canvas, renderer, scene, camera = _stage(renderer_class, options)

        def draw(canvas=canvas, renderer=renderer, scene=scene, camera=camera) -> None:
            renderer.render(scene, camera)
            snapshots.append(np.asarray(renderer.snapshot()).copy())
            texture = canvas.get_context("wgpu").get_current_texture()  # then, as the UI does,
            encoder = renderer.device.create_command_encoder()  # over the frame: black
            attachment = {"view": texture.create_view(), "load_op": "clear", "store_op": "store"}
            encoder.begin_render_pass(
                color_attachments=[{**attachment, "clear_value": (0, 0, 0, 1)}]
            ).end()
            renderer.device.queue.submit([encoder.finish()])

        canvas.request_draw(draw)
        images.append(np.asarray(canvas.draw()).copy())
        borrowed = getattr(renderer, "_borrowed", False)
    assert borrowed == (options != {})  # into the canvas, unless an effect pass comes after
    assert (images[0][..., :3] == 0).all() and (images[1][..., :3] == 0).all()
    assert (snapshots[1] == snapshots[0]).all()
    height, width = snapshots[1].shape[:2]  # twice the canvas's pixels with pygfx's defaults
    centre, corner = snapshots[1][height // 2, width // 2, :3], snapshots[1][2, 2, :3]
    assert centre.tolist() not in ([0, 0, 0], corner.tolist())  # the square, not the black


def test_a_screenshot_and_a_recording_are_the_scene_without_the_controls(tmp_path):
    import imageio.v3 as iio

    from dexplorer.headless import offscreen_app
    from dexplorer.state import AppState
    from dexplorer.ui.controls import CONTROLS_WIDTH

    state = AppState()
    state.change(n=300, steps=5)
    app = offscreen_app(state, (640, 400), "cpu")  # with the controls, at the left
    try:
        app.settle()
        app.screenshot()  # a frame before: what is saved is the scene of the frame asked in
        state.export("screenshot", str(tmp_path / "scene.png"))
        state.export("record", str(tmp_path / "scene.mp4"))
        shown = np.asarray(app.screenshot())[..., :3]
        state.export("record")
        app.screenshot()
        x, y, width, height = (round(v) for v in app.view.panels[0].rect)
        left = int(CONTROLS_WIDTH * state.look.ui_scale)
    finally:
        app.close()
    saved, video = iio.imread(tmp_path / "scene.png"), iio.imread(tmp_path / "scene.mp4")
    panel = (slice(y + height // 4, y + height * 3 // 4), slice(x, x + width))
    assert (saved[panel] == shown[panel]).all()  # the particles, under no control
    page = saved[:, :left].reshape(-1, 3)
    assert (page == page[0]).all() and (shown[:, :left] != page[0]).any()
    assert len(video) == 1
    assert np.abs(video[0].astype(int) - saved).mean() < 2  # the same frame, compressed


def test_a_view_lands_pixel_for_pixel_only_on_whole_pixels_inside_the_frame():
    from dexplorer.scene.cache import pixel_origin

    assert pixel_origin((290.0, 229.0, 198.0, 198.0), (198, 198), (1280, 720)) == (290, 229)
    assert pixel_origin((290.0, 244.4, 215.2, 215.2), (215, 215), (1366, 768)) is None
    assert pixel_origin((362.5, 228.0, 184.0, 184.0), (184, 184), (1280, 720)) is None
    assert pixel_origin((290.0, 229.0, 198.0, 198.0), (197, 198), (1280, 720)) is None
    assert pixel_origin((1100.0, 229.0, 198.0, 198.0), (198, 198), (1280, 720)) is None


@pytest.mark.parametrize("size", [(480, 360), (506, 371)])  # whole pixels, and not
def test_side_views_copied_into_the_frame_are_the_pixels_their_quads_give(size, monkeypatch):
    from dexplorer.headless import offscreen_app
    from dexplorer.scene import cache
    from dexplorer.state import AppState

    state = AppState()
    state.change(n=300, steps=5, dataset="moons")
    state.look.theme = "dark"
    app = offscreen_app(state, size, "cpu", ui=False)
    try:
        app.settle()
        copied = np.asarray(app.screenshot()).copy()
        shown = [view.quad.visible for view in app.view.caches.views.values()]
        monkeypatch.setattr(cache, "pixel_origin", lambda *_: None)  # every view a quad
        quads = np.asarray(app.screenshot()).copy()
    finally:
        app.close()
    assert shown == [size == (506, 371)] * 2
    x, y, width, height = (round(v) for v in app.view.layout.data)
    data = copied[y : y + height, x : x + width, :3].reshape(-1, 3)
    assert len(np.unique(data, axis=0)) > 10  # the data's density and points, not the page
    assert (copied == quads).all()
