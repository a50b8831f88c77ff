"""Overlays: the faint data points, the source (the Gaussian's sigma rings or a shape's
points), the time label."""

from __future__ import annotations

import numpy as np
import pygfx as gfx

from .layer import Color, Layer
from .particles import SplatPoints, fill_points, points_buffer, refill


class DataLayer(SplatPoints):
    """Owns the faint points of the target data."""

    role = "data"

    def __init__(
        self,
        points: np.ndarray,
        color: Color,
        size: float = 2.5,
        opacity: float = 0.35,
    ) -> None:
        super().__init__(points_buffer(points), color, size, opacity, render_order=0)

    def set_points(self, points: np.ndarray) -> None:
        """Show other data: in the same buffers when they fit."""
        geometry = self.points.geometry
        buffer = refill(geometry.points, points)
        if buffer is not geometry.points:
            geometry.points = buffer
            geometry.colors = self.colors = gfx.Buffer(np.ones((buffer.nitems, 4), np.float32))


class PreviewLayer(SplatPoints):
    """Owns a fixed-capacity set of points shown over the flow: the training preview
    (samples of the current weights at t = 1) or the drawing being painted, in the theme's
    colour ``role``."""

    def __init__(self, capacity: int, color: Color, role: str) -> None:
        empty = np.zeros((0, 2), np.float32)
        super().__init__(points_buffer(empty, capacity), color, 3.0, 0.6, 3, role)
        self.set_visible(False)

    def update(self, samples: np.ndarray) -> None:
        buffer = self.points.geometry.points
        fill_points(buffer.data, samples)
        buffer.update_full()


def circle(radius: float, segments: int = 128) -> np.ndarray:
    angle = np.linspace(0, 2 * np.pi, segments + 1)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle), 0 * angle], 1)


class SourceRings(Layer):
    """Owns the drawing of the source at t = 0: the 1, 2 and 3 sigma circles of N(0, I), or
    the points of a source shape (:meth:`set_source`)."""

    role = "source"

    def __init__(self, color: Color) -> None:
        super().__init__(tuple(color))
        rings = [circle(r) for r in (1.0, 2.0, 3.0)]
        gap = np.full((1, 3), np.nan)
        positions = np.concatenate([rings[0], gap, rings[1], gap, rings[2]]).astype(np.float32)
        material = gfx.LineMaterial(
            thickness=1.5,
            color=(*color, 1.0),
            opacity=0.6,
            aa=True,
            pick_write=False,
            dash_pattern=(4, 3),
        )
        material.alpha_mode = "blend"
        self.line = gfx.Line(gfx.Geometry(positions=positions), material, render_order=0)
        dots = gfx.PointsMaterial(
            size=2.0, color=(*color, 1.0), opacity=0.5, aa=True, pick_write=False
        )
        dots.alpha_mode = "blend"
        empty = np.zeros((1, 3), np.float32)
        self.dots = gfx.Points(gfx.Geometry(positions=empty), dots, render_order=0)
        self.dots.visible = False
        self.shape: np.ndarray | None = None

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.line, self.dots]

    def set_visible(self, visible: bool) -> None:
        self.visible = bool(visible)
        self.line.visible = self.visible and self.shape is None
        self.dots.visible = self.visible and self.shape is not None

    def set_source(self, points: np.ndarray | None) -> None:
        """Draw the source: the rings (``None``: N(0, I)) or these points (K, 2)."""
        if points is self.shape:
            return
        self.shape = points
        if points is not None:
            positions = np.zeros((len(points), 3), np.float32)
            positions[:, :2] = points
            self.dots.geometry = gfx.Geometry(positions=positions)
        self.set_visible(self.visible)


class TimeLabel(Layer):
    """Owns the large "t = 0.50" label in screen space."""

    role = "text"

    def __init__(self, color: Color, font_size: float = 40) -> None:
        super().__init__(tuple(color))
        material = gfx.TextMaterial(color=(*color, 1.0), pick_write=False)
        self.text = gfx.Text(
            text="t = 0.00",
            font_size=font_size,
            screen_space=True,
            anchor="top-left",
            material=material,
            render_order=5,
        )
        self._shown = ""

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.text]

    def set_size(self, font_size: float) -> None:
        if self.text.font_size != font_size:
            self.text.font_size = font_size

    def update(self, t: float, note: str = "") -> None:
        """Show ``t``, with the ``note`` in brackets when there is one."""
        label = f"t = {t:.2f}" + (f" ({note})" if note else "")
        if label != self._shown:
            self.text.set_text(label)
            self._shown = label
