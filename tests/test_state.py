"""The app state: UI actions as methods, bad settings refused with a message."""

from dexplorer.state import AppState


def test_bad_settings_keep_the_old_ones_and_say_why():
    state = AppState()
    before = state.settings
    assert not state.change(steps=0)
    assert state.settings is before and "steps" in state.message
    assert not state.change(n=10**9)
    assert "particles" in state.message
    assert not state.change(dataset="donut")
    assert state.change(dataset="moons") and state.message == "" and state.revision == 1


def test_play_step_and_loop():
    state = AppState()
    state.change(steps=10)
    state.toggle_play()
    state.advance(1.0)
    assert state.playing and abs(state.t - state.speed) < 1e-9
    state.step(+1)
    assert not state.playing and abs(state.t - 0.3) < 1e-9  # the next step after t = 0.25
    state.set_time(0.95)
    state.playing = True
    state.advance(1.0)
    assert state.t == 0.0  # looped
    state.loop = False
    state.set_time(0.95)
    state.advance(1.0)
    assert state.t == 1.0 and not state.playing
    state.step(+1)
    assert state.t == 1.0


def test_selection_adds_with_shift_and_clears_on_new_data():
    state = AppState()
    state.select(3)
    state.select(5, add=True)
    state.select(5, add=True)
    assert state.selected == [3, 5]
    state.select(7)
    assert state.selected == [7]
    state.change(dataset="spiral")
    assert state.selected == []
