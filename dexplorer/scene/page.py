"""The page colour behind every panel, painted by clearing the render target.

A full-window background quad costs a software rasterizer (lavapipe) about 20 ms a frame at
1280x720; clearing to the colour costs nothing extra, since the target is cleared anyway.
pygfx clears to transparent black, so the renderer gets a blender that clears to the page
colour instead. The first scene rendered in a frame must draw something: pygfx clears the
target only when it begins a render pass.
"""

from __future__ import annotations

import pygfx as gfx
import wgpu
from pygfx.renderers.wgpu.engine.blender import Blender

from .colors import srgb_to_linear
from .renderer import COLOR_TARGETS


class PageBlender(Blender):
    """pygfx's blender, whose colour target is cleared to ``color`` (sRGB, opaque), without
    the picking target (nothing here picks; clearing it costs a pass over 8 bytes a pixel),
    its colour textures in ``formats`` (name: format) where given; the colour target takes
    copies (the cached side views)."""

    def __init__(self, color: tuple[float, float, float], formats: dict[str, str]) -> None:
        super().__init__(enable_pick=False)
        self.color = color
        for name, format in formats.items():
            self.texture_info[name]["format"] = format
        self.texture_info["color"]["usage"] |= wgpu.TextureUsage.COPY_DST  # views copied in

    def get_color_attachments(self, pass_type: str) -> list:
        attachments = super().get_color_attachments(pass_type)
        color = attachments[0]
        if pass_type != "weighted" and color.load_op == "clear":
            # the colour target is rgba8unorm-srgb: the clear value is linear
            color.clear_value = (*srgb_to_linear(self.color), 1.0)
        return attachments


def paint_page(renderer: gfx.WgpuRenderer, color: tuple[float, float, float]) -> None:
    """Clear ``renderer``'s frames to ``color`` from now on."""
    blender = renderer._blender
    if not isinstance(blender, PageBlender):
        if renderer._renders_since_last_flush or blender.size != (0, 0):
            raise RuntimeError("paint_page must be called before the renderer draws")
        formats = {name: blender.texture_info[name]["format"] for name in COLOR_TARGETS}
        blender = renderer._blender = PageBlender(color, formats)
    blender.color = color
