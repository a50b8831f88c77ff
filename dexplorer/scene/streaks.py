"""The streaks layer: short fading trails of tracers carried by the velocity field."""

from __future__ import annotations

import numpy as np
import pygfx as gfx

from .layer import Color, Layer
from .release import forget_bindings

WIDTH = 1.6
"""Trail width in pixels at presentation scale 1x."""
OPACITY = 0.8
"""Opacity of a trail's head; it fades to nothing at its tail."""


class StreaksLayer(Layer):
    """Owns one line object of segments, a tracer's trail each (the newest segment opaque,
    fading to its tail), coloured by the theme through per-vertex colours; drawn under the
    particles so it never hides them."""

    role = "streaks"

    def __init__(self, color: Color) -> None:
        super().__init__(tuple(color))
        material = gfx.LineSegmentMaterial(
            thickness=WIDTH, color_mode="vertex", aa=True, pick_write=False
        )
        material.alpha_mode = "blend"
        self.line = gfx.Line(self._geometry(0, 2), material, render_order=2)
        self.drawn: object = None
        """What the app last drew here (its key: which tracers, after how many steps)."""

    @staticmethod
    def _geometry(count: int, trail: int) -> gfx.Geometry:
        vertices = max(1, 2 * count * (trail - 1))
        positions = np.full((vertices, 3), np.nan, np.float32)
        positions[:, 2] = 0
        return gfx.Geometry(positions=positions, colors=np.zeros((vertices, 4), np.float32))

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.line]

    def set_color(self, color: Color) -> None:
        self.color = tuple(color)
        colors = self.line.geometry.colors
        colors.data[:, :3] = color
        colors.update_full()

    def set_width(self, width: float) -> None:
        """Trail width in pixels (written only when it changed)."""
        if self.line.material.thickness != np.float32(width):
            self.line.material.thickness = width

    def update(self, trails: np.ndarray, fade: np.ndarray) -> None:
        """Draw ``trails`` (count, T, 2), each tracer's positions the newest first (NaN where
        a trail has not grown yet), with each tracer's opacity scaled by ``fade`` (count,)."""
        count, trail = trails.shape[:2]
        geometry = self.line.geometry
        if geometry.positions.nitems != 2 * count * (trail - 1):
            self.line.geometry = geometry = self._geometry(count, trail)
            geometry.colors.data[:, :3] = self.color
            forget_bindings()
        segments = np.stack([trails[:, :-1], trails[:, 1:]], axis=2)  # (count, T - 1, 2, 2)
        geometry.positions.data[:, :2] = segments.reshape(-1, 2)
        along = OPACITY * (1 - np.arange(trail) / (trail - 1))  # per position, head first
        ends = np.stack([along[:-1], along[1:]], axis=1)  # (T - 1, 2)
        alpha = fade[:, None, None] * ends[None]
        geometry.colors.data[:, 3] = alpha.reshape(-1)
        geometry.positions.update_full()
        geometry.colors.update_full()
