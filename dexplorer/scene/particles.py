"""Points splatted in a compute pass: the particles, and every other cloud of points.

Drawing each point as a quad is what limits a software rasterizer (lavapipe spends most of
the frame on triangle set-up), so points are two passes over one accumulator with an entry
per pixel of the panel (``shaders/particles_*.wgsl``): a compute pass adds every point's
anti-aliased disc to it with atomics, and a second pass resolves it into colour (and zeroes
it). The second pass draws the panel as square tiles, and only the tiles a point touched this
frame (the splat marks them) reach the rasterizer: the others collapse in the vertex stage.
The result is what the over operator would give for points of one colour, in any order; with
a colour per point each pixel shows the mean colour of the points over it, weighted by their
opacity.

On a software adapter (lavapipe), where both passes are slow, the CPU draws the clouds with
the same arithmetic in C (:mod:`dexplorer.scene.cpu_points`): the renderer has it blend them
into the frame in their place among the other objects. Without a C compiler the passes are
used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import ClassVar

import numpy as np
import pygfx as gfx
import wgpu
from pygfx.renderers.wgpu import BaseShader, Binding, register_wgpu_render_function

from ..resources import wgsl
from . import cpu_points
from .colors import particle_colors, srgb_to_linear
from .layer import Color, Layer

SPLAT_WORKGROUP = 256
MAX_WORKGROUPS = 65535
DEFAULT_SIZE = (640, 640)
"""The panel (pixels) the buffers have room for until :func:`fit_splats` grows them."""
TILE = 16
"""Pixels along a side of a tile of the resolve pass (the ``TILE`` of the shaders)."""
MAX_CHANNELS = 5
"""Accumulator entries per pixel at most: a colour per point (4) and the under cloud."""
CHANNEL_BYTES = 4


def accumulator_limit() -> int:
    """The largest accumulator (bytes) the device can bind as one storage buffer."""
    limits = gfx.renderers.wgpu.get_shared().device.limits
    return min(limits["max-storage-buffer-binding-size"], limits["max-buffer-size"])


def panel_pixels(renderer: gfx.WgpuRenderer, rect: tuple[float, ...]) -> tuple[int, int]:
    """The physical pixels of a viewport ``rect`` (x, y, w, h in logical pixels), rounded
    as pygfx rounds them."""
    ratio = renderer.physical_size[1] / renderer.logical_size[1]
    return max(int(rect[2] * ratio + 0.4999), 1), max(int(rect[3] * ratio + 0.4999), 1)


def panel_problem(size: tuple[int, int]) -> str:
    """Why the particles of a panel of ``size`` physical pixels cannot be drawn on this
    device ('' when they can): their accumulator would pass its storage buffer limit."""
    need, limit = size[0] * size[1] * MAX_CHANNELS * CHANNEL_BYTES, accumulator_limit()
    if need <= limit:
        return ""
    return (
        f"a panel of {size[0]}x{size[1]} pixels needs a {need / 2**20:.0f} MiB buffer for "
        f"its particles, more than the {limit / 2**20:.0f} MiB this GPU binds"
    )


class SplatMaterial(gfx.Material):
    """Point size (logical pixels), opacity, the uniform colour, whether each point has its
    own colour, and the look of the "under" cloud and whether it is drawn. The uniform
    colours are kept in linear light (the shaders would convert them at every pixel)."""

    uniform_type: ClassVar[dict[str, str]] = dict(
        gfx.Material.uniform_type,
        color="4xf4",
        under_color="4xf4",
        size="f4",
        under_size="f4",
        under_opacity="f4",
        fraction="f4",
        depth_scale="f4",
    )

    def __init__(self, size: float, opacity: float, color: tuple[float, float, float]) -> None:
        super().__init__(opacity=opacity, alpha_mode="blend", depth_test=False, pick_write=False)
        self._store.colored = False
        self._store.point_alpha = False
        self._store.under = False
        self._store.main = True
        self._store.on_cpu = False
        self._store.rows = False
        self.set_uniform("color", (*srgb_to_linear(color), 1.0))
        self.set_uniform("size", size)
        self.set_opacity(opacity)

    def set_opacity(self, opacity: float) -> None:
        """The points' opacity, and the accumulator's steps of a unit of depth for it
        (:func:`cpu_points.depth_scale`)."""
        self.opacity = opacity
        scale = cpu_points.depth_scale(self.opacity)
        if self.uniform_buffer.data["depth_scale"] != np.float32(scale):
            self.set_uniform("depth_scale", scale)

    @property
    def main(self) -> bool:
        """Whether the main cloud is drawn."""
        return self._store.main

    @main.setter
    def main(self, value: bool) -> None:
        self._store.main = bool(value)

    @property
    def on_cpu(self) -> bool:
        """Whether the CPU draws the points (see :func:`cpu_points.cpu_kernel`), not the
        device's passes."""
        return self._store.on_cpu

    @on_cpu.setter
    def on_cpu(self, value: bool) -> None:
        self._store.on_cpu = bool(value)

    @property
    def rows(self) -> bool:
        """Whether the main cloud's positions are between two rows, ``points`` and ``next``
        of the geometry, at the uniform ``fraction`` (the splat interpolates)."""
        return self._store.rows

    @rows.setter
    def rows(self, value: bool) -> None:
        self._store.rows = bool(value)

    @property
    def under(self) -> bool:
        """Whether the under cloud is drawn."""
        return self._store.under

    @under.setter
    def under(self, value: bool) -> None:
        self._store.under = bool(value)

    @property
    def channels(self) -> int:
        """Accumulator entries per pixel."""
        return (4 if self.colored else 1) + (1 if self.under else 0)

    @property
    def colored(self) -> bool:
        """Whether each point has its own colour (else all take ``color``)."""
        return self._store.colored

    @colored.setter
    def colored(self, value: bool) -> None:
        self._store.colored = bool(value)

    @property
    def point_alpha(self) -> bool:
        """Whether each point's opacity is scaled by the alpha of its colour."""
        return self._store.point_alpha

    @point_alpha.setter
    def point_alpha(self, value: bool) -> None:
        self._store.point_alpha = bool(value)

    def set_uniform(self, name: str, value: object) -> None:
        self.uniform_buffer.data[name] = value
        self.uniform_buffer.update_full()


def tile_count(physical_size: tuple[int, int]) -> int:
    """The tiles of the resolve pass over a panel of ``physical_size`` pixels."""
    return -(-int(physical_size[0]) // TILE) * -(-int(physical_size[1]) // TILE)


class SplattedPoints(gfx.WorldObject):
    """A world object whose geometry holds the 2D ``points`` (n, 2), ``colors`` (n, 4) and
    the ``under`` cloud's positions (m, 2). Drawn by the device, the geometry also holds the
    ``accum`` buffer the passes share, with room for ``capacity`` pixels, and the ``tiles``
    buffer: this frame's number (entry 0) and, for each tile of the panel, the number of
    the last frame a point touched it. Drawn by the CPU (:attr:`drawn_by_cpu`), the
    accumulator is the CPU's own (``accum``), and the renderer calls :meth:`prepare_on_cpu`
    and :meth:`composite_on_cpu` in the object's place among the others."""

    capacity = 0
    frame = 0
    wanted = 0
    """The pixels last asked for (``capacity`` may be more: the accumulator only grows)."""
    accum: np.ndarray | None = None
    """The CPU's accumulator, when the CPU draws the points."""
    _columns = 0
    """The width (pixels) of the panel the points were last splatted for on the CPU."""

    @property
    def drawn_by_cpu(self) -> bool:
        """Whether the CPU draws the points (the renderer asks)."""
        return self.material.on_cpu

    def cloud(self, name: str) -> gfx.Buffer:
        """The points of the ``"main"`` or the ``"under"`` cloud."""
        return self.geometry.under if name == "under" else self.geometry.points

    def allocate(self, capacity: int) -> None:
        """Room for ``capacity`` pixels at the material's channels (fewer if the device
        cannot bind so many: the passes then draw nothing until the panel fits). The
        accumulator only grows: what reads it leaves every entry at zero, so one
        accumulator serves any channel layout, and a replaced buffer would stay alive as
        long as pygfx's bind-group cache remembers it."""
        self.wanted = capacity
        channels = self.material.channels
        if self.material.on_cpu:
            if self.accum is None or len(self.accum) < capacity * channels:
                self.accum = np.zeros(capacity * channels, np.uint32)
            self.capacity = len(self.accum) // channels
            return
        most = accumulator_limit() // (channels * CHANNEL_BYTES)
        items = min(capacity, most) * channels
        accum = getattr(self.geometry, "accum", None)
        if accum is None or not items <= accum.nitems <= most * channels:
            accum = gfx.Buffer(nbytes=items * CHANNEL_BYTES, nitems=items, format="u4")
            self.geometry.accum = accum
        self.capacity = accum.nitems // channels

    def fit(self, physical_size: tuple[int, int]) -> str:
        """Make room for a panel of ``physical_size`` pixels, choose who draws (see
        :func:`cpu_points.cpu_kernel`) and, on the device, start a frame (its number goes
        to the tiles buffer); returns why it cannot be drawn ('' when it can)."""
        pixels = int(physical_size[0]) * int(physical_size[1])
        # Rows live on the device alone: the CPU draws from an array, from the next frame on.
        on_cpu = cpu_points.cpu_kernel() is not None and not self.material.rows
        if on_cpu != self.material.on_cpu:  # the kernel has been loaded (or a test says so)
            self.material.on_cpu = on_cpu
            self.allocate(max(self.wanted, pixels))
        elif pixels > self.capacity:
            self.allocate(pixels)
        if on_cpu:
            return ""
        tiles = getattr(self.geometry, "tiles", None)
        if tiles is None or tiles.nitems < 1 + tile_count(physical_size):
            marks = np.zeros(1 + tile_count(physical_size), np.uint32)
            readable = wgpu.BufferUsage.COPY_SRC  # for a look at the marks
            tiles = self.geometry.tiles = gfx.Buffer(marks, usage=readable)
        self.frame = self.frame % 0xFFFFFFFF + 1  # a tile marked 0 was never touched
        tiles.data[0] = self.frame
        tiles.update_range(0, 1)
        return "" if pixels <= self.capacity else panel_problem(physical_size)

    def prepare_on_cpu(
        self, camera: gfx.Camera, viewport: tuple[int, int, int, int], ratio: float
    ) -> tuple[int, int, int, int]:
        """Splat the shown clouds into the CPU's accumulator for the ``viewport`` (x, y,
        width, height in the frame's pixels, ``ratio`` of them a logical pixel) seen by
        ``camera``; returns the bounds of the viewport's pixels touched (first row, last
        row, first column, last column)."""
        width, height = size = viewport[2], viewport[3]
        if width * height > self.capacity:
            self.allocate(width * height)  # the panel grew since the layer's fit
        self._columns = width
        material, geometry = self.material, self.geometry
        world_to_clip = camera.projection_matrix @ camera.world.inverse_matrix @ self.world.matrix
        clip = np.ascontiguousarray(world_to_clip[np.ix_((0, 1, 3), (0, 1, 3))], np.float32)
        uniforms = material.uniform_buffer.data
        channels = material.channels
        bounds = cpu_points.NO_BOUNDS
        for name, shown in (("main", material.main), ("under", material.under)):
            points = self.cloud(name).data
            if not shown or len(points) == 0:
                continue
            main = name == "main"
            size_of = uniforms["size"] if main else uniforms["under_size"]
            radius = max(0.5 * float(size_of) * ratio, 0.5)
            opacity = material.opacity if main else float(uniforms["under_opacity"])
            colored, point_alpha = main and material.colored, main and material.point_alpha
            look = (radius, opacity, colored, point_alpha)
            layout = (channels, 0 if main else channels - 1, float(uniforms["depth_scale"]))
            touched = cpu_points.splat(
                self.accum, points, geometry.colors.data, clip, size, look, layout
            )
            bounds = cpu_points.union([bounds, touched])
        return bounds

    def clear_on_cpu(self) -> None:
        """Zero the CPU's accumulator (what was splatted is not composited)."""
        if self.accum is not None:
            self.accum[:] = 0

    def composite_on_cpu(
        self, pixels: np.ndarray, region: tuple[int, int, int, int], order: np.ndarray
    ) -> None:
        """Blend what :meth:`prepare_on_cpu` accumulated over ``pixels``, the frame's pixels
        of ``region`` of the panel (first row, last row, first column, last column), and
        clear the accumulator (see :func:`cpu_points.composite`)."""
        material = self.material
        uniforms = material.uniform_buffer.data
        scale = float(uniforms["depth_scale"])
        layout = (material.channels, material.colored, material.under, scale)
        colors = (uniforms["color"], uniforms["under_color"])
        cpu_points.composite(self.accum, self._columns, layout, colors, pixels, region, order)


class _SplatShader(BaseShader):
    """Bindings shared by the two passes; subclasses pick the stage and the WGSL file."""

    wgsl = ""

    def get_bindings(self, wobject: SplattedPoints, shared: object, scene: object) -> dict:
        geometry, material = wobject.geometry, wobject.material
        compute = self.type == "compute"
        under = self["cloud"] == "under"
        positions = wobject.cloud(self["cloud"])
        extra = {"visibility": wgpu.ShaderStage.COMPUTE} if compute else {}
        bindings = {
            0: Binding("u_stdinfo", "buffer/uniform", shared.uniform_buffer, **extra),
            1: Binding("u_wobject", "buffer/uniform", wobject.uniform_buffer, **extra),
            2: Binding("u_material", "buffer/uniform", material.uniform_buffer, **extra),
            3: Binding("s_positions", "buffer/read_only_storage", positions, **extra),
            4: Binding("s_colors", "buffer/read_only_storage", geometry.colors, **extra),
        }
        self["rows"] = material.rows and not under
        if self["rows"]:
            bindings[7] = Binding("s_next", "buffer/read_only_storage", geometry.next, **extra)
        self.define_bindings(0, bindings)
        # Declared in the WGSL itself (the splat needs atomics, which pygfx does not write);
        # writable storage is allowed in the compute and fragment stages only.
        stage = wgpu.ShaderStage.COMPUTE if compute else wgpu.ShaderStage.FRAGMENT
        bindings[5] = Binding("s_accum", "buffer/storage", geometry.accum, visibility=stage)
        tiles = "buffer/storage" if compute else "buffer/read_only_storage"
        stage = wgpu.ShaderStage.COMPUTE if compute else wgpu.ShaderStage.VERTEX
        bindings[6] = Binding("s_tiles", tiles, geometry.tiles, visibility=stage)
        self["tile"] = TILE
        channels = material.channels
        self["channels"] = channels
        self["under"] = material.under
        self["colored"] = material.colored and not under
        self["point_alpha"] = material.point_alpha and not under
        self["offset"] = channels - 1 if under else 0
        return {0: bindings}

    def get_code(self) -> str:
        return wgsl(self.wgsl)


class SplatShader(_SplatShader):
    """Adds each point's disc to the accumulator, one invocation per point (of the main
    cloud, or of the under cloud with ``cloud="under"``)."""

    type = "compute"
    wgsl = "particles_splat.wgsl"

    def get_pipeline_info(self, wobject: SplattedPoints, shared: object) -> dict:
        return {}

    def get_render_info(self, wobject: SplattedPoints, shared: object) -> dict:
        groups = max(1, math.ceil(wobject.cloud(self["cloud"]).nitems / SPLAT_WORKGROUP))
        columns = min(groups, MAX_WORKGROUPS)
        return {"indices": (columns, math.ceil(groups / columns), 1)}


class ResolveShader(_SplatShader):
    """Turns the accumulator into colour and alpha over the tiles points touched this frame
    (two triangles a tile), and zeroes it for the next frame."""

    type = "render"
    wgsl = "particles_resolve.wgsl"

    def get_pipeline_info(self, wobject: SplattedPoints, shared: object) -> dict:
        return {
            "primitive_topology": wgpu.PrimitiveTopology.triangle_list,
            "cull_mode": wgpu.CullMode.none,
        }

    def get_render_info(self, wobject: SplattedPoints, shared: object) -> dict:
        return {"indices": (6 * (wobject.geometry.tiles.nitems - 1), 1)}


@register_wgpu_render_function(SplattedPoints, SplatMaterial)
def _render_splat(wobject: SplattedPoints) -> list[BaseShader]:
    material, shaders = wobject.material, []
    if material.on_cpu:
        raise RuntimeError("points drawn by the CPU need dexplorer.scene.renderer.Renderer")
    if material.main:
        shaders.append(SplatShader(wobject, cloud="main"))
    if material.under:
        shaders.append(SplatShader(wobject, cloud="under"))
    return [*shaders, ResolveShader(wobject, cloud="main")]


class SplatPoints(Layer):
    """Owns one cloud of splatted points: the world object, its material, its colour buffer
    and its accumulator. ``positions`` is the (n, 2) float32 buffer drawn."""

    def __init__(
        self,
        positions: gfx.Buffer,
        color: Color,
        size: float,
        opacity: float,
        render_order: int,
        role: str | None = None,
    ) -> None:
        super().__init__(tuple(color), role)
        self.colors = gfx.Buffer(np.ones((positions.nitems, 4), dtype=np.float32))
        self.material = SplatMaterial(size, opacity, color)
        geometry = gfx.Geometry(points=positions, colors=self.colors, under=points_buffer([]))
        self.points = SplattedPoints(geometry, self.material, render_order=render_order)
        self.points.fit(DEFAULT_SIZE)

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.points]

    def set_color(self, color: Color) -> None:
        self.color = tuple(color)
        self.material.set_uniform("color", (*srgb_to_linear(color), 1.0))

    def set_own_colors(self, rgb: np.ndarray | None) -> None:
        """Give each point its own colour (rows of ``rgb``), or ``None`` for the uniform one."""
        colored = rgb is not None
        if colored:
            self.colors.data[:, :3] = rgb
            self.colors.update_full()
        if colored != self.material.colored:
            self.material.colored = colored
            self.points.allocate(self.points.wanted)

    def set_under(
        self,
        points: np.ndarray,
        color: tuple[float, float, float],
        size: float,
        opacity: float,
    ) -> None:
        """Draw 2D ``points`` of one colour under these, in the same passes (cheaper than a
        cloud of their own: one quad less over the panel)."""
        geometry = self.points.geometry
        geometry.under = refill(geometry.under, points)
        self.material.set_uniform("under_size", size)
        self.material.set_uniform("under_opacity", opacity)
        self.set_under_color(color)

    def set_under_color(self, color: tuple[float, float, float]) -> None:
        self.material.set_uniform("under_color", (*srgb_to_linear(color), 1.0))

    def set_under_visible(self, visible: bool) -> None:
        if visible != self.material.under:
            self.material.under = visible
            self.points.allocate(self.points.wanted)
        self.points.visible = self.material.main or visible

    def set_style(self, size: float, opacity: float) -> None:
        """Point size and opacity; the uniforms are written only when their float32 values
        change (0.45 never equals its float32 value, so comparing floats would write them
        every frame)."""
        if self.material.uniform_buffer.data["size"] != np.float32(size):
            self.material.set_uniform("size", size)
        if self.material.uniform_buffer.data["opacity"] != np.float32(opacity):
            self.material.set_opacity(opacity)

    def set_visible(self, visible: bool) -> None:
        self.visible = bool(visible)
        self.material.main = visible
        self.points.visible = visible or self.material.under


def fit_splats(scenes: Iterable[gfx.Scene], physical_size: tuple[int, int]) -> str:
    """Grow the accumulator of every splatted cloud in ``scenes`` to a panel of
    ``physical_size`` pixels; returns why one cannot be drawn ('' when all can)."""
    problems = [
        child.fit(physical_size)
        for scene in scenes
        for child in scene.children
        if isinstance(child, SplattedPoints)
    ]
    return next((problem for problem in problems if problem), "")


def fill_points(positions: np.ndarray, points: np.ndarray | list) -> None:
    """Write 2D ``points`` into the (m, 2) ``positions`` (as many as fit), and NaN (not
    drawn) in the rows after them."""
    points = np.asarray(points, np.float32).reshape(-1, 2)
    shown = min(len(points), len(positions))
    positions[shown:] = np.nan
    positions[:shown] = points[:shown]


def points_buffer(points: np.ndarray | list, capacity: int | None = None) -> gfx.Buffer:
    """A (capacity, 2) float32 buffer holding 2D ``points`` (all of them by default)."""
    count = len(np.asarray(points).reshape(-1, 2)) if capacity is None else capacity
    positions = np.empty((max(count, 1), 2), np.float32)
    fill_points(positions, points)
    return gfx.Buffer(positions)


def refill(buffer: gfx.Buffer, points: np.ndarray | list) -> gfx.Buffer:
    """``buffer`` holding 2D ``points`` instead, written in place when they fit; else a new
    buffer with room to spare. Keeping the buffer matters: a replaced one stays alive as long
    as pygfx's bind-group cache remembers it, with the accumulator beside it."""
    count = len(np.asarray(points).reshape(-1, 2))
    if count > buffer.nitems:
        return points_buffer(points, 1 << (count - 1).bit_length())
    fill_points(buffer.data, points)
    buffer.update_full()
    return buffer


class ParticlesLayer(SplatPoints):
    """Owns the particles: their positions buffer, drawn straight from the shared (n, 2)
    array the engine writes in place, or the slots that hold steps of their run on the
    device (:meth:`show_rows`); their colours (and what they were coloured for) and their
    accumulator. Their colours come with :meth:`set_colors`, not the theme alone."""

    def __init__(self, positions: np.ndarray, size: float = 4.0, opacity: float = 0.5) -> None:
        self.array = positions
        """The engine's array the positions are drawn from."""
        self.positions = gfx.Buffer(positions)
        super().__init__(self.positions, (1.0, 1.0, 1.0), size, opacity, render_order=3)
        self.slots: list[gfx.Buffer] = []
        """Buffers on the device that each hold one step of the run (:meth:`show_rows`)."""
        self.colored_for: object = None
        """The key the colours were last set for (``None``: not yet)."""

    def set_colors(
        self,
        mode: str,
        uniform: Color,
        labels: np.ndarray | None = None,
        start: np.ndarray | None = None,
        key: object = None,
    ) -> None:
        """Recolour: ``"uniform"``, ``"class"`` (by label) or ``"start"`` (by starting point),
        remembering ``key`` as what they are coloured for."""
        self.set_color(uniform)
        count = self.colors.data.shape[0]
        rgb = None if mode == "uniform" else particle_colors(mode, count, uniform, labels, start)
        self.set_own_colors(rgb)
        self.colored_for = key

    @property
    def takes_rows(self) -> bool:
        """Whether the points can be drawn from rows on the device (:meth:`show_rows`): the
        device draws them (the CPU draws from the array)."""
        return cpu_points.cpu_kernel() is None

    def update(self) -> None:
        """The engine wrote new positions into the array: upload it, and draw from it."""
        if self.material.rows:
            self.material.rows = False
            self.points.geometry.points = self.positions
        self.positions.update_full()

    def drop_slots(self) -> None:
        """Let go of the slots: the points are drawn from the array from now on."""
        self.update()
        self.points.geometry.next = self.positions
        self.slots.clear()

    def show_rows(
        self,
        uploads: list[tuple[int, np.ndarray]],
        first: int,
        second: int,
        fraction: float,
    ) -> None:
        """Write each upload's row (n x 2 float32) into its slot, a buffer on the device,
        and draw the positions ``fraction`` of the way from the slot ``first`` to the slot
        ``second`` (see :mod:`dexplorer.engine.rows`); the array is left as it is."""
        for slot, row in uploads:
            while len(self.slots) <= slot:
                usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST
                count = self.positions.nitems
                slot_buffer = gfx.Buffer(nbytes=count * 8, nitems=count, format="2xf4", usage=usage)
                self.slots.append(slot_buffer)
            self.slots[slot].send_data(0, row)  # uploaded as the frame begins
        geometry = self.points.geometry
        if geometry.points is not self.slots[first]:
            geometry.points = self.slots[first]
        if getattr(geometry, "next", None) is not self.slots[second]:
            geometry.next = self.slots[second]
        self.material.rows = True
        if self.material.uniform_buffer.data["fraction"] != np.float32(fraction):
            self.material.set_uniform("fraction", fraction)


class UnderLayer(Layer):
    """The faint points of one colour drawn under a cloud, in that cloud's passes (the data
    under the particles). Owns their visibility; the host layer owns the drawing."""

    role = "data"

    def __init__(
        self,
        host: SplatPoints,
        points: np.ndarray,
        color: Color,
        size: float,
        opacity: float,
        visible: bool = True,
    ) -> None:
        super().__init__(tuple(color))
        self.host = host
        self.size, self.opacity = size, opacity
        self.visible = visible
        self.set_points(points)
        host.set_under_visible(visible)

    def set_points(self, points: np.ndarray) -> None:
        self.points = points
        self.host.set_under(points, self.color, self.size, self.opacity)

    def moved_to(self, host: SplatPoints) -> UnderLayer:
        """The same points, look and visibility under another host (new particles)."""
        return UnderLayer(host, self.points, self.color, self.size, self.opacity, self.visible)

    def set_visible(self, visible: bool) -> None:
        self.visible = visible
        self.host.set_under_visible(visible)

    def set_color(self, color: Color) -> None:
        self.color = tuple(color)
        self.host.set_under_color(color)
