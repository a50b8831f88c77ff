"""Panels drawn once into a texture and shown as one quad until something in them changes.

The side panels (the source and the data) change only with the data, the theme or their
size, but a frame clears the whole target and would draw their densities, rings and points
again; on a software rasterizer that is several milliseconds a frame.
"""

from __future__ import annotations

import pygfx as gfx
import wgpu

from .page import paint_page
from .particles import fit_splats


class PanelCache:
    """Owns a texture of one panel's size, the renderer that draws the panel's scene into it
    when it is marked stale, and the textured quad (with its scene and camera) that shows it
    in the panel's viewport."""

    def __init__(self, renderer: gfx.WgpuRenderer, background: tuple[float, float, float]):
        self.renderer = renderer
        self.background = background
        self.size = (0, 0)
        self.stale = True
        self.quad = gfx.Mesh(gfx.plane_geometry(2, 2), gfx.MeshBasicMaterial(pick_write=False))
        self.scene = gfx.Scene()
        self.scene.add(self.quad)
        self.camera = gfx.OrthographicCamera(2, 2, maintain_aspect=False)
        self._target: gfx.WgpuRenderer | None = None

    def mark_stale(self, background: tuple[float, float, float] | None = None) -> None:
        """Draw the panel again before it is next shown (with a new page colour if given)."""
        if background is not None:
            self.background = background
        self.stale = True

    def show(self, viewport: gfx.Viewport, scene: gfx.Scene, camera: gfx.Camera) -> None:
        """Draw ``scene`` into the texture if it is stale or the panel changed size, then
        show the texture in ``viewport``."""
        ratio = self.renderer.pixel_ratio
        size = tuple(max(int(v * ratio + 0.4999), 1) for v in viewport.rect[2:])
        if size != self.size:
            self._resize(size, ratio)
        if self.stale:
            paint_page(self._target, self.background)
            fit_splats([scene], size)
            self._target.render(scene, camera)
            self.stale = False
        viewport.render(self.scene, self.camera)

    def _resize(self, size: tuple[int, int], ratio: float) -> None:
        usage = wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.TEXTURE_BINDING
        texture = gfx.Texture(
            dim=2, size=(*size, 1), format="rgba8unorm", colorspace="tex-srgb", usage=usage
        )
        self._target = gfx.WgpuRenderer(texture, pixel_ratio=ratio, ppaa=self.renderer.ppaa)
        paint_page(self._target, self.background)
        self.quad.material.map = gfx.TextureMap(texture, filter="nearest")
        self.size = size
        self.stale = True
