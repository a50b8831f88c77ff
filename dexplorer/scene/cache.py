"""Panels drawn once into a texture and shown as quads until something in them changes.

The side views (the source and the data) change only with the data, the theme or their
size, but a frame clears the whole target and would draw their densities, rings and points
again; on a software rasterizer that is several milliseconds a frame. A view whose rect is
whole pixels is copied into the frame (its texture has the frame's format and maps onto the
rect pixel for pixel, so the copy gives the pixels the quad would, without a fragment shader
over them: two quads at 1920x1080 cost several milliseconds on a software rasterizer); the
others are shown as textured quads, by one render call for all of them (each render call
has a cost of its own). The views are shown after the panel, which clears the frame; they
do not overlap it.
"""

from __future__ import annotations

import pygfx as gfx
import wgpu
from pygfx.renderers.wgpu.engine.update import ensure_wgpu_object

from .page import paint_page
from .particles import fit_splats
from .renderer import Renderer


def pixel_origin(
    rect: tuple[float, float, float, float], size: tuple[int, int], frame: tuple[int, int]
) -> tuple[int, int] | None:
    """The top-left pixel of ``rect`` (x, y, w, h in physical pixels) when it is whole pixels,
    ``size`` of them, inside a frame of ``frame`` pixels: there a quad over it samples each
    texel of a ``size`` texture at its centre for one pixel, and a copy gives its pixels.
    ``None`` otherwise."""
    x, y, w, h = rect
    if not all(float(v).is_integer() for v in rect) or (w, h) != size:
        return None
    if x < 0 or y < 0 or x + w > frame[0] or y + h > frame[1]:
        return None
    return int(x), int(y)


class ViewCache:
    """Owns a texture of one side view's size (in the frame's colour format), the renderer
    that draws the view's scene into it when it is marked stale, where it can be copied into
    the frame, and the textured quad that shows it otherwise (in the logical pixels of a
    :class:`CachedViews` frame)."""

    def __init__(self, renderer: gfx.WgpuRenderer, background: tuple[float, float, float]):
        self.renderer = renderer
        self.background = background
        self.size = (0, 0)
        self.stale = True
        self.quad = gfx.Mesh(gfx.plane_geometry(1, 1), gfx.MeshBasicMaterial(pick_write=False))
        self.origin: tuple[int, int] | None = None
        """Where the texture can be copied into the frame (physical pixels); ``None``: the
        quad shows it."""
        self._target: gfx.WgpuRenderer | None = None

    def mark_stale(self, background: tuple[float, float, float] | None = None) -> None:
        """Draw the view again before it is next shown (with a new page colour if given)."""
        if background is not None:
            self.background = background
        self.stale = True

    def refresh(
        self, rect: tuple[float, float, float, float], scene: gfx.Scene, camera: gfx.Camera
    ) -> None:
        """Draw ``scene`` into the texture if it is stale or the view changed size, and show
        it over ``rect`` (x, y, w, h in logical pixels, y down): copied in where it lands
        pixel for pixel (:func:`pixel_origin`), else by the quad."""
        x, y, w, h = rect
        ratio = self.renderer.pixel_ratio
        size = (max(int(w * ratio + 0.4999), 1), max(int(h * ratio + 0.4999), 1))
        physical = tuple(v * ratio for v in rect)
        self.origin = pixel_origin(physical, size, tuple(self.renderer.physical_size))
        if size != self.size:
            self._resize(size, ratio)
        if self.stale:
            paint_page(self._target, self.background)
            fit_splats([scene], size)
            self._target.render(scene, camera)
            self.stale = False
        self.quad.local.position = (x + w / 2, y + h / 2, 0)
        self.quad.local.scale = (w, -h, 1)  # y runs down the frame, up the texture

    def copy_into(self, encoder: wgpu.GPUCommandEncoder, frame: wgpu.GPUTexture) -> None:
        """Record the copy of the texture into ``frame`` at :attr:`origin`."""
        source = {"texture": ensure_wgpu_object(self.quad.material.map.texture)}
        target = {"texture": frame, "origin": (*self.origin, 0)}
        encoder.copy_texture_to_texture(source, target, (*self.size, 1))

    def _resize(self, size: tuple[int, int], ratio: float) -> None:
        usage = (
            wgpu.TextureUsage.RENDER_ATTACHMENT
            | wgpu.TextureUsage.TEXTURE_BINDING
            | wgpu.TextureUsage.COPY_SRC
        )
        frame_format = self.renderer._blender.texture_info["color"]["format"]  # an -srgb one
        texture = gfx.Texture(
            dim=2,
            size=(*size, 1),
            format=frame_format.removesuffix("-srgb"),
            colorspace="tex-srgb",
            usage=usage,
        )
        self._target = Renderer(texture, pixel_ratio=ratio, ppaa=self.renderer.ppaa)
        paint_page(self._target, self.background)
        self.quad.material.map = gfx.TextureMap(texture, filter="nearest")
        self.size = size
        self.stale = True


class CachedViews:
    """Owns the :class:`ViewCache` of each cached side view and the frame scene (with its
    screen-pixel camera) that shows all of their quads in one render call, and copies the
    views that can be copied into the frame."""

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
        """Bring each view's texture up to date and show them all, after a render of the
        frame has cleared it: copied in where they land pixel for pixel and the frame's
        texture takes copies, else by their quads."""
        for name, view in self.views.items():
            view.refresh(rects[name], scenes[name], cameras[name])
        frame = self.renderer._blender.get_texture("color")
        copies = bool(frame.usage & wgpu.TextureUsage.COPY_DST)
        copied = [view for view in self.views.values() if copies and view.origin is not None]
        for view in self.views.values():
            view.quad.visible = view not in copied
        if copied:
            encoder = self.renderer.device.create_command_encoder()
            for view in copied:
                view.copy_into(encoder, frame)
            self.renderer.device.queue.submit([encoder.finish()])
        if len(copied) < len(self.views):
            self.renderer.render(self.scene, self.camera, flush=False)
