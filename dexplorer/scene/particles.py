"""Points splatted in a compute pass: the particles, and every other cloud of points.

Drawing each point as a quad is what limits a software rasterizer (lavapipe spends most of
the frame on triangle set-up), so points are two passes over one accumulator with an entry
per pixel of the panel (``shaders/particles_*.wgsl``): a compute pass adds every point's
anti-aliased disc to it with atomics, and one quad resolves it into colour (and zeroes it).
The result is what the over operator would give for points of one colour, in any order; with
a colour per point each pixel shows the mean colour of the points over it, weighted by their
opacity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import ClassVar

import numpy as np
import pygfx as gfx
import wgpu
from pygfx.renderers.wgpu import BaseShader, Binding, register_wgpu_render_function

from ..resources import data_dir
from .colors import particle_colors

SPLAT_WORKGROUP = 256
MAX_WORKGROUPS = 65535
DEFAULT_CAPACITY = 1280 * 720
"""Pixels the accumulator holds until :func:`fit_splats` grows it to the canvas."""


class SplatMaterial(gfx.Material):
    """Point size (logical pixels), opacity, the uniform colour, whether each point has its
    own colour, and how many pixels the accumulator holds."""

    uniform_type: ClassVar[dict[str, str]] = dict(
        gfx.Material.uniform_type, color="4xf4", size="f4", capacity="i4"
    )

    def __init__(self, size: float, opacity: float, color: tuple[float, float, float]) -> None:
        super().__init__(opacity=opacity, alpha_mode="blend", depth_test=False, pick_write=False)
        self._store.colored = False
        self.set_uniform("color", (*color, 1.0))
        self.set_uniform("size", size)

    @property
    def colored(self) -> bool:
        """Whether each point has its own colour (else all take ``color``)."""
        return self._store.colored

    @colored.setter
    def colored(self, value: bool) -> None:
        self._store.colored = bool(value)

    def set_uniform(self, name: str, value: object) -> None:
        self.uniform_buffer.data[name] = value
        self.uniform_buffer.update_full()


class SplattedPoints(gfx.WorldObject):
    """A world object whose geometry holds ``positions`` (n, 3), ``colors`` (n, 4) and the
    ``accum`` buffer the passes share, with room for ``capacity`` pixels."""

    capacity = 0

    def allocate(self, capacity: int) -> None:
        """A fresh (zeroed) accumulator of ``capacity`` pixels."""
        items = capacity * (4 if self.material.colored else 1)
        self.geometry.accum = gfx.Buffer(nbytes=items * 4, nitems=items, format="u4")
        self.capacity = capacity
        self.material.set_uniform("capacity", capacity)

    def fit(self, physical_size: tuple[int, int]) -> None:
        """Make room for a panel as large as ``physical_size`` (the canvas)."""
        pixels = int(physical_size[0]) * int(physical_size[1])
        if pixels > self.capacity:
            self.allocate(pixels)


class _SplatShader(BaseShader):
    """Bindings shared by the two passes; subclasses pick the stage and the WGSL file."""

    wgsl = ""

    def get_bindings(self, wobject: SplattedPoints, shared: object, scene: object) -> dict:
        geometry, material = wobject.geometry, wobject.material
        compute = self.type == "compute"
        extra = {"visibility": wgpu.ShaderStage.COMPUTE} if compute else {}
        bindings = {
            0: Binding("u_stdinfo", "buffer/uniform", shared.uniform_buffer, **extra),
            1: Binding("u_wobject", "buffer/uniform", wobject.uniform_buffer, **extra),
            2: Binding("u_material", "buffer/uniform", material.uniform_buffer, **extra),
            3: Binding("s_positions", "buffer/read_only_storage", geometry.positions, **extra),
            4: Binding("s_colors", "buffer/read_only_storage", geometry.colors, **extra),
        }
        self.define_bindings(0, bindings)
        # Declared in the WGSL itself (the splat needs atomics, which pygfx does not write);
        # writable storage is allowed in the compute and fragment stages only.
        stage = wgpu.ShaderStage.COMPUTE if compute else wgpu.ShaderStage.FRAGMENT
        bindings[5] = Binding("s_accum", "buffer/storage", geometry.accum, visibility=stage)
        self["colored"] = material.colored
        return {0: bindings}

    def get_code(self) -> str:
        return (data_dir("shaders") / self.wgsl).read_text()


class SplatShader(_SplatShader):
    """Adds each point's disc to the accumulator, one invocation per point."""

    type = "compute"
    wgsl = "particles_splat.wgsl"

    def get_pipeline_info(self, wobject: SplattedPoints, shared: object) -> dict:
        return {}

    def get_render_info(self, wobject: SplattedPoints, shared: object) -> dict:
        groups = max(1, math.ceil(wobject.geometry.positions.nitems / SPLAT_WORKGROUP))
        columns = min(groups, MAX_WORKGROUPS)
        return {"indices": (columns, math.ceil(groups / columns), 1)}


class ResolveShader(_SplatShader):
    """Turns the accumulator into colour and alpha with one quad over the panel, and zeroes
    it for the next frame."""

    type = "render"
    wgsl = "particles_resolve.wgsl"

    def get_pipeline_info(self, wobject: SplattedPoints, shared: object) -> dict:
        return {
            "primitive_topology": wgpu.PrimitiveTopology.triangle_strip,
            "cull_mode": wgpu.CullMode.none,
        }

    def get_render_info(self, wobject: SplattedPoints, shared: object) -> dict:
        return {"indices": (4, 1)}


@register_wgpu_render_function(SplattedPoints, SplatMaterial)
def _render_splat(wobject: SplattedPoints) -> list[BaseShader]:
    return [SplatShader(wobject), ResolveShader(wobject)]


class SplatPoints:
    """Owns one cloud of splatted points: the world object, its material, its colour buffer
    and its accumulator. ``positions`` is the (n, 3) float32 buffer drawn."""

    def __init__(
        self,
        positions: gfx.Buffer,
        color: tuple[float, float, float],
        size: float,
        opacity: float,
        render_order: int,
    ) -> None:
        self.colors = gfx.Buffer(np.ones((positions.nitems, 4), dtype=np.float32))
        self.material = SplatMaterial(size, opacity, color)
        geometry = gfx.Geometry(positions=positions, colors=self.colors)
        self.points = SplattedPoints(geometry, self.material, render_order=render_order)
        self.points.allocate(DEFAULT_CAPACITY)

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.points]

    def set_color(self, color: tuple[float, float, float]) -> None:
        self.material.set_uniform("color", (*color, 1.0))

    def set_own_colors(self, rgb: np.ndarray | None) -> None:
        """Give each point its own colour (rows of ``rgb``), or ``None`` for the uniform one."""
        colored = rgb is not None
        if colored:
            self.colors.data[:, :3] = rgb
            self.colors.update_full()
        if colored != self.material.colored:
            self.material.colored = colored
            self.points.allocate(self.points.capacity)

    def set_style(self, size: float, opacity: float) -> None:
        if float(self.material.uniform_buffer.data["size"]) != size:
            self.material.set_uniform("size", size)
        if self.material.opacity != opacity:
            self.material.opacity = opacity

    def set_visible(self, visible: bool) -> None:
        self.points.visible = visible


def fit_splats(scenes: Iterable[gfx.Scene], physical_size: tuple[int, int]) -> None:
    """Grow the accumulator of every splatted cloud in ``scenes`` to the canvas size."""
    for scene in scenes:
        for child in scene.children:
            if isinstance(child, SplattedPoints):
                child.fit(physical_size)


def points_buffer(points: np.ndarray, capacity: int | None = None) -> gfx.Buffer:
    """A (capacity, 3) float32 buffer holding 2D ``points`` at z = 0 (NaN rows beyond them
    are not drawn)."""
    count = len(points) if capacity is None else capacity
    positions = np.full((max(count, 1), 3), np.nan, np.float32)
    positions[: len(points), :2] = points[:count]
    positions[: len(points), 2] = 0
    return gfx.Buffer(positions)


class ParticlesLayer(SplatPoints):
    """Owns the particles: their positions buffers, drawn straight from the shared (n, 3)
    arrays (the engine writes them in place; one, or two taking turns), their colours and
    their accumulator."""

    def __init__(
        self, positions: tuple[np.ndarray, ...], size: float = 4.0, opacity: float = 0.5
    ) -> None:
        self.buffers = [gfx.Buffer(array) for array in positions]
        self.positions = self.buffers[0]
        super().__init__(self.positions, (1.0, 1.0, 1.0), size, opacity, render_order=3)

    def set_colors(
        self,
        mode: str,
        uniform: tuple[float, float, float],
        labels: np.ndarray | None = None,
        start: np.ndarray | None = None,
    ) -> None:
        """Recolour: ``"uniform"``, ``"class"`` (by label) or ``"start"`` (by starting point)."""
        self.set_color(uniform)
        count = self.colors.data.shape[0]
        rgb = None if mode == "uniform" else particle_colors(mode, count, uniform, labels, start)
        self.set_own_colors(rgb)

    def update(self, array: np.ndarray) -> None:
        """``array`` (one of the shared arrays) holds new positions: draw and upload it."""
        if self.positions.data is not array:
            self.positions = next(b for b in self.buffers if b.data is array)
            self.points.geometry.positions = self.positions
        self.positions.update_full()
