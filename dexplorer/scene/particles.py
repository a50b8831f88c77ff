"""The particles: tens of thousands of round, translucent points."""

from __future__ import annotations

import numpy as np
import pygfx as gfx

from .colors import particle_colors


class ParticlesLayer:
    """Owns the pygfx Points of the particles, drawing straight from the shared (n, 3)
    positions arrays (the engine writes them in place; one, or two taking turns), and their
    colour buffer."""

    def __init__(
        self, positions: tuple[np.ndarray, ...], size: float = 4.0, opacity: float = 0.5
    ) -> None:
        self.buffers = [gfx.Buffer(array) for array in positions]
        self.positions = self.buffers[0]
        self.colors = gfx.Buffer(np.ones((len(positions[0]), 4), dtype=np.float32))
        geometry = gfx.Geometry(positions=self.positions, colors=self.colors)
        material = gfx.PointsMaterial(
            size=size, color_mode="vertex", aa=True, opacity=opacity, pick_write=False
        )
        self.points = gfx.Points(geometry, material, render_order=3)
        self.points.material.alpha_mode = "blend"

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.points]

    def set_colors(
        self,
        mode: str,
        uniform: tuple[float, float, float],
        labels: np.ndarray | None = None,
        start: np.ndarray | None = None,
    ) -> None:
        """Recolour: ``"uniform"``, ``"class"`` (by label) or ``"start"`` (by starting point)."""
        rgb = particle_colors(mode, self.colors.data.shape[0], uniform, labels, start)
        self.colors.data[:, :3] = rgb
        self.colors.update_full()

    def set_style(self, size: float, opacity: float) -> None:
        self.points.material.size = size
        self.points.material.opacity = opacity

    def update(self, array: np.ndarray) -> None:
        """``array`` (one of the shared arrays) holds new positions: draw and upload it."""
        if self.positions.data is not array:
            self.positions = next(b for b in self.buffers if b.data is array)
            self.points.geometry.positions = self.positions
        self.positions.update_full()

    def set_visible(self, visible: bool) -> None:
        self.points.visible = visible
