"""Live edits of the exact field's data: a drag moves the particles that land on the point
and no others, add and erase change the data as said, bad edits say why, and the app keeps
running."""

import numpy as np
import pytest
import torch

from dexplorer.core.datasets import Dataset, Normalisation
from dexplorer.core.drawing import Drawing
from dexplorer.core.editing import moved
from dexplorer.core.runs import Data, Request, Run
from dexplorer.engine.runs import Engine
from dexplorer.state import AppState

N, STEPS = 1500, 60
EXACT = (Run("exact", "heun", STEPS),)
POINTS = np.random.default_rng(1).uniform(-2.5, 2.5, (40, 2)).astype(np.float32)


def _engine(custom, runs=EXACT):
    engine = Engine()
    engine.sync(Request(Data("custom", N, 0), runs, N, 1, custom))
    engine.wait()
    return engine


def test_a_drag_moves_the_particles_that_land_on_the_point_and_no_others():
    custom = Dataset.custom(POINTS)
    engine = _engine(custom)
    sim = engine.simulations[0]
    before = sim.cache.particles[-1].clone()
    a = torch.tensor(POINTS[5])
    b = a + torch.tensor([0.05, -0.03])
    edit = moved(custom, 5, *b.tolist(), None)
    request = Request(Data("custom", N, 0), EXACT, N, 1, edit.after, edit=edit)
    landed = (before - a).norm(dim=1) < 1e-3
    far = ((before - a).norm(dim=1) > 1.0) & ((before - b).norm(dim=1) > 1.0)
    assert landed.sum() > 20 and far.sum() > N // 2

    engine.sync(request)  # the frame that sees the edit: its preview
    first = sim.cache.particles[-1].clone()
    assert sim.live.stage == 1 and "preview" in sim.live_note
    assert (first[landed] - b).norm(dim=1).max() < 1e-4
    assert torch.equal(first[~landed], before[~landed])

    sim.live._thread.join()
    engine.sync(request)  # the near particles, exact
    near = sim.cache.particles[-1].clone()
    assert sim.live.stage == 2 and "near particles exact" in sim.live_note
    assert torch.equal(near[far], before[far])
    assert ((near[landed] - b).norm(dim=1) < 1e-3).float().mean() > 0.9

    sim.wait()  # every particle, as a fresh run on the new data
    final = sim.cache.particles[-1]
    fresh = _engine(edit.after).simulations[0].cache.particles[-1]
    assert torch.allclose(final, fresh, atol=1e-6)
    assert ((final[landed] - b).norm(dim=1) < 1e-3).float().mean() > 0.9
    # Far particles keep their endpoint, but for the few on a basin's border, which the
    # point's small early pull (displacement / M) tips over.
    assert ((final[far] - before[far]).norm(dim=1) < 1e-4).float().mean() > 0.99
    assert sim.live is None and sim.live_note == ""
    engine.close()


def test_every_exact_panel_follows_an_edit():
    custom = Dataset.custom(POINTS)
    runs = (Run("exact", "heun", STEPS), Run("exact", "euler", 10))
    engine = _engine(custom, runs)
    edit = moved(custom, 0, 0.0, 0.0, None)
    engine.sync(Request(Data("custom", N, 0), runs, N, 1, edit.after, edit=edit))
    assert all(sim.live is not None for sim in engine.simulations)
    assert all(sim.dataset is edit.after for sim in engine.simulations)
    engine.wait()
    assert all(sim.live is None for sim in engine.simulations)
    engine.close()


def _state(points=POINTS, normalisation=None):
    state = AppState()
    dataset = Dataset.custom(points)
    if normalisation is not None:
        dataset = Dataset.custom(points, normalisation=normalisation)
    state.use_custom(dataset)
    state.mode = "draw"
    return state


def test_add_erase_and_drag_change_the_data_and_keep_an_imports_normalisation():
    normalisation = Normalisation((100.0, 50.0), (0.01, -0.02))
    state = _state(normalisation=normalisation)
    state.editor.tool = "add"
    assert state.edit_press(1.0, 1.0)
    assert len(state.custom) == 41 and np.allclose(state.custom.points[-1], (1.0, 1.0))
    assert state.custom.normalisation == normalisation
    assert np.allclose(normalisation.to_file(state.custom.points[-1]), (200.0, 0.0))
    state.editor.tool = "erase"
    assert state.edit_press(*POINTS[3])
    assert len(state.custom) == 40 and not (state.custom.points == POINTS[3]).all(1).any()
    state.editor.tool = "drag"
    assert state.edit_press(*(POINTS[7] + 0.05))
    assert state.edit_move(0.5, -0.5) and state.edit_move(0.6, -0.4)
    state.edit_release()
    assert np.allclose(state.custom.points[6], (0.6, -0.4))  # index 7 before the erase
    assert state.request().edit is state.editor.last and state.editor.last.depth == 4
    assert state.undo_edit() and np.allclose(state.custom.points[6], POINTS[7])  # the drag
    assert state.undo_edit() and len(state.custom) == 41  # the erase
    assert state.custom.normalisation == normalisation


def test_bad_edits_say_why_and_keep_the_data():
    state = _state(POINTS[:3])
    state.editor.tool = "erase"
    assert state.edit_press(*POINTS[0])
    kept = state.custom
    assert not state.edit_press(*POINTS[1])
    assert "fewest it may have" in state.message and state.custom is kept
    state.editor.tool = "drag"
    assert state.edit_press(*POINTS[1])
    assert not state.edit_move(9.0, 0.0)
    assert "outside the domain" in state.message and state.custom is kept
    assert not state.edit_move(float("nan"), 0.0) and state.custom is kept
    state.edit_release()
    assert not state.edit_press(-3.4, -3.4) and "no data point within" in state.message
    state.editor.tool = "add"
    assert not state.edit_press(3.6, 0.0) and "outside the domain" in state.message
    bundled = AppState()
    bundled.editor.tool = "add"
    assert not bundled.edit_press(0.0, 0.0) and "custom data" in bundled.message
    assert bundled.custom is None


def test_edits_of_the_drawing_are_the_drawings_and_undo_takes_them_back(tmp_path):
    state = AppState()
    state.drawing = Drawing(tmp_path / "drawing.json")
    state.drawing.begin(0.0, 0.0)
    state.finish_stroke()
    count = len(state.drawing.points)
    state.mode, state.editor.tool = "draw", "add"
    assert state.edit_press(2.0, 2.0)
    assert len(state.drawing.points) == count + 1 and state.drawing.made is state.custom
    assert Drawing(tmp_path / "drawing.json").points.shape == (count + 1, 2)  # saved
    state.editor.tool = "drag"
    assert state.edit_press(2.0, 2.0) and state.edit_move(2.5, 2.5)
    state.edit_release()
    assert np.allclose(Drawing(tmp_path / "drawing.json").points[-1], (2.5, 2.5), atol=1e-4)
    assert state.undo_edit() and np.allclose(state.custom.points[-1], (2.0, 2.0))
    assert state.undo_edit() and len(state.custom) == count


def test_the_app_edits_in_any_panel_and_keeps_running():
    pytest.importorskip("pygfx")
    from dexplorer.headless import offscreen_app

    state = _state()
    assert state.change(n=N, steps=STEPS, sampler="euler")
    assert state.set_runs(["exact:euler:20", "exact:heun:20"])
    app = offscreen_app(state, (760, 420), "cpu", ui=True)
    app.settle()
    app.draw()
    state.editor.tool = "drag"
    x, y = app.view.world_to_screen(POINTS[2:3].astype(np.float64), 1)[0]
    app._on_pointer({"event_type": "pointer_down", "x": x, "y": y})
    app._on_pointer_move({"x": x + 15, "y": y})
    app.draw()
    assert all(sim.dataset is state.custom for sim in app.engine.simulations)
    assert "live edit" in app.status.live and "live edit" in app._caption(app.engine.simulations[1])
    app._on_pointer_move({"x": 5000, "y": y})  # off the domain
    assert "outside the domain" in state.message
    app._on_pointer({"event_type": "pointer_up", "x": x, "y": y})
    moved_to = state.custom.points[2]
    assert not np.allclose(moved_to, POINTS[2]) and state.editor.dragging is None
    app.settle()
    app.draw()
    assert app.status.live == ""
    app.close()


def test_the_guesses_follow_a_live_edit_at_once():
    """At t = 0 the exact field's guess of every particle is the mean of the data: after a
    drag, the guesses shown move to the new mean from the preview on, not after the full
    recompute."""
    custom = Dataset.custom(POINTS)
    engine = _engine(custom)
    sim = engine.simulations[0]
    sim.update_positions(0.0)
    sim.update_guesses(0.0)
    sim.guesses.wait()
    sim.update_guesses(0.0)
    assert np.allclose(sim.guesses.array.array, POINTS.mean(0), atol=1e-4)
    edit = moved(custom, 5, 3.0, 3.0, None)
    engine.sync(Request(Data("custom", N, 0), EXACT, N, 1, edit.after, edit=edit))
    assert sim.live is not None and sim.live.stage == 1
    sim.update_guesses(0.0)
    sim.guesses.wait()
    sim.update_guesses(0.0)
    assert np.allclose(sim.guesses.array.array, edit.after.points.mean(0), atol=1e-4)
    engine.close()


def test_the_model_density_follows_a_live_edit():
    """The exact field's density after a drag is the mixture of the data as edited: its NLL
    is measured again, on the edited points."""
    custom = Dataset.custom(POINTS)
    engine = _engine(custom)
    sim = engine.simulations[0]
    before = sim.model_density()
    edit = moved(custom, 5, 3.0, 3.0, None)
    engine.sync(Request(Data("custom", N, 0), EXACT, N, 1, edit.after, edit=edit))
    after = sim.model_density()
    assert after is not before and np.array_equal(after.points, sim.nll_points())
    assert np.isclose(after.points, [3.0, 3.0]).all(1).any()  # the moved point is measured
    assert not np.isclose(before.points, [3.0, 3.0]).all(1).any()
    engine.close()
