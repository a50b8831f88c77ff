"""The controls drawn with wgpu's ImGui renderer, for less work a pixel on a software
rasterizer (lavapipe), where the controls cover a third of a 1920x1080 frame and each of
their pixels costs the rasterizer a blend, a texture sample and a power.

- The sRGB conversion moves to the vertices. wgpu's ImGui renderer raises every fragment's
  colour (the vertex colour times the texture) to the power 2.2 before an sRGB target
  encodes it. ImGui's vertex colours are flat over a shape (its anti-aliased fringes change
  only alpha) and its one texture, the font atlas, is white with the coverage in alpha, so
  the power of the product is the power of the vertex colour: taken once a vertex, it draws
  the same pixels.
- The opaque backgrounds of the fixed windows (the controls and the time bar, opened with
  :func:`begin_fixed`) are copied into the frame from a texture of their colour, where the
  frame takes copies, instead of drawn as quads; ImGui then draws their contents over them.
"""

from __future__ import annotations

import math

import numpy as np
import wgpu
from imgui_bundle import imgui
from wgpu.utils.imgui import ImguiRenderer
from wgpu.utils.imgui.imgui_backend import ImguiWgpuBackend

from ..scene.colors import srgb_values

VERTEX = """
struct VertexInput {
    @location(0) position: vec2<f32>,
    @location(1) uv: vec2<f32>,
    @location(2) color: vec4<f32>,
};

struct VertexOutput {
    @builtin(position) position: vec4<f32>,
    @location(0) color: vec4<f32>,
    @location(1) uv: vec2<f32>,
};

struct Uniforms {
    mvp: mat4x4<f32>,
    gamma: f32,
};

@group(0) @binding(0) var<uniform> uniforms: Uniforms;

@vertex
fn main(in: VertexInput) -> VertexOutput {
    var out: VertexOutput;
    out.position = uniforms.mvp * vec4<f32>(in.position, 0.0, 1.0);
    out.color = vec4<f32>(pow(in.color.rgb, vec3<f32>(uniforms.gamma)), in.color.a);
    out.uv = in.uv;
    return out;
}
"""

FRAGMENT = """
struct VertexOutput {
    @builtin(position) position: vec4<f32>,
    @location(0) color: vec4<f32>,
    @location(1) uv: vec2<f32>,
};

@group(0) @binding(1) var s: sampler;
@group(1) @binding(0) var t: texture_2d<f32>;

@fragment
fn main(in: VertexOutput) -> @location(0) vec4<f32> {
    return in.color * textureSample(t, s, in.uv);
}
"""

SHADERS = {"triangle_vert": VERTEX, "triangle_frag": FRAGMENT}
"""Our shaders by the labels of wgpu's (its pipeline is built around them unchanged)."""


class _ShaderSwap:
    """A device whose shader modules labelled as in :data:`SHADERS` are ours."""

    def __init__(self, device: wgpu.GPUDevice) -> None:
        self._device = device

    def create_shader_module(self, *, label: str = "", code: str, **options: object) -> object:
        code = SHADERS.get(label, code)
        return self._device.create_shader_module(label=label, code=code, **options)

    def __getattr__(self, name: str) -> object:
        return getattr(self._device, name)


class VertexGammaBackend(ImguiWgpuBackend):
    """wgpu's ImGui backend whose pipeline takes the vertex shader and fragment shader of
    this module (if wgpu's own are ever labelled otherwise, its own are used)."""

    def _create_device_objects(self) -> None:
        device = self._device
        self._device = _ShaderSwap(device)
        try:
            super()._create_device_objects()
        finally:
            self._device = device


class ControlsRenderer(ImguiRenderer):
    """wgpu's ImGui renderer with the backend of this module: owns the ImGui context, the
    backgrounds the fixed windows asked to have painted this frame, and the texture of
    their colour they are copied from; draws the controls over the frame."""

    def __init__(self, device: wgpu.GPUDevice, canvas: object) -> None:
        super().__init__(device, canvas)
        self._backend = VertexGammaBackend(device, self._backend._target_format)
        self.backgrounds: list[tuple[float, float, float, float]] = []
        """The fixed windows' rects (logical pixels) whose background is painted."""
        self._solid: wgpu.GPUTexture | None = None
        self._solid_color: tuple[int, ...] = ()
        # ImGui's lists (a combo's choices) are 94% opaque, blended here in linear light:
        # the labels under them showed through. They are opaque.
        style = imgui.get_style()
        popup = style.color_(imgui.Col_.popup_bg)
        style.set_color_(imgui.Col_.popup_bg, imgui.ImVec4(popup.x, popup.y, popup.z, 1.0))

    @property
    def paints_backgrounds(self) -> bool:
        """Whether the fixed windows' opaque backgrounds are copied in (the frame's texture
        takes copies, and ImGui's windows have square corners)."""
        usage = self._canvas_context.get_configuration()["usage"]
        square = imgui.get_style().window_rounding == 0
        return bool(usage & wgpu.TextureUsage.COPY_DST) and square

    def render(self) -> None:
        """Build the controls, paint the backgrounds they asked for, and draw them (wgpu's
        render, with the copies before its pass)."""
        imgui.set_current_context(self.imgui_context)
        ratio = self._canvas_context.pixel_ratio
        self._backend.io.display_framebuffer_scale = (ratio, ratio)
        self._backend.io.display_size = self._canvas_context.logical_size
        _painter[:] = [self] if self.paints_backgrounds else []
        self.backgrounds.clear()
        imgui.new_frame()
        try:
            self._update_gui_function()
        finally:
            imgui.render()
            _painter.clear()
        texture = self._canvas_context.get_current_texture()
        device = self._backend._device
        encoder = device.create_command_encoder()
        self._paint(encoder, texture, ratio)
        target = {"view": texture.create_view(), "load_op": "load", "store_op": "store"}
        render_pass = encoder.begin_render_pass(color_attachments=[target])
        self._backend.render(imgui.get_draw_data(), render_pass)
        render_pass.end()
        device.queue.submit([encoder.finish()])

    def _paint(self, encoder: wgpu.GPUCommandEncoder, frame: wgpu.GPUTexture, ratio: float):
        """Copy the window background's colour into the rects asked for: the pixels whose
        centres they cover, as the rasterizer fills a quad."""
        spans = []
        for x, y, width, height in self.backgrounds:
            left, top = _first_pixel(x * ratio), _first_pixel(y * ratio)
            right = min(_first_pixel((x + width) * ratio), frame.size[0])
            bottom = min(_first_pixel((y + height) * ratio), frame.size[1])
            if right > left and bottom > top:
                spans.append((left, top, right - left, bottom - top))
        if not spans:
            return
        size = (max(span[2] for span in spans), max(span[3] for span in spans))
        solid = self._solid_texture(frame.format, size)
        for left, top, width, height in spans:
            target = {"texture": frame, "origin": (left, top, 0)}
            encoder.copy_texture_to_texture({"texture": solid}, target, (width, height, 1))

    def _solid_texture(self, format: str, size: tuple[int, int]) -> wgpu.GPUTexture:
        """A texture of at least ``size`` pixels in the window background's colour, as
        ImGui's pipeline writes it into a target of ``format``."""
        color = background_bytes(imgui.get_style().color_(imgui.Col_.window_bg), format)
        solid = self._solid
        if solid is None or solid.size[0] < size[0] or solid.size[1] < size[1]:
            size = (
                max(size[0], solid.size[0] if solid else 0),
                max(size[1], solid.size[1] if solid else 0),
            )
            usage = wgpu.TextureUsage.COPY_SRC | wgpu.TextureUsage.COPY_DST
            solid = self._solid = self._backend._device.create_texture(
                size=(*size, 1), format=format, usage=usage
            )
            self._solid_color = ()
        if color != self._solid_color:
            pixels = np.empty((solid.size[1], solid.size[0], 4), np.uint8)
            pixels[:] = color
            layout = {"bytes_per_row": 4 * solid.size[0]}
            self._backend._device.queue.write_texture(
                {"texture": solid}, pixels, layout, solid.size
            )
            self._solid_color = color
        return solid


_painter: list[ControlsRenderer] = []
"""The renderer building the controls now, when it paints the fixed windows' backgrounds."""


def begin_fixed(name: str, position: tuple[float, float], size: tuple[float, float], flags: int):
    """``imgui.begin`` of a window that stays at ``position`` with ``size`` (logical
    pixels): its background is painted by the renderer where it can be (then ImGui draws
    none), else drawn by ImGui."""
    imgui.set_next_window_pos(position)
    imgui.set_next_window_size(size)
    background = imgui.get_style().color_(imgui.Col_.window_bg)
    if not _painter or background.w < 1.0:
        imgui.begin(name, None, flags)
        return
    _painter[0].backgrounds.append((*position, *size))
    imgui.push_style_color(imgui.Col_.window_bg, (0.0, 0.0, 0.0, 0.0))
    imgui.begin(name, None, flags)
    imgui.pop_style_color()


def background_bytes(color: imgui.ImVec4, format: str) -> tuple[int, int, int, int]:
    """The bytes ImGui's pipeline (this module's shaders) writes for an opaque ``color``
    into a target of ``format``: the colour packed in 8 bits, raised to the power 2.2 and
    sRGB-encoded by an sRGB target; in the format's channel order."""
    rgb = [min(max(int(channel * 255.0 + 0.5), 0), 255) for channel in (color.x, color.y, color.z)]
    if format.endswith("-srgb"):
        linear = [float(np.float32(value / 255) ** np.float32(2.2)) for value in rgb]
        rgb = [round(255 * float(srgb_values(np.float64(value)))) for value in linear]
    if format.startswith("bgra"):
        rgb.reverse()
    return (*rgb, 255)


def _first_pixel(edge: float) -> int:
    """The first pixel whose centre is at or right of ``edge``."""
    return math.ceil(edge - 0.5)
