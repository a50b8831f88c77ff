"""pygfx's renderer with a cheaper last step on a canvas it draws at the canvas's own pixels.

pygfx renders into a colour texture of its own, and its flush draws that texture onto the
canvas through a filtering pass over every pixel; on a software rasterizer (lavapipe) that
pass alone costs more than clearing and drawing an empty scene (about 15-30 ms at 1280x720,
twice that at 1920x1080). When the texture has the canvas's size and format and nothing is
applied on the way (no antialiasing pass, no gamma), the filter returns every pixel as it
is, and a texture copy does the same for the cost of a memory copy.
"""

from __future__ import annotations

import pygfx as gfx
import wgpu
from rendercanvas import BaseRenderCanvas

COLOR_TARGETS = ("color", "altcolor")
"""The blender's colour textures, whose format follows the canvas's."""


def canvas_usages(context: object, adapter: object) -> int:
    """The texture usages the canvas's textures allow (0 when unknown)."""
    screen = getattr(context, "_wgpu_context", None)  # a window's surface
    if screen is not None:
        return int(screen._get_capabilities(adapter).get("usages", 0))
    return int((getattr(context, "_capabilities", None) or {}).get("usages", 0))


class Renderer(gfx.WgpuRenderer):
    """pygfx's renderer that owns whether its frames reach the canvas by a texture copy
    (see the module's docstring): on a canvas whose format is an sRGB one (pygfx's own
    colour texture is sRGB) and whose textures can be copied into, its colour textures take
    the canvas's format, and :meth:`flush` copies when the sizes match and no effect pass
    is enabled (otherwise pygfx's flush, as before)."""

    def __init__(self, target: object, **options: object) -> None:
        super().__init__(target, **options)
        self.copies = False
        """Whether frames can reach the canvas by a copy (see :meth:`flush`)."""
        if not isinstance(target, BaseRenderCanvas):
            return
        context = self._canvas_context
        config = context.get_configuration()
        usages = canvas_usages(context, self._shared.adapter)
        if not config["format"].endswith("-srgb") or not usages & wgpu.TextureUsage.COPY_DST:
            return
        usage = config["usage"] | wgpu.TextureUsage.COPY_DST
        context.configure(device=self._device, format=config["format"], usage=usage)
        for name in COLOR_TARGETS:
            self._blender.texture_info[name]["format"] = config["format"]
        self.copies = True

    def flush(self, target: object = None) -> None:
        """Put the frame on the canvas: a copy of the colour texture where it can be one."""
        color = self._blender.get_texture("color")
        effects = any(step.enabled for step in self.effect_passes)
        if target is not None or not self.copies or effects or self.gamma_correction != 1:
            super().flush(target)
            return
        canvas_texture = self._canvas_context.get_current_texture()
        if color is None or tuple(color.size) != tuple(canvas_texture.size):
            super().flush(target)
            return
        self._renders_since_last_flush = 0  # the next render clears, as after pygfx's flush
        encoder = self._device.create_command_encoder()
        encoder.copy_texture_to_texture({"texture": color}, {"texture": canvas_texture}, color.size)
        self._device.queue.submit([encoder.finish()])
