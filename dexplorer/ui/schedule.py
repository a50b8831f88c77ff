"""The schedule window (P): alpha(t), sigma(t) and the log signal-to-noise ratio of the
paths of the runs shown, one set of curves per distinct path, with the current t marked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from imgui_bundle import imgui, implot

if TYPE_CHECKING:
    from ..core.paths import Path
    from ..core.schedule import Schedule
    from ..state import AppState

WINDOW_SIZE = (400.0, 360.0)
"""The window's size at 1x (it opens at the bottom right of the view, above the time bar)."""
_CACHE: dict[tuple[str, ...], list[Schedule]] = {}


def curves(paths: list[Path]) -> list[Schedule]:
    """The schedules of ``paths`` (computed once for each set of distinct paths)."""
    from ..core.schedule import path_key, schedules

    key = tuple(path_key(path) for path in paths)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = schedules(paths)
    return _CACHE[key]


ROWS = (
    ("alpha", (0.0, 1.05)),
    ("sigma", (0.0, 1.05)),
    ("log SNR", (-12.0, 12.0)),
)
"""The three plots, top to bottom: what each shows and its fixed y range (the log-SNR
axis clips the ends, where it is infinite)."""


def schedule_window(
    state: AppState, paths: list[Path], corner: tuple[float, float], scale: float
) -> None:
    """The schedule window (shown with ``look.show_schedule``; it opens with its bottom
    right at ``corner``): alpha, sigma and the log-SNR of each distinct path stacked over
    the same t axis, a vertical line at t."""
    if not state.look.show_schedule or not paths:
        return
    size = (WINDOW_SIZE[0] * scale, WINDOW_SIZE[1] * scale)
    position = (corner[0] - size[0] - 10 * scale, corner[1] - size[1] - 10 * scale)
    imgui.set_next_window_pos(position, imgui.Cond_.first_use_ever)
    imgui.set_next_window_size(size, imgui.Cond_.first_use_ever)
    imgui.set_next_window_bg_alpha(0.85)
    opened, state.look.show_schedule = imgui.begin("schedule (P)", True)
    if opened:
        imgui.text("x_t = alpha x1 + sigma e;  log SNR = ln(alpha^2 / sigma^2)")
    flags = implot.SubplotFlags_.share_items | implot.SubplotFlags_.link_all_x
    ratios = implot.SubplotsRowColRatios([1.0, 1.0, 1.5], [1.0])  # the last row has the t axis
    if opened and implot.begin_subplots("##schedule", len(ROWS), 1, (-1, -1), flags, ratios):
        shown = curves(paths)
        for row, (name, limits) in enumerate(ROWS):
            if implot.begin_plot(f"##{name}"):
                no_x = implot.AxisFlags_.no_tick_labels if row < len(ROWS) - 1 else 0
                implot.setup_axes("", name, no_x)
                implot.setup_axis_limits(implot.ImAxis_.x1, -0.02, 1.02, implot.Cond_.always)
                implot.setup_axis_limits(implot.ImAxis_.y1, *limits, implot.Cond_.always)
                for curve in shown:
                    xs, ys = series(curve, row)
                    implot.plot_line(curve.label, xs, ys)
                implot.plot_inf_lines("t now", np.array([state.t]))
                implot.end_plot()
        implot.end_subplots()
    imgui.end()


def series(curve: Schedule, row: int) -> tuple[np.ndarray, np.ndarray]:
    """The (t, value) pairs of ``curve`` the plot of ``row`` draws."""
    if row == 0:
        return curve.t, curve.alpha
    if row == 1:
        return curve.t, curve.sigma
    return curve.snr_t, curve.log_snr
