"""The keyboard: one table of bindings that the app's key handler dispatches through and the
keys window (?) lists, so every key that does something is listed and every key listed
does what it says."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.datasets import DATASETS

if TYPE_CHECKING:
    from ..app import App

CONTROL = "Control"


@dataclass(frozen=True)
class Binding:
    """One row of the table: the keys that do one thing, the modifier they need (``None``:
    pressed with any modifiers), how the keys window names them and what it says they do,
    and the action, called with the app and the key pressed."""

    keys: tuple[str, ...]
    label: str
    help: str
    action: Callable[[App, str], None]
    modifier: str | None = None

    def matches(self, key: str, modifiers: Sequence[str]) -> bool:
        """Whether pressing ``key`` with ``modifiers`` performs this binding."""
        return key in self.keys and (self.modifier is None or self.modifier in modifiers)


def _toggle(flag: str) -> Callable[[App, str], None]:
    """An action that flips ``state.look.<flag>``."""

    def action(app: App, _: str) -> None:
        setattr(app.state.look, flag, not getattr(app.state.look, flag))

    return action


def _fullscreen(app: App, _: str) -> None:
    if app.on_fullscreen is not None:
        app.on_fullscreen()


DATASET_KEYS = tuple(str(k) for k in range(1, min(len(DATASETS), 9) + 1))
"""The digits that choose a bundled dataset, in the order of :data:`DATASETS`."""

BINDINGS = (
    Binding((" ",), "space", "play / pause", lambda app, _: app.state.toggle_play()),
    Binding(
        ("ArrowLeft", "ArrowRight"),
        "left / right",
        "one step back / forward",
        lambda app, key: app.state.step(-1 if key == "ArrowLeft" else +1),
    ),
    Binding(
        ("Home", "End"),
        "Home / End",
        "t = 0 / t = 1",
        lambda app, key: app.state.jump(0.0 if key == "Home" else 1.0),
    ),
    Binding(
        DATASET_KEYS,
        f"1 - {DATASET_KEYS[-1]}",
        "choose a dataset",
        lambda app, key: app.state.choose_dataset(int(key) - 1),
    ),
    Binding(
        ("c", "C"),
        "C",
        "single view / 2 panels / 4 panels",
        lambda app, _: app.state.cycle_view(),
    ),
    Binding(
        ("=", "+", "-"),
        "ctrl + / ctrl -",
        "larger / smaller (1x to 3x)",
        lambda app, key: app.state.scale_ui(-1 if key == "-" else +1),
        CONTROL,
    ),
    Binding(("h", "H"), "H", "hide / show the controls", _toggle("show_ui")),
    Binding(("F11",), "F11", "fullscreen", _fullscreen),
    Binding(("e", "E"), "E", "show / hide the explanation", _toggle("show_explain")),
    Binding(
        ("p", "P"), "P", "show / hide the schedule (alpha, sigma, SNR)", _toggle("show_schedule")
    ),
    Binding(("s", "S"), "S", "save a screenshot (PNG)", lambda app, _: app.save_screenshot()),
    Binding(("r", "R"), "R", "start / stop recording (MP4)", lambda app, _: app.toggle_recording()),
    Binding(("?",), "?", "show / hide these keys", _toggle("show_keys")),
)

POINTER_HELP = (("click", "follow a particle (shift: add)"),)
"""What the mouse does, listed after the keys (the app's pointer handler does it)."""


def binding_for(key: str | None, modifiers: Sequence[str] = ()) -> Binding | None:
    """The binding that pressing ``key`` with ``modifiers`` performs, if any."""
    return next((b for b in BINDINGS if key is not None and b.matches(key, modifiers)), None)


def help_rows() -> list[tuple[str, str]]:
    """The keys window's rows: (keys, what they do) for every binding, then the mouse."""
    return [(binding.label, binding.help) for binding in BINDINGS] + list(POINTER_HELP)
