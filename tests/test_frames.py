"""A frame drawn straight into the canvas's texture is the frame pygfx's flush gives, and its
snapshot is the scene without what is drawn over it afterwards."""

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
            texture = canvas.get_context("wgpu").get_current_texture()  # then, as the UI does,
            encoder = renderer.device.create_command_encoder()  # over the frame: black
            attachment = {"view": texture.create_view(), "load_op": "clear", "store_op": "store"}
            encoder.begin_render_pass(
                color_attachments=[{**attachment, "clear_value": (0, 0, 0, 1)}]
            ).end()
            renderer.device.queue.submit([encoder.finish()])

        canvas.request_draw(draw)
        images.append(np.asarray(canvas.draw()).copy())
        snapshots.append(np.asarray(renderer.snapshot()).copy())  # after the frame
        borrowed = getattr(renderer, "_borrowed", False)
    assert borrowed == (options != {})  # into the canvas, unless an effect pass comes after
    assert (images[0][..., :3] == 0).all() and (images[1][..., :3] == 0).all()
    assert (snapshots[1] == snapshots[0]).all()
    height, width = snapshots[1].shape[:2]  # twice the canvas's pixels with pygfx's defaults
    centre, corner = snapshots[1][height // 2, width // 2, :3], snapshots[1][2, 2, :3]
    assert centre.tolist() not in ([0, 0, 0], corner.tolist())  # the square, not the black
