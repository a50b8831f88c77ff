"""The density of the particles as filled contour bands with iso-lines, drawn by the WGSL
material in ``shaders/density.wgsl``.

Most of a panel has no density (band 0 is left clear), and a software rasterizer (lavapipe)
pays for every pixel a quad covers. So the image is drawn as square blocks of texels, and
the blocks that cannot show anything (every texel that colours their pixels is below the
first level) collapse to nothing in the vertex stage. On a software adapter the CPU draws
the image instead, with the shader's arithmetic in C (see
:mod:`dexplorer.scene.cpu_points`), over the pixels of the blocks that can show something.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pygfx as gfx
import wgpu
from pygfx.renderers.wgpu import Binding, register_wgpu_render_function
from pygfx.renderers.wgpu.shaders.imageshader import ImageShader

from ..resources import wgsl
from . import cpu_points
from .colors import srgb_to_linear
from .layer import Color, Layer

BLOCK = 8
"""Texels along a side of a block (the ``BLOCK`` of ``shaders/density.wgsl``)."""


def block_mask(density: np.ndarray, threshold: float) -> np.ndarray:
    """Which blocks of ``BLOCK`` x ``BLOCK`` texels of a (rows, columns) ``density`` can show
    anything (row-major, as uint32 0 or 1): a pixel shows the density's bands and lines only
    where the bilinear density there passes ``threshold``, and that blends the texels of
    the block and its neighbours one texel away."""
    above = np.nan_to_num(density, nan=0.0) > threshold
    grown = above.copy()
    grown[1:] |= above[:-1]
    grown[:-1] |= above[1:]
    wide = grown.copy()
    wide[:, 1:] |= grown[:, :-1]
    wide[:, :-1] |= grown[:, 1:]
    rows, columns = density.shape
    padded = np.zeros((-(-rows // BLOCK) * BLOCK, -(-columns // BLOCK) * BLOCK), bool)
    padded[:rows, :columns] = wide
    blocks = padded.reshape(padded.shape[0] // BLOCK, BLOCK, -1, BLOCK).any(axis=(1, 3))
    return blocks.astype(np.uint32).ravel()


class DensityMaterial(gfx.ImageBasicMaterial):
    """Contour-band look: colour (kept in linear light), number of levels, fill and line
    strengths."""

    uniform_type: ClassVar[dict[str, str]] = dict(
        gfx.ImageBasicMaterial.uniform_type,
        color="4xf4",
        levels="f4",
        density_gamma="f4",
        fill="f4",
        line="f4",
        line_width="f4",
    )

    def __init__(
        self,
        color: tuple[float, float, float],
        levels: int = 8,
        density_gamma: float = 0.5,
        fill: float = 0.55,
        line: float = 0.9,
        line_width: float = 1.5,
        **kwargs: object,
    ) -> None:
        super().__init__(interpolation="linear", alpha_mode="blend", pick_write=False, **kwargs)
        self.set_look(color, levels, density_gamma, fill, line, line_width)

    def set_look(
        self,
        color: tuple[float, float, float],
        levels: int,
        density_gamma: float,
        fill: float,
        line: float,
        line_width: float,
    ) -> None:
        data = self.uniform_buffer.data
        data["color"] = (*srgb_to_linear(color), 1.0)
        data["levels"] = levels
        data["density_gamma"] = density_gamma
        data["fill"] = fill
        data["line"] = line
        data["line_width"] = line_width
        self.uniform_buffer.update_full()

    def threshold(self) -> float:
        """The density below which nothing is drawn: the bands and lines start at level 0.5."""
        data = self.uniform_buffer.data
        return float((0.5 / data["levels"]) ** (1.0 / data["density_gamma"]))


class DensityImage(gfx.Image):
    """An image whose texture holds a density in 0..1, and whose geometry's ``blocks`` says
    which blocks of texels are drawn (see :func:`block_mask`); drawn by the CPU on a
    software adapter (:attr:`drawn_by_cpu`: the renderer calls :meth:`prepare_on_cpu` and
    :meth:`composite_on_cpu`), which owns the way from the panel's pixels to its texels."""

    _to_texel = np.zeros((2, 3), np.float32)
    _quad = (0, 0)

    @property
    def drawn_by_cpu(self) -> bool:
        """Whether the CPU draws the image (the renderer asks)."""
        return cpu_points.cpu_kernel() is not None

    def prepare_on_cpu(
        self, camera: gfx.Camera, viewport: tuple[int, int, int, int], ratio: float
    ) -> tuple[int, int, int, int]:
        """Find the way from the ``viewport``'s pixels (x, y, width, height in the frame's
        pixels) to texels through ``camera``, and return the bounds (first row, last row,
        first column, last column) of the viewport's pixels the blocks drawn cover."""
        x, y, width, height = viewport
        blocks = getattr(self.geometry, "blocks", None)
        if blocks is None or not blocks.data.any():
            return cpu_points.NO_BOUNDS
        clip_to_local = np.linalg.inv(
            camera.projection_matrix @ camera.world.inverse_matrix @ self.world.matrix
        )
        corners = np.array([[0.5, 0.5], [1.5, 0.5], [0.5, 1.5]])  # pixel centres
        ndc = np.column_stack(
            [corners[:, 0] / width * 2 - 1, 1 - corners[:, 1] / height * 2, np.zeros(3), np.ones(3)]
        )
        local = ndc @ clip_to_local.T
        local = local[:, :2] / local[:, 3:]
        to_texel = np.empty((2, 3))
        to_texel[:, 0] = local[1] - local[0]  # a pixel to the right
        to_texel[:, 1] = local[2] - local[0]  # a pixel down
        to_texel[:, 2] = local[0] - 0.5 * to_texel[:, 0] - 0.5 * to_texel[:, 1]
        self._to_texel = to_texel.astype(np.float32)
        self._quad = (x & 1, y & 1)  # the panel's column and row at the frame's even ones
        rows, columns = self.geometry.grid.data.shape[:2]
        shown = blocks.data.reshape(-(-rows // BLOCK), -(-columns // BLOCK)).astype(bool)
        block_rows, block_columns = (
            np.nonzero(shown.any(axis=1))[0],
            np.nonzero(shown.any(axis=0))[0],
        )
        lo = np.array([block_columns[0] * BLOCK, block_rows[0] * BLOCK]) - 0.5
        hi = (
            np.minimum(
                np.array([(block_columns[-1] + 1) * BLOCK, (block_rows[-1] + 1) * BLOCK]),
                (columns, rows),
            )
            - 0.5
        )
        to_pixel = np.linalg.inv(np.vstack([to_texel, (0.0, 0.0, 1.0)]))
        texels = np.array(
            [[lo[0], lo[1], 1], [hi[0], lo[1], 1], [lo[0], hi[1], 1], [hi[0], hi[1], 1]]
        )
        pixels = texels @ to_pixel.T
        left, top = np.floor(pixels[:, :2].min(axis=0)) - 1
        right, bottom = np.ceil(pixels[:, :2].max(axis=0)) + 1
        top, left = max(int(top), 0), max(int(left), 0)
        bottom, right = min(int(bottom), height - 1), min(int(right), width - 1)
        if bottom < top or right < left:
            return cpu_points.NO_BOUNDS
        return (top, bottom, left, right)

    def composite_on_cpu(
        self, pixels: np.ndarray, region: tuple[int, int, int, int], order: np.ndarray
    ) -> None:
        """Blend the bands and lines over ``pixels``, the frame's pixels of ``region`` of
        the panel (first row, last row, first column, last column; see
        :func:`cpu_points.contours`)."""
        material = self.material
        data = material.uniform_buffer.data
        look = np.array(
            [data["levels"], data["fill"], data["line"], data["line_width"], material.opacity],
            np.float32,
        )
        density = self.geometry.grid.data
        cpu_points.contours(
            *(density, self._to_texel, look, data["color"], float(data["density_gamma"])),
            *(pixels, region, order, self._quad),
        )

    def mark_blocks(self) -> None:
        """Find the blocks to draw in the texture's data (after it changed)."""
        texture, material = self.geometry.grid, self.material
        mask = block_mask(np.asarray(texture.data), material.threshold())
        blocks = getattr(self.geometry, "blocks", None)
        if blocks is None or blocks.nitems != len(mask):
            self.geometry.blocks = gfx.Buffer(mask)
        else:
            blocks.data[:] = mask
            blocks.update_full()


@register_wgpu_render_function(DensityImage, DensityMaterial)
class DensityShader(ImageShader):
    """The image shader with ``shaders/density.wgsl``: the image drawn as blocks of texels
    (the empty ones collapsed), each pixel coloured by its band and iso-lines."""

    def get_bindings(self, wobject: DensityImage, shared: object, scene: object) -> dict:
        bindings = super().get_bindings(wobject, shared, scene)[0]
        visibility = wgpu.ShaderStage.VERTEX
        blocks = wobject.geometry.blocks
        bindings[len(bindings)] = Binding(
            "s_blocks", "buffer/read_only_storage", blocks, visibility=visibility
        )
        self.define_bindings(0, bindings)
        self["block"] = BLOCK
        return {0: bindings}

    def get_pipeline_info(self, wobject: DensityImage, shared: object) -> dict:
        return {
            "primitive_topology": wgpu.PrimitiveTopology.triangle_list,
            "cull_mode": wgpu.CullMode.none,
        }

    def get_render_info(self, wobject: DensityImage, shared: object) -> dict:
        return {"indices": (6 * wobject.geometry.blocks.nitems, 1)}

    def get_code(self) -> str:
        return wgsl("density.wgsl")


class DensityLayer(Layer):
    """Owns the density image over [-extent, extent]^2 and its (R, R) float32 texture, on
    the array the engine fills in place (row 0 at y = -extent)."""

    role = "density"

    def __init__(
        self, density: np.ndarray, extent: float, color: Color, role: str | None = None
    ) -> None:
        super().__init__(color, role)
        self.array = density
        """The engine's array the texture is drawn from."""
        self.texture = gfx.Texture(density, dim=2)
        resolution = density.shape[0]
        self.image = DensityImage(
            gfx.Geometry(grid=self.texture), DensityMaterial(color), render_order=1
        )
        scale = 2 * extent / resolution
        self.image.local.scale = (scale, scale, 1)
        self.image.local.position = (-extent, -extent, 0)
        self.image.mark_blocks()

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.image]

    def update(self) -> None:
        """The engine wrote a new density into the array: upload it."""
        self.texture.update_full()
        self.image.mark_blocks()

    def set_density(self, density: np.ndarray) -> None:
        """Show another (R, R) density of the same resolution, in the same texture."""
        self.texture.data[...] = density
        self.texture.update_full()
        self.image.mark_blocks()

    def set_color(self, color: Color) -> None:
        self.color = tuple(color)
        material = self.image.material
        material.uniform_buffer.data["color"] = (*srgb_to_linear(color), 1.0)
        material.uniform_buffer.update_full()
