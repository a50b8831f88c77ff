"""The density of the particles as filled contour bands with iso-lines, drawn by the WGSL
material in ``shaders/density.wgsl``.

Most of a panel has no density (band 0 is left clear), and a software rasterizer (lavapipe)
pays for every pixel a quad covers. So the image is drawn as square blocks of texels, and
the blocks that cannot show anything (every texel that colours their pixels is below the
first level) collapse to nothing in the vertex stage.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pygfx as gfx
import wgpu
from pygfx.renderers.wgpu import Binding, register_wgpu_render_function
from pygfx.renderers.wgpu.shaders.imageshader import ImageShader

from ..resources import wgsl
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
    which blocks of texels are drawn (see :func:`block_mask`)."""

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
