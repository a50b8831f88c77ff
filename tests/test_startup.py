"""Start-up: the first frame is drawn before torch is imported, the app loads torch and the
engine in the background, keeps what the user did meanwhile, and says when loading failed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from dexplorer.core.choices import PRESET_NOTES, SAMPLER_NOTES, SCHEDULES
from dexplorer.core.networks import PRESETS
from dexplorer.core.paths import PATHS
from dexplorer.core.samplers import SAMPLERS
from dexplorer.state import AppState

SIZE = (640, 400)

FIRST_FRAME = """
import json, sys
from dexplorer import cli, scenes, serve, window  # the commands' path to the window
from dexplorer.explorer import Explorer
from dexplorer.headless import prepare_environment
prepare_environment()
from rendercanvas.offscreen import RenderCanvas
from dexplorer.app import App

explorer = Explorer("moons", n=500, steps=8)
canvas = RenderCanvas(size=(640, 400), pixel_ratio=1)
app = App(canvas, explorer.state, "cpu")
heavy = {}
note = app.timings.note

def spy(moment):
    heavy.setdefault(moment, sorted(m for m in ("torch", "scipy") if m in sys.modules))
    note(moment)

app.timings.note = spy
canvas.request_draw(app.draw)
canvas.draw()
loading = app.status.loading
app.wait_loaded()
app.close()
fonts = type(sys.modules["pygfx.utils.text._fontmanager"].__loader__).__name__
print(json.dumps({"heavy": heavy, "loading": loading, "device": app.status.device, "fonts": fonts}))
"""


def test_the_first_frame_is_drawn_before_torch_or_scipy_is_imported():
    found = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME], capture_output=True, text=True, timeout=300
    )
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout.strip().splitlines()[-1])
    assert result["heavy"]["first_frame"] == []  # nothing heavy on the way to the frame
    assert "torch" in result["heavy"]["loaded"]  # then loaded in the background
    assert result["loading"] and result["device"].startswith("CPU")
    assert result["fonts"] == "FontIndexLoader"  # the font index kept in the cache folder


def test_the_names_listed_without_torch_are_those_implemented():
    assert list(SAMPLER_NOTES) == list(SAMPLERS)
    assert tuple(PATHS) == SCHEDULES
    assert list(PRESET_NOTES) == list(PRESETS)


@pytest.fixture
def loading_app(monkeypatch):
    """An app on an offscreen canvas whose load waits for ``app.gate`` (torch is already
    imported in this process: the load would end at once)."""
    pytest.importorskip("pygfx")
    from dexplorer.headless import prepare_environment

    prepare_environment()
    from rendercanvas.offscreen import RenderCanvas

    from dexplorer.app import App
    from dexplorer.loading import Loader

    gate = threading.Event()
    load = Loader._load

    def held(self, *args):
        gate.wait()
        load(self, *args)

    monkeypatch.setattr(Loader, "_load", held)

    state = AppState()
    assert state.change(dataset="moons", n=400, steps=6, sampler="heun")
    canvas = RenderCanvas(size=SIZE, pixel_ratio=1)
    app = App(canvas, state, "cpu")
    canvas.request_draw(app.draw)
    app.gate = gate
    yield app
    gate.set()
    app.close()


def test_actions_while_loading_are_kept_and_the_start_does_not_move(loading_app):
    app, state = loading_app, loading_app.state
    assert app.engine is None and app.loader is None  # the load starts after the frame
    app.canvas.draw()
    assert app.status.loading and app.loader is not None
    start = app._start[1].copy()
    x, y = app.view.world_to_screen(start[7:8])[0]
    app.select_at(x, y)  # a click on the starting particles selects one
    assert state.selected == [7]
    assert state.change(sampler="euler", steps=4)  # after the loader took its request
    state.t, state.playing = 0.5, True
    app.canvas.draw()
    assert state.t == 0.5  # time does not run before there are trajectories
    app.gate.set()
    app.settle()  # waits for the load, then follows the state as it is now
    sim = app.engine.simulations[0]
    assert (sim.run.sampler, sim.run.steps) == ("euler", 4)
    assert not app.status.loading and state.selected == [7]
    np.testing.assert_array_equal(sim.cache.particles[0].numpy(), start)  # no jump at t = 0


def test_a_failed_load_is_said_and_the_app_keeps_drawing(loading_app, monkeypatch):
    from dexplorer.engine.runs import Engine

    def fail(self, request):
        raise RuntimeError("no engine today")

    monkeypatch.setattr(Engine, "sync", fail)
    app = loading_app
    app.canvas.draw()
    app.gate.set()
    app.loader.wait()
    app.canvas.draw()
    assert "no engine today" in app.state.message
    assert app.engine is None and app.status.loading.startswith("not loaded")
    app.state.change(n=300)  # the starting particles still follow the data
    image = np.asarray(app.canvas.draw())
    assert len(app._start[1]) == 300 and image.std() > 0
    with pytest.raises(ValueError, match="no engine today"):
        app.wait_loaded()
