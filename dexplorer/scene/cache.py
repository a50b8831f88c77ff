"""Panels drawn once into a texture and shown as quads until something in them changes.

The side views (the source and the data) change only with the data, the theme or their
size, but a frame clears the whole target and would draw their densities, rings and points
again; on a software rasterizer that is several milliseconds a frame. Their textures are
shown by one render call for all of them (each render call has a cost of its own, about
2-3 ms on a software rasterizer).
"""

from __future__ import annotations

import pygfx as gfx
import wgpu

from .page import paint_page
from .particles import fit_splats


class ViewCache:
    """Owns a texture of one side view's size, the renderer that draws the view's scene into it
    when it is marked stale, and the textured quad that shows it (in the logical pixels of
    a :class:`CachedViews` frame)."""

    def __init__(self, renderer: gfx.WgpuRenderer, background: tuple[float, float, float]):
        self.renderer = renderer
        self.background = background
        self.size = (0, 0)
        self.stale = True
        self.quad = gfx.Mesh(gfx.plane_geometry(1, 1), gfx.MeshBasicMaterial(pick_write=False))
        self._target: gfx.WgpuRenderer | None = None

    def mark_stale(self, background: tuple[float, float, float] | None = None) -> None:
        """Draw the view again before it is next shown (with a new page colour if given)."""
        if background is not None:
            self.background = background
        self.stale = True

    def refresh(
        self, rect: tuple[float, float, float, float], scene: gfx.Scene, camera: gfx.Camera
    ) -> None:
        """Draw ``scene`` into the texture if it is stale or the view changed size, and put
        the quad over ``rect`` (x, y, w, h in logical pixels, y down)."""
        x, y, w, h = rect
        ratio = self.renderer.pixel_ratio
        size = (max(int(w * ratio + 0.4999), 1), max(int(h * ratio + 0.4999), 1))
        if size != self.size:
            self._resize(size, ratio)
        if self.stale:
            paint_page(self._target, self.background)
            fit_splats([scene], size)
            self._target.render(scene, camera)
            self.stale = False
        self.quad.local.position = (x + w / 2, y + h / 2, 0)
        self.quad.local.scale = (w, -h, 1)  # y runs down the frame, up the texture

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


class CachedViews:
    """Owns the :class:`ViewCache` of each cached side view and the frame scene (with its
    screen-pixel camera) that shows all of their quads in one render call."""

    def __init__(
        self, renderer: gfx.WgpuRenderer, names: tuple[str, ...], background: tuple
    ) -> None:
        self.renderer = renderer
        self.views = {name: ViewCache(renderer, background) for name in names}
        self.scene = gfx.Scene()
        self.scene.add(*(view.quad for view in self.views.values()))
        self.camera = gfx.ScreenCoordsCamera(invert_y=True)

    def __getitem__(self, name: str) -> ViewCache:
        return self.views[name]

    def mark_stale(self, background: tuple[float, float, float] | None = None) -> None:
        """Draw every view again before they are next shown."""
        for view in self.views.values():
            view.mark_stale(background)

    def render(
        self,
        rects: dict[str, tuple[float, float, float, float]],
        scenes: dict[str, gfx.Scene],
        cameras: dict[str, gfx.Camera],
    ) -> None:
        """Bring each view's texture up to date and show them all (over the whole canvas,
        which this first render of a frame clears to the page colour)."""
        for name, view in self.views.items():
            view.refresh(rects[name], scenes[name], cameras[name])
        self.renderer.render(self.scene, self.camera, flush=False)
