"""The panels of a comparison: every layer in each panel, pan and zoom linked across them, and
a selection shown in all of them."""

import numpy as np
import pytest
from test_scene import _adapter_problem

from dexplorer.state import LAYERS, AppState

pytestmark = pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())

SPECS = ("exact:euler:6", "exact:heun:6", "exact:euler:4", "exact:heun:4")
SELECTED = [3, 40, 150, 260]


def comparison_app(count, size=(420, 320)):
    from dexplorer.headless import offscreen_app

    state = AppState()
    assert state.change(n=300, steps=6, dataset="moons")
    assert state.set_runs(list(SPECS[:count])), state.message
    app = offscreen_app(state, size, "cpu", ui=False)
    app.settle()
    return app


def show(app, layers, t=0.5, selected=()):
    for name in LAYERS:
        app.state.look.visible[name] = name in layers
    app.state.selected = list(selected)
    app.state.set_time(t)
    return app.screenshot()[..., :3].astype(int)


def panel_image(app, image, index):
    """The inside of panel ``index`` (without the pixels its frame touches)."""
    x, y, w, h = (round(v) for v in app.view.layout.panels[index])
    return image[y + 2 : y + h - 2, x + 2 : x + w - 2]


def spread(image):
    """How far the ink lies from its centre (pixels, root mean square)."""
    rows, columns = np.nonzero(ink(image))
    return float(np.sqrt(rows.var() + columns.var()))


def ink(image):
    """Pixels darker than the white page."""
    return (255 - image.min(axis=2)) > 30


def submit(app, kind, x, y, **extra):
    event = {"event_type": kind, "x": x, "y": y, "modifiers": (), "time_stamp": 0.0}
    app.canvas.submit_event({**event, **extra})


def settle_camera(app, frames=12):
    """Hand the submitted events to the controllers and let their damping finish."""
    app.canvas._process_events()
    for _ in range(frames):
        app.screenshot()


@pytest.mark.parametrize("count", [2, 4])
def test_each_panel_draws_the_mesh_the_arrows_and_the_paths(count):
    app = comparison_app(count)
    try:
        blank = show(app, set(), selected=SELECTED)
        for layer in ("mesh", "vectors", "paths"):
            image = show(app, {layer}, selected=SELECTED)
            for index in range(count):
                drawn = ink(panel_image(app, image, index)) & ~ink(panel_image(app, blank, index))
                assert drawn.sum() > 40, (layer, index, drawn.sum())
    finally:
        app.close()


def test_pan_and_zoom_in_one_panel_move_every_panel():
    app = comparison_app(2)
    try:
        before = show(app, {"particles"}, t=0.0)  # the same start in both panels
        first, second = (panel_image(app, before, i) for i in range(2))
        assert np.abs(first - second).max() <= 1
        x, y, w, h = app.view.layout.panels[1]
        submit(app, "wheel", x + w / 2, y + h / 2, dx=0.0, dy=-480.0, buttons=())
        settle_camera(app)
        zoomed = app.screenshot()[..., :3].astype(int)
        for index in range(2):
            assert spread(panel_image(app, zoomed, index)) > 1.15 * spread(first), index
        first, second = (panel_image(app, zoomed, i) for i in range(2))
        assert np.abs(first - second).max() <= 1  # still alike: one camera
        x, y, w, h = app.view.layout.panels[0]
        touch = {"ntouches": 0, "touches": {}}
        for kind, dx, button, buttons in (
            ("pointer_down", 0, 1, (1,)),
            ("pointer_move", 15, 0, (1,)),
            ("pointer_move", 30, 0, (1,)),
            ("pointer_up", 30, 1, ()),
        ):
            submit(app, kind, x + 20 + dx, y + 20, button=button, buttons=buttons, **touch)
            settle_camera(app, frames=4)
        panned = app.screenshot()[..., :3].astype(int)
        for index in range(2):
            columns = np.nonzero(ink(panel_image(app, zoomed, index)))[1].mean()
            moved = np.nonzero(ink(panel_image(app, panned, index)))[1].mean()
            assert moved > columns + 10, index  # dragged right: everything moves right
    finally:
        app.close()


def test_a_click_in_any_panel_selects_and_every_panel_shows_the_path():
    app = comparison_app(2)
    try:
        show(app, {"particles"}, t=1.0)
        simulations = app.engine.simulations
        target = simulations[1].cache.particles[-1, 123].numpy()
        x, y = app.view.world_to_screen(target[None], 1)[0]
        app._on_pointer({"event_type": "pointer_down", "x": x, "y": y})
        app._on_pointer({"event_type": "pointer_up", "x": x, "y": y, "modifiers": ()})
        index = simulations[1].nearest(*target)
        assert app.state.selected == [index]
        image = show(app, {"paths"}, t=1.0, selected=app.state.selected)
        for panel, sim in enumerate(simulations):
            end = sim.cache.particles[-1, index].numpy()
            sx, sy = app.view.world_to_screen(end[None], panel)[0]
            window = ink(image)[int(sy) - 4 : int(sy) + 5, int(sx) - 4 : int(sx) + 5]
            assert window.any(), panel
            assert ink(panel_image(app, image, panel)).sum() > 20
    finally:
        app.close()
