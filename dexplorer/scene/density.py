"""The density of the particles as filled contour bands with iso-lines, drawn by the WGSL
material in ``shaders/density.wgsl``."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pygfx as gfx
from pygfx.renderers.wgpu import register_wgpu_render_function
from pygfx.renderers.wgpu.shaders.imageshader import ImageShader

from ..resources import wgsl
from .layer import Color, Layer


class DensityMaterial(gfx.ImageBasicMaterial):
    """Contour-band look: colour, number of levels, fill and line strengths."""

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
        data["color"] = (*color, 1.0)
        data["levels"] = levels
        data["density_gamma"] = density_gamma
        data["fill"] = fill
        data["line"] = line
        data["line_width"] = line_width
        self.uniform_buffer.update_full()


class DensityImage(gfx.Image):
    """An image whose texture holds a density in 0..1."""


@register_wgpu_render_function(DensityImage, DensityMaterial)
class DensityShader(ImageShader):
    """The image shader with the fragment stage of ``shaders/density.wgsl``."""

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

    @property
    def objects(self) -> list[gfx.WorldObject]:
        return [self.image]

    def update(self) -> None:
        """The engine wrote a new density into the array: upload it."""
        self.texture.update_full()

    def set_density(self, density: np.ndarray) -> None:
        """Show another (R, R) density of the same resolution, in the same texture."""
        self.texture.data[...] = density
        self.texture.update_full()

    def set_color(self, color: Color) -> None:
        self.color = tuple(color)
        material = self.image.material
        material.uniform_buffer.data["color"] = (*color, 1.0)
        material.uniform_buffer.update_full()
