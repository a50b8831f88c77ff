"""The controls' ImGui backend (``dexplorer.ui.backend``): the sRGB power moved to the
vertices, and the fixed windows' backgrounds copied in, draw the pixels wgpu's own backend
draws; its shaders are the ones used."""

import numpy as np
import pytest
from test_scene import _adapter_problem

from dexplorer.state import AppState

pytest.importorskip("pygfx")
pytestmark = pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())


def controls_frame(state, background=None):
    """A frame of the app with its controls; with a list for ``background``, the bytes the
    window background's colour should have in the frame's format are appended to it."""
    from imgui_bundle import imgui

    from dexplorer.headless import offscreen_app
    from dexplorer.ui.backend import background_bytes

    app = offscreen_app(state, (640, 420), "cpu", ui=True)
    try:
        app.engine.simulations[0].cache.wait()
        state.set_time(0.5)
        app.canvas.draw()
        frame = np.asarray(app.canvas.draw())[..., :3].copy()
        if background is not None:
            imgui.set_current_context(app.ui.imgui_context)
            color = imgui.get_style().color_(imgui.Col_.window_bg)
            format = app.ui._canvas_context.get_configuration()["format"]
            background.append(background_bytes(color, format.replace("bgra", "rgba"))[:3])
            background.append(len(app.ui.backgrounds))  # the windows painted
        return frame
    finally:
        app.close()


def test_the_controls_look_as_with_wgpus_own_shaders(monkeypatch):
    from wgpu.utils.imgui.imgui_backend import ImguiWgpuBackend

    from dexplorer.ui.backend import VertexGammaBackend

    state = AppState()
    assert state.change(n=300, steps=5)
    ours = controls_frame(state)
    with monkeypatch.context() as theirs:
        theirs.setattr(
            VertexGammaBackend, "_create_device_objects", ImguiWgpuBackend._create_device_objects
        )
        reference = controls_frame(state)
    controls = ours[:, :200]  # the control panel, on the left
    assert (controls != controls[0, -1]).any(axis=2).sum() > 2000  # text and widgets drawn
    assert np.abs(ours.astype(int) - reference.astype(int)).max() <= 1


def test_the_backend_builds_its_pipeline_from_our_shaders():
    import wgpu
    from imgui_bundle import imgui

    from dexplorer.ui.backend import FRAGMENT, VERTEX, VertexGammaBackend

    device = wgpu.gpu.request_adapter_sync().request_device_sync()
    codes = []

    class Spy:
        def create_shader_module(self, **options):
            codes.append(options["code"])
            return device.create_shader_module(**options)

        def __getattr__(self, name):
            return getattr(device, name)

    context = imgui.create_context()
    try:
        VertexGammaBackend(Spy(), "rgba8unorm-srgb")
    finally:
        imgui.destroy_context(context)
    assert codes == [VERTEX, FRAGMENT]


def test_painted_backgrounds_are_the_pixels_imgui_draws(monkeypatch):
    from dexplorer.ui.backend import ControlsRenderer

    state = AppState()
    assert state.change(n=300, steps=5)
    expected = []
    painted = controls_frame(state, expected)
    with monkeypatch.context() as imgui_draws:
        imgui_draws.setattr(ControlsRenderer, "paints_backgrounds", property(lambda self: False))
        drawn = controls_frame(state)
    assert expected[1] == 2  # the controls and the time bar were painted
    assert np.abs(painted.astype(int) - drawn.astype(int)).max() <= 1
    # the colour ImGui draws most in the controls (their background) is the one computed
    colors, counts = np.unique(drawn[:, :280].reshape(-1, 3), axis=0, return_counts=True)
    assert tuple(colors[counts.argmax()]) == expected[0]
    assert counts.max() > 0.4 * 420 * 280


def test_the_background_bytes_are_the_pipelines_and_cover_pixel_centres():
    from imgui_bundle import imgui

    from dexplorer.ui.backend import _first_pixel, background_bytes

    grey = imgui.ImVec4(0.18, 0.18, 0.18, 1.0)
    assert background_bytes(grey, "rgba8unorm") == (46, 46, 46, 255)  # 0.18 in 8 bits
    linear = (46 / 255) ** 2.2  # the pipeline's power, then the target's sRGB encoding
    encoded = round(255 * (1.055 * linear ** (1 / 2.4) - 0.055))
    assert background_bytes(grey, "bgra8unorm-srgb") == (encoded, encoded, encoded, 255)
    red = imgui.ImVec4(1.0, 0.0, 0.0, 1.0)
    assert background_bytes(red, "bgra8unorm") == (0, 0, 255, 255)  # blue, green, red
    # a quad from x = 0.3 to 2.7 covers the pixels whose centres (0.5, 1.5, 2.5) it holds
    assert (_first_pixel(0.3), _first_pixel(2.7)) == (0, 3)
    assert (_first_pixel(0.6), _first_pixel(2.5)) == (1, 2)


def test_lists_are_opaque():
    """A combo's list is ImGui's popup background, 94% opaque by default: blended in linear
    light, the labels under it showed through. The controls make it opaque."""
    from imgui_bundle import imgui

    from dexplorer.headless import offscreen_app

    state = AppState()
    assert state.change(n=300, steps=5)
    app = offscreen_app(state, (640, 420), "cpu", ui=True)
    try:
        imgui.set_current_context(app.ui.imgui_context)
        assert imgui.get_style().color_(imgui.Col_.popup_bg).w == 1.0
    finally:
        app.close()
