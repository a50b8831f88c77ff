"""pygfx's renderer drawing straight into the canvas's texture where it can.

pygfx renders into a colour texture of its own, and its flush draws that texture onto the
canvas through a filtering pass over every pixel; on a software rasterizer (lavapipe) that
pass alone costs more than clearing and drawing an empty scene (about 15-30 ms at 1280x720,
twice that at 1920x1080). When the canvas's texture has the size of the frame, an sRGB
format and the uses pygfx's colour texture has, and nothing is applied on the way (no
antialiasing pass, no gamma), the renderer draws into the canvas's texture itself, and the
flush has nothing left to do. A snapshot then reads the canvas's texture, so it must be taken
after the flush and before anything is drawn over the frame (the controls).

Objects the CPU draws (clouds of points and the density on a software adapter, see
:mod:`dexplorer.scene.cpu_points`) are drawn in their place in pygfx's order: the objects
before them are rendered, the part of the frame they touch is read back, they are blended
into it, it is written back, and the objects after them are rendered.
"""

from __future__ import annotations

from itertools import groupby

import numpy as np
import pygfx as gfx
import wgpu
from pygfx.renderers.wgpu.engine.renderer import FlatScene
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
    and flush, as before). It also owns the drawing of the objects the CPU draws (their
    ``drawn_by_cpu`` is true) in their place among the others; the frame's colour texture
    takes copies both ways for them."""

    def __init__(self, target: object, **options: object) -> None:
        super().__init__(target, **options)
        self.direct = False
        """Whether frames can be drawn into the canvas's texture."""
        self._borrowed = False
        """Whether this frame's colour target is the canvas's texture."""
        self._readback: wgpu.GPUBuffer | None = None
        """The buffer the part of the frame the CPU draws on is read back through."""
        self._host = np.zeros(0, np.uint8)
        """The host's copy of that part of the frame."""
        self._blender.texture_info["color"]["usage"] |= wgpu.TextureUsage.COPY_DST
        if not isinstance(target, BaseRenderCanvas):
            return
        context = self._canvas_context
        config = context.get_configuration()
        usage = self._blender.texture_info["color"]["usage"]
        usages = canvas_usages(context, self._shared.adapter)
        if not config["format"].endswith("-srgb") or usages & usage != usage:
            return
        context.configure(device=self._device, format=config["format"], usage=usage)
        for name in COLOR_TARGETS:
            self._blender.texture_info[name]["format"] = config["format"]
        self.direct = True

    def render(self, scene: gfx.WorldObject, camera: gfx.Camera, **options: object) -> None:
        """pygfx's render, the objects the CPU draws blended in their place; the first of
        a frame chooses its colour target."""
        if self._renders_since_last_flush == 0:
            self._choose_target()
        if not any(scene.iter(_by_cpu, skip_invisible=True)):
            super().render(scene, camera, **options)
            return
        view = camera.view_matrix if self._sort_objects else None
        flat = FlatScene(scene, view, self._object_count)
        flat.sort()
        drawn = [wrapper.wobject for wrapper in flat._wobject_wrappers]
        flush, clear = options.pop("flush", True), options.pop("clear", None)
        if clear is None:  # as pygfx: the first render of a frame clears it
            clear = self._renders_since_last_flush == 0
        runs = [(by_cpu, list(run)) for by_cpu, run in groupby(drawn, key=_by_cpu)]
        if runs[0][0] and clear:
            runs.insert(0, (False, []))  # a render that clears comes first
        for by_cpu, run in runs:
            if by_cpu:
                self._draw_on_cpu(run, camera, options.get("rect"))
                continue
            hidden = [wobject for wobject in drawn if wobject not in run]
            for wobject in hidden:
                wobject.visible = False
            try:
                super().render(scene, camera, flush=False, clear=clear, **options)
            finally:
                for wobject in hidden:
                    wobject.visible = True
            if clear and not run:
                self._clear_now()  # pygfx clears only in a pass that draws something
            clear = False
        if flush:
            self.flush()

    def _clear_now(self) -> None:
        """Clear the frame's targets."""
        blender = self._blender
        blender.clear()
        encoder = self._device.create_command_encoder()
        colors = blender.get_color_attachments("normal")
        depth = blender.get_depth_attachment()
        encoder.begin_render_pass(color_attachments=colors, depth_stencil_attachment=depth).end()
        self._device.queue.submit([encoder.finish()])

    def _draw_on_cpu(
        self, wobjects: list[gfx.WorldObject], camera: gfx.Camera, rect: tuple | None
    ) -> None:
        """Have ``wobjects`` (drawn by the CPU, one after the other) prepare themselves for the
        viewport ``rect`` (logical pixels; the whole frame if ``None``), read back the part of
        the frame they touch, blend themselves over it and write it back."""
        logical, physical = self.logical_size, self.physical_size
        ratio = physical[1] / logical[1]
        if rect:
            x, y, width, height = (int(value * ratio + 0.4999) for value in rect)
            camera.set_view_size(rect[2], rect[3])  # as pygfx's render does
        else:
            (x, y), (width, height) = (0, 0), physical
            camera.set_view_size(*logical)
        viewport = (x, y, width, height)
        bounds = np.array([wobject.prepare_on_cpu(camera, viewport, ratio) for wobject in wobjects])
        touched = (bounds[:, 0].min(), bounds[:, 1].max(), bounds[:, 2].min(), bounds[:, 3].max())
        top, bottom = max(touched[0], -y), min(touched[1], physical[1] - 1 - y)
        left, right = max(touched[2], -x), min(touched[3], physical[0] - 1 - x)
        if (top, bottom, left, right) != touched:  # the viewport passes the frame's edge
            for wobject in wobjects:
                wobject.clear_on_cpu()
        if bottom < top or right < left:
            return  # nothing touched, or nothing inside the frame
        frame = self._blender.get_texture("color")
        origin = {"texture": frame, "origin": (int(x + left), int(y + top), 0)}
        columns, rows = int(right - left + 1), int(bottom - top + 1)
        pixels = self._read_back(origin, columns, rows)
        order = np.array((2, 1, 0) if frame.format.startswith("bgra") else (0, 1, 2), np.int32)
        for wobject in wobjects:
            wobject.composite_on_cpu(pixels, (int(top), int(bottom), int(left), int(right)), order)
        layout = {"bytes_per_row": pixels.strides[0]}
        data = self._host[: pixels.strides[0] * rows]
        self._device.queue.write_texture(origin, data, layout, (columns, rows, 1))

    def _read_back(self, origin: dict, columns: int, rows: int) -> np.ndarray:
        """The frame's pixels of ``columns`` x ``rows`` from ``origin``, (rows, columns, 4)
        in the host's copy (rows as far apart as the copy to a buffer needs: 256 bytes), read
        through a buffer kept from frame to frame."""
        stride = -(-4 * columns // 256) * 256
        size = stride * rows
        if self._readback is None or self._readback.size < size:
            usage = wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.MAP_READ
            self._readback = self._device.create_buffer(size=size, usage=usage)
        encoder = self._device.create_command_encoder()
        target = {"buffer": self._readback, "bytes_per_row": stride, "rows_per_image": rows}
        encoder.copy_texture_to_buffer(origin, target, (columns, rows, 1))
        self._device.queue.submit([encoder.finish()])
        if len(self._host) < size:
            self._host = np.empty(self._readback.size, np.uint8)
        self._readback.map_sync(wgpu.MapMode.READ, 0, size)
        try:
            mapped = self._readback.read_mapped(0, size, copy=False)
            self._host[:size] = np.frombuffer(mapped, np.uint8)
        finally:
            self._readback.unmap()
        rows_of = self._host[:size].reshape(rows, stride)
        return rows_of[:, : 4 * columns].reshape(rows, columns, 4)

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


def _by_cpu(wobject: gfx.WorldObject) -> bool:
    return bool(getattr(wobject, "drawn_by_cpu", False))
