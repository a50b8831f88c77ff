"""The controls' ImGui backend (``dexplorer.ui.backend``): the sRGB power moved to the
vertices draws the pixels wgpu's own backend draws, and its shaders are the ones used."""

import numpy as np
import pytest
from test_scene import _adapter_problem

from dexplorer.state import AppState

pytest.importorskip("pygfx")
pytestmark = pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())


def controls_frame(state):
    from dexplorer.headless import offscreen_app

    app = offscreen_app(state, (640, 420), "cpu", ui=True)
    try:
        app.engine.simulations[0].cache.wait()
        state.set_time(0.5)
        app.canvas.draw()
        return np.asarray(app.canvas.draw())[..., :3].copy()
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
