"""The source chooser in the data section: what the particles start from at t = 0 (N(0, I),
a bundled dataset, or a points file), with why diffusion keeps the Gaussian."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from imgui_bundle import imgui

from ..core.datasets import DATASETS
from ..core.sources import CUSTOM_SOURCE, GAUSSIAN
from ..state import AppState

if TYPE_CHECKING:
    from .controls import Status

NOTE = "flow matching from this shape; diffusion keeps N(0, I)"


def source_names(state: AppState) -> list[str]:
    """The sources offered: the Gaussian, the bundled datasets, the custom source if any."""
    return [GAUSSIAN, *DATASETS, *([CUSTOM_SOURCE] if state.custom_source is not None else [])]


def shown_name(name: str, state: AppState) -> str:
    if name == GAUSSIAN:
        return "Gaussian N(0, I)"
    if name == CUSTOM_SOURCE and state.custom_source is not None:
        return f"file: {state.custom_source.title}"
    return DATASETS[name][0] if name in DATASETS else name


def source_section(
    state: AppState,
    status: Status,
    file_row: Callable[[Status, str, str, Callable[[str], object], tuple[str, str]], None],
) -> None:
    """The source combo, a row to open a points file as the source (``file_row``: the
    controls' typed path, button and dialog), and a note when the source is not the
    Gaussian."""
    names = source_names(state)
    current = names.index(state.data.source) if state.data.source in names else 0
    changed, index = imgui.combo("source (t=0)", current, [shown_name(n, state) for n in names])
    if changed:
        state.choose_source(names[index])
    dialog = ("choose a source...", "Open source")
    file_row(status, "source_path", "open source", state.open_source, dialog)
    if state.data.source != GAUSSIAN:
        imgui.push_text_wrap_pos(0.0)
        imgui.text_disabled(NOTE)
        imgui.pop_text_wrap_pos()
