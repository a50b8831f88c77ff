"""Line layers: the paths of chosen particles, the warped mesh, the velocity arrows."""

from __future__ import annotations

import numpy as np
import pygfx as gfx

from .layer import Color, Layer
from .release import forget_bindings


def _line(
    positions: np.ndarray,
    color: tuple,
    thickness: float,
    opacity: float,
    segments: bool = False,
) -> gfx.Line:
    material_class = gfx.LineSegmentMaterial if segments else gfx.LineMaterial
    material = material_class(
        thickness=thickness, color=(*color, 1.0), opacity=opacity, aa=True, pick_write=False
    )
    material.alpha_mode = "blend"
    return gfx.Line(gfx.Geometry(positions=positions), material, render_order=2)


class PathsLayer(Layer):
    """Owns the polylines of the selected particles: the whole path faint, the part already
    travelled (up to the current t) solid. Paths are separated by NaN vertices."""

    role = "path"

    def __init__(self, max_paths: int, steps: int, color: Color) -> None:
        super().__init__(tuple(color))
        self.capacity = max_paths * (steps + 2)
        self.future = _line(np.full((self.capacity, 3), np.nan, np.float32), color, 1.5, 0.35)
        self.past = _line(np.full((self.capacity, 3), np.nan, np.float32), color, 3.0, 0.95)

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.future, self.past]

    def update(self, paths: np.ndarray, cut: int) -> None:
        """``paths`` (steps + 1, k, 2), travelled up to step ``cut``; as many as fit."""
        future = self.future.geometry.positions
        past = self.past.geometry.positions
        future.data[:] = np.nan
        past.data[:] = np.nan
        steps = paths.shape[0] - 1
        row = 0
        for k in range(paths.shape[1]):
            if row + steps + 2 > self.capacity:
                break
            future.data[row : row + steps + 1, :2] = paths[:, k]
            future.data[row : row + steps + 1, 2] = 0
            past.data[row : row + cut + 1, :2] = paths[: cut + 1, k]
            past.data[row : row + cut + 1, 2] = 0
            row += steps + 2
        # Only the rows written are drawn: a line vertex costs the rasterizer even when NaN.
        for buffer in (future, past):
            buffer.draw_range = 0, max(row, 1)
            buffer.update_range(0, max(row, 1))


class MeshLayer(Layer):
    """Owns the lines of a K x K grid of points pushed through the flow: K rows and K columns,
    each a polyline, separated by NaN vertices."""

    role = "mesh"

    def __init__(self, count: int, color: Color) -> None:
        super().__init__(tuple(color))
        self.count = count
        self.line = _line(
            np.full((2 * count * (count + 1), 3), np.nan, np.float32), color, 1.2, 0.7
        )

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.line]

    def update(self, points: np.ndarray) -> None:
        """``points`` (K*K, 2), row by row as :func:`~dexplorer.engine.grids.grid_points`
        (another K than before gets vertices of its own)."""
        k = round(len(points) ** 0.5)
        if k != self.count:
            self.count = k
            vertices = np.full((2 * k * (k + 1), 3), np.nan, np.float32)
            self.line.geometry = gfx.Geometry(positions=vertices)
            forget_bindings()
        grid = points.reshape(k, k, 2)
        data = self.line.geometry.positions.data
        lines = np.concatenate([grid, grid.transpose(1, 0, 2)])  # rows, then columns
        view = data.reshape(2 * k, k + 1, 3)
        view[:, :k, :2] = lines
        view[:, :k, 2] = 0
        self.line.geometry.positions.update_full()


class VectorsLayer(Layer):
    """Owns the arrows of the velocity field on a G x G grid: a shaft and two barbs each."""

    role = "vectors"

    def __init__(self, count: int, color: Color) -> None:
        super().__init__(tuple(color))
        self.line = _line(
            np.zeros((6 * count * count, 3), np.float32), color, 1.3, 0.75, segments=True
        )

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.line]

    def update(self, points: np.ndarray, velocity: np.ndarray, length: float) -> None:
        """Arrows from ``points`` along ``velocity``, the longest ``length`` world units (as
        many arrows as points: another number than before gets vertices of its own)."""
        if 6 * len(points) != self.line.geometry.positions.nitems:
            vertices = np.zeros((6 * len(points), 3), np.float32)
            self.line.geometry = gfx.Geometry(positions=vertices)
            forget_bindings()
        speed = np.linalg.norm(velocity, axis=1, keepdims=True)
        scale = length / max(float(speed.max()), 1e-9)
        tip = points + velocity * scale
        direction = velocity / np.maximum(speed, 1e-9)
        normal = direction[:, ::-1] * np.array([-1.0, 1.0])
        barb = 0.3 * np.minimum(speed * scale, length)
        left = tip - barb * (direction - 0.5 * normal)
        right = tip - barb * (direction + 0.5 * normal)
        segments = np.stack([points, tip, tip, left, tip, right], axis=1).reshape(-1, 2)
        data = self.line.geometry.positions.data
        data[:, :2] = segments
        self.line.geometry.positions.update_full()
