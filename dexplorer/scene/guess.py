"""The denoiser's guess layer: where the model thinks each particle lands, x1_hat, as faint
points, and a thin line from each selected particle to its guess."""

from __future__ import annotations

import numpy as np
import pygfx as gfx

from .layer import Color, Layer
from .lines import _line
from .particles import SplatPoints, points_buffer, refill

GUESS_LOOK = (1.0, 0.3)
"""The guesses' size (a share of the particles') and opacity."""
RENDER_ORDER = 4
"""Over the particles (3): the guesses are what this layer is for."""
MAX_LINES = 32


class GuessLayer(Layer):
    """Owns the guesses' splatted cloud (its own buffer, filled from the engine's array when
    new guesses arrive) and the segments from the selected particles to their guesses."""

    role = "guess"

    def __init__(self, color: Color) -> None:
        super().__init__(tuple(color))
        self.cloud = SplatPoints(points_buffer([]), color, 3.0, GUESS_LOOK[1], RENDER_ORDER)
        self.lines = _line(np.full((2 * MAX_LINES, 3), np.nan, np.float32), color, 1.2, 0.8, True)
        self.lines.render_order = RENDER_ORDER
        self.drawn: object = None
        """What the cloud holds: the app's key for the guesses it was last given."""

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.cloud.points, self.lines]

    def set_guesses(self, guesses: np.ndarray) -> None:
        """Draw the guesses (n, 2); NaN rows are not drawn."""
        geometry = self.cloud.points.geometry
        geometry.points = refill(geometry.points, guesses)

    def set_lines(self, starts: np.ndarray, ends: np.ndarray) -> None:
        """Segments from ``starts`` (k, 2) to ``ends`` (k, 2), as many as fit (none for
        k = 0); a segment with a NaN end is not drawn."""
        data = self.lines.geometry.positions.data
        count = min(len(starts), MAX_LINES)
        data[:] = np.nan
        data[: 2 * count : 2, :2] = starts[:count]
        data[1 : 2 * count : 2, :2] = ends[:count]
        data[: 2 * count, 2] = 0
        self.lines.geometry.positions.update_full()
        self.lines.visible = self.visible and count > 0

    def set_style(self, size: float) -> None:
        """The guesses' size follows the particles' ``size`` (logical pixels)."""
        self.cloud.set_style(max(GUESS_LOOK[0] * size, 1.5), GUESS_LOOK[1])

    def set_color(self, color: Color) -> None:
        self.color = tuple(color)
        self.cloud.set_color(color)
        self.lines.material.color = (*color, 1.0)
