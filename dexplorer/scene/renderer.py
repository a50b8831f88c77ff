"""pygfx's renderer drawing straight into the canvas's texture where it can.

pygfx renders into a colour texture of its own, and its flush draws that texture onto the
canvas through a filtering pass over every pixel; on a software rasterizer (lavapipe) that
pass alone costs more than clearing and drawing an empty scene (about 15-30 ms at 1280x720,
twice that at 1920x1080). When the canvas's texture has the size of the frame, an sRGB
format and the uses pygfx's colour texture has, and nothing is applied on the way (no
antialiasing pass, no gamma), the renderer draws into the canvas's texture itself, and the
flush has nothing left to do. A snapshot then reads the canvas's texture, so it must be taken
after the flush and before anything is drawn over the frame (the controls).
"""

from __future__ import annotations

import numpy as np
import pygfx as gfx
import wgpu
from rendercanvas import BaseRenderCanvas

COLOR_TARGETS = ("color", "altcolor")
"""The blender's colour textures, whose format follows the canvas's."""


def software_adapter() -> bool:
    """Whether pygfx draws on a CPU adapter (lavapipe). There the renderer's defaults, twice
    the pixels in each direction plus an antialiasing pass, cost most of the frame rate (the
    app then draws at the screen's own pixels), and the particles are splatted by the CPU
    (see :mod:`dexplorer.scene.particles`)."""
    adapter = gfx.renderers.wgpu.get_shared().adapter
    return str(adapter.info.get("adapter_type", "")).upper() == "CPU"


def canvas_usages(context: object, adapter: object) -> int:
    """The texture usages the canvas's textures allow (0 when unknown)."""
    screen = getattr(context, "_wgpu_context", None)  # a window's surface
    if screen is not None:
        return int(screen._get_capabilities(adapter).get("usages", 0))
    return int((getattr(context, "_capabilities", None) or {}).get("usages", 0))


class Renderer(gfx.WgpuRenderer):
    """pygfx's renderer that owns whether a frame is drawn straight into the canvas's
    texture (see the module's docstring): on a canvas that allows it, its colour textures
    take the canvas's format, and each frame whose size is the canvas texture's, without an
    effect pass, borrows that texture as its colour target (otherwise pygfx's own texture
    and flush, as before)."""

    def __init__(self, target: object, **options: object) -> None:
        super().__init__(target, **options)
        self.direct = False
        """Whether frames can be drawn into the canvas's texture."""
        self._borrowed = False
        """Whether this frame's colour target is the canvas's texture."""
        if not isinstance(target, BaseRenderCanvas):
            return
        context = self._canvas_context
        config = context.get_configuration()
        usage = self._blender.texture_info["color"]["usage"]
        usages = canvas_usages(context, self._shared.adapter)
        if not config["format"].endswith("-srgb") or usages & usage != usage:
            return
        usage |= config["usage"] | usages & wgpu.TextureUsage.COPY_DST  # side views copied in
        context.configure(device=self._device, format=config["format"], usage=usage)
        for name in COLOR_TARGETS:
            self._blender.texture_info[name]["format"] = config["format"]
        self.direct = True

    def render(self, scene: gfx.WorldObject, camera: gfx.Camera, **options: object) -> None:
        """pygfx's render; the first of a frame chooses its colour target."""
        if self._renders_since_last_flush == 0:
            self._choose_target()
        super().render(scene, camera, **options)

    def _choose_target(self) -> None:
        blender = self._blender
        if self._borrowed:  # last frame's canvas texture is gone: pygfx makes its own again
            blender._textures.pop("color", None)
            self._borrowed = False
        effects = any(step.enabled for step in self.effect_passes)
        if not self.direct or effects or self.gamma_correction != 1:
            return
        blender.ensure_target_size(self.physical_size)
        texture = self._canvas_context.get_current_texture()
        if tuple(texture.size[:2]) == blender.size:
            blender._textures["color"] = texture
            self._borrowed = True

    def flush(self, target: object = None) -> None:
        """Put the frame on the canvas (nothing to do when it was drawn there)."""
        if target is not None or not self._borrowed:
            super().flush(target)
            return
        self._renders_since_last_flush = 0  # the next render clears, as after a flush

    def snapshot(self) -> np.ndarray:
        """The frame's scene, RGBA: read after the flush and before anything is drawn over
        the frame (a frame drawn into the canvas's texture is read from there, which the
        controls are drawn on next and a window then presents)."""
        image = np.asarray(super().snapshot())
        if self._blender.texture_info["color"]["format"].startswith("bgra"):
            image = image[..., [2, 1, 0, 3]]
        return image

    def get_pick_info(self, pos: tuple[float, float]) -> dict:
        """Nothing under ``pos``: nothing here picks (pygfx would read the pixel back from
        the device for every pointer event, waiting for the frame being drawn)."""
        return {"rgba": gfx.Color(0, 0, 0, 0), "world_object": None}
