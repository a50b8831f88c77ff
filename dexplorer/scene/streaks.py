"""The streaks layer: short fading trails of tracers carried by the velocity field.

A trail is drawn as a row of splatted points (see :mod:`~dexplorer.scene.particles`), each with
its own opacity, not as a line: on a software rasterizer a line of thickness costs a quad of
triangles a segment, ten times what the splat of its points costs.
"""

from __future__ import annotations

import numpy as np
import pygfx as gfx

from .layer import Color
from .particles import SplatPoints, points_buffer
from .release import forget_bindings

WIDTH = 2.0
"""Trail width in pixels at presentation scale 1x."""
OPACITY = 0.85
"""Opacity of a trail's head; it fades to nothing at its tail."""
PANEL_AREA = 250.0
"""Square pixels of a panel for each tracer drawn: streaks as dense on a small panel as on
a large one."""


def tracers_for(rect: tuple[float, ...]) -> int:
    """How many tracers a panel of ``rect`` (x, y, w, h in logical pixels) draws."""
    return max(1, int(rect[2] * rect[3] / PANEL_AREA))


class StreaksLayer(SplatPoints):
    """Owns one cloud of splatted points, each tracer's trail positions and the midpoints
    between them (so a trail reads as a line, not as dots, up to twice the reference
    speed), the newest opaque, fading to the trail's tail, in the theme's colour; drawn
    under the particles so it never hides them."""

    role = "streaks"

    def __init__(self, color: Color) -> None:
        self.positions = points_buffer([], 1)
        super().__init__(self.positions, color, WIDTH, 1.0, render_order=2)
        self.material.point_alpha = True
        self.drawn: object = None
        """What the app last drew here (its key: which tracers, after how many steps)."""

    def _resize(self, count: int) -> None:
        """Buffers for ``count`` points (the accumulator is kept)."""
        self.positions = points_buffer([], count)
        self.colors = gfx.Buffer(np.zeros((count, 4), np.float32))
        geometry = self.points.geometry
        geometry.points, geometry.colors = self.positions, self.colors
        forget_bindings()

    def set_width(self, width: float) -> None:
        """Trail width in pixels (written only when it changed)."""
        self.set_style(width, 1.0)

    def update(self, trails: np.ndarray, fade: np.ndarray) -> None:
        """Draw ``trails`` (count, T, 2), each tracer's positions the newest first (NaN where
        a trail has not grown yet), with each tracer's opacity scaled by ``fade`` (count,)."""
        count, trail = trails.shape[:2]
        drawn = 2 * trail - 1
        if self.positions.nitems != count * drawn:
            self._resize(count * drawn)
        points = self.positions.data.reshape(count, drawn, 2)
        points[:, ::2] = trails
        points[:, 1::2] = 0.5 * (trails[:, :-1] + trails[:, 1:])
        along = OPACITY * np.linspace(1.0, 0.0, drawn, dtype=np.float32)
        self.colors.data.reshape(count, drawn, 4)[:, :, 3] = fade[:, None] * along
        self.positions.update_full()
        self.colors.update_full()
