"""The key table: the app's key handler does what the keys window lists, and nothing else."""

from __future__ import annotations

import dataclasses
import string
from types import SimpleNamespace

import pytest

from dexplorer.app import App
from dexplorer.core.datasets import DATASETS
from dexplorer.state import AppState
from dexplorer.ui import controls
from dexplorer.ui.keys import BINDINGS, DATASET_KEYS, POINTER_HELP, binding_for, help_rows

NAMED_KEYS = (
    *(f"F{k}" for k in range(1, 13)),
    *("ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown"),
    *("Escape", "Tab", "Enter", "Backspace", "Delete", "Insert", "Shift", "Control", "Alt"),
)
CANDIDATES = (*string.printable.strip(), " ", *NAMED_KEYS)
MODIFIERS = ((), ("Control",), ("Shift",), ("Alt",))


def fake_app() -> SimpleNamespace:
    """What the key actions reach in an app: the state (a real one) and the app's own
    actions, which record their calls."""
    app = SimpleNamespace(state=AppState(), calls=[], _char_pending=False)
    app.state.t = 0.5
    app.state.look.ui_scale = 1.5
    for name in ("save_screenshot", "toggle_recording", "on_fullscreen"):
        setattr(app, name, lambda name=name: app.calls.append(name))
    return app


def press(app: SimpleNamespace, key: str, modifiers: tuple[str, ...] = ()) -> None:
    App._on_key(app, {"key": key, "modifiers": modifiers})


def snapshot(app: SimpleNamespace) -> tuple:
    state = app.state
    look = dataclasses.asdict(state.look)
    return (look, state.t, state.playing, (state.data, state.run), len(state.runs), list(app.calls))


STEP = 1 / AppState().run.steps
EXPECTED = {
    " ": lambda app: app.state.playing,
    "ArrowLeft": lambda app: app.state.t == pytest.approx(0.5 - STEP),
    "ArrowRight": lambda app: app.state.t == pytest.approx(0.5 + STEP),
    "Home": lambda app: app.state.t == 0.0 and not app.state.playing,
    "End": lambda app: app.state.t == 1.0 and not app.state.playing,
    **{
        str(k): lambda app, name=name: app.state.data.dataset == name
        for k, name in enumerate(DATASETS, start=1)
    },
    **dict.fromkeys("cC", lambda app: len(app.state.runs) == 2),
    **dict.fromkeys("=+", lambda app: app.state.look.ui_scale == 1.75),
    "-": lambda app: app.state.look.ui_scale == 1.25,
    **dict.fromkeys("hH", lambda app: not app.state.look.show_ui),
    **dict.fromkeys("eE", lambda app: app.state.look.show_explain),
    "?": lambda app: app.state.look.show_keys,
    **dict.fromkeys("pP", lambda app: app.state.look.show_schedule),
    "F11": lambda app: app.calls == ["on_fullscreen"],
    **dict.fromkeys("sS", lambda app: app.calls == ["save_screenshot"]),
    **dict.fromkeys("rR", lambda app: app.calls == ["toggle_recording"]),
}


def test_every_listed_key_does_what_the_keys_window_says():
    bound = [key for binding in BINDINGS for key in binding.keys]
    assert sorted(bound) == sorted(EXPECTED)  # each key in one binding, each one checked
    for binding in BINDINGS:
        for key in binding.keys:
            app = fake_app()
            if key in DATASET_KEYS:  # start from another dataset, so that choosing shows
                press(app, "2" if key == "1" else "1")
            press(app, key, () if binding.modifier is None else (binding.modifier,))
            assert EXPECTED[key](app), (key, binding.help)


def test_a_key_outside_the_table_does_nothing():
    """A key with no binding (0, 8 and 9 past the datasets, = without ctrl, ...) changes
    nothing; each binding is listed in the keys window."""
    listed = {label for label, _ in help_rows()}
    for key in CANDIDATES:
        for modifiers in MODIFIERS:
            app = fake_app()
            before = snapshot(app)
            press(app, key, modifiers)
            binding = binding_for(key, modifiers)
            if binding is None:
                assert snapshot(app) == before, (key, modifiers)
            else:
                assert binding.label in listed
    for key in ("0", "8", "9", "="):
        assert binding_for(key, ()) is None
    assert binding_for(None, ()) is None


def test_the_keys_window_lists_every_binding_then_the_mouse(monkeypatch):
    shown: list[str] = []
    fake = SimpleNamespace(
        set_next_window_pos=lambda *_: None,
        begin=lambda *_: (True, True),
        text=shown.append,
        end=lambda: None,
        Cond_=SimpleNamespace(first_use_ever=0),
        WindowFlags_=SimpleNamespace(always_auto_resize=0),
    )
    monkeypatch.setattr(controls, "imgui", fake)
    state = AppState()
    state.look.show_keys = True
    controls.keys_window(state)
    rows = [(b.label, b.help) for b in BINDINGS] + list(POINTER_HELP)
    assert shown == [f"{keys:>16}   {action}" for keys, action in rows]
    assert rows == [  # the help as it read before the table drove the handler
        ("space", "play / pause"),
        ("left / right", "one step back / forward"),
        ("Home / End", "t = 0 / t = 1"),
        ("1 - 7", "choose a dataset"),
        ("C", "single view / 2 panels / 4 panels"),
        ("ctrl + / ctrl -", "larger / smaller (1x to 3x)"),
        ("H", "hide / show the controls"),
        ("F11", "fullscreen"),
        ("E", "show / hide the explanation"),
        ("P", "show / hide the schedule (alpha, sigma, SNR)"),
        ("S", "save a screenshot (PNG)"),
        ("R", "start / stop recording (MP4)"),
        ("?", "show / hide these keys"),
        ("click", "follow a particle (shift: add)"),
    ]


def test_a_key_reaches_the_app_while_imgui_holds_a_button_but_not_while_it_takes_text():
    """ImGui wants the keyboard while any item is active (a button held) and says so from
    the last frame; the app's keys must still act then (F11 right after a click was lost),
    and must not while a text field is being typed in."""
    from imgui_bundle import imgui

    from dexplorer.headless import offscreen_app

    app = offscreen_app(AppState(), (640, 400), "cpu")
    app.canvas.draw()
    calls = []
    app.on_fullscreen = lambda: calls.append("fullscreen")
    io = imgui.get_io()
    for text, expected in ((False, ["fullscreen"]), (True, [])):
        calls.clear()
        io.want_capture_keyboard, io.want_text_input = True, text
        app.canvas.submit_event({"event_type": "key_down", "key": "F11", "modifiers": ()})
        app.canvas._events.flush()
        assert calls == expected
    app.close()


def test_question_mark_as_a_window_library_reports_it_and_as_a_browser_does():
    """glfw reports shift and / as the key "/" and then the character "?"; a browser reports
    the key "?" (and may send the character too): the keys window toggles once either way.
    With Caps Lock the key e types E: the binding acts once; a held key's repeated
    characters do not act again."""
    app = fake_app()
    App._on_key(app, {"key": "/", "modifiers": ("Shift",)})
    App._on_char(app, {"data": "?"})
    App._on_char(app, {"data": "?"})  # held: repeated
    assert app.state.look.show_keys
    App._on_key(app, {"key": "?", "modifiers": ("Shift",)})
    App._on_char(app, {"data": "?"})
    assert not app.state.look.show_keys
    App._on_key(app, {"key": "s", "modifiers": ()})
    App._on_char(app, {"data": "S"})  # Caps Lock
    assert app.calls == ["save_screenshot"]
    App._on_key(app, {"key": "x", "modifiers": ()})
    App._on_char(app, {"data": "x"})  # a character of no binding does nothing
    assert not app.state.look.show_keys and app.calls == ["save_screenshot"]
