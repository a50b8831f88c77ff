"""Every widget of the controls has an ID of its own: two with the same label in one window
make Dear ImGui put its red "conflicting ID" box over the view when either is hovered (the
particles' count and the particles layer did, and the brush's density and the density
layer). And every label after a field fits in the room the fields leave for the widest."""

from __future__ import annotations

from collections import Counter

import pytest

WIDGETS = {
    "button",
    "checkbox",
    "combo",
    "input_float",
    "input_int",
    "input_text",
    "selectable",
    "slider_float",
    "slider_int",
}

TRAILING = WIDGETS - {"button", "checkbox", "selectable"}
"""The widgets whose label follows the field, in the room the field's width leaves."""


def widget_id(label: str) -> str:
    """What ImGui hashes of a label: after ``###`` when there is one, else all of it."""
    return label.split("###", 1)[1] if "###" in label else label


class Recorder:
    """Wraps the imgui module: counts each widget's ID under the windows, tree nodes and
    combo lists open when it is drawn."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.scope: list[str] = []
        self.ids: Counter = Counter()
        self.trailing: set[str] = set()

    def __getattr__(self, name: str) -> object:
        function = getattr(self.real, name)
        if not callable(function) or isinstance(function, type):
            return function

        def call(*args: object, **kwargs: object) -> object:
            result = function(*args, **kwargs)
            label = args[0] if args and isinstance(args[0], str) else ""
            if name in WIDGETS:
                self.ids[(tuple(self.scope), widget_id(label))] += 1
            if name in TRAILING:
                self.trailing.add(label.split("##")[0])
            opened = result[0] if isinstance(result, tuple) else result
            if name == "begin" or (name in ("tree_node", "begin_combo") and opened):
                self.scope.append(f"{name}:{label}")
            elif name in ("end", "tree_pop", "end_combo"):
                self.scope.pop()
            return result

        return call


@pytest.mark.parametrize("view", ["single", "draw", "compare"])
def test_no_two_widgets_share_an_id(monkeypatch, view):
    pytest.importorskip("pygfx")
    from test_scene import _adapter_problem

    if _adapter_problem():
        pytest.skip(_adapter_problem())
    from imgui_bundle import imgui

    from dexplorer.headless import offscreen_app
    from dexplorer.state import AppState
    from dexplorer.ui import backend, controls, dialogs, runs, source

    recorder = Recorder(imgui)
    for module in (backend, controls, dialogs, runs, source):
        monkeypatch.setattr(module, "imgui", recorder)
    state = AppState()
    state.change(n=500, steps=5)
    if view == "draw":
        state.mode = "draw"
    if view == "compare":
        assert state.set_view(2)
    app = offscreen_app(state, (1000, 700), "cpu")
    try:
        app.settle()
        recorder.ids.clear()
        app.screenshot()
        assert recorder.ids, "no widget was recorded"
        twice = {key: count for key, count in recorder.ids.items() if count > 1}
        assert not twice
        imgui.set_current_context(app.ui.imgui_context)
        room = imgui.calc_text_size(controls.WIDEST_LABEL).x
        labels = {label.split("##")[0] for (_, label) in recorder.ids}
        after = {label for label in labels if label and label in recorder.trailing}
        assert after and all(imgui.calc_text_size(label).x <= room for label in after)
        assert any("begin:" in scope[0] for scope, _ in recorder.ids if scope)
    finally:
        app.close()
