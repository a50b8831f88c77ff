"""The controls drawn with wgpu's ImGui renderer, the sRGB conversion moved to the vertices.

wgpu's ImGui renderer raises every fragment's colour (the vertex colour times the texture)
to the power 2.2 before an sRGB target encodes it. ImGui's vertex colours are flat over a
shape (its anti-aliased fringes change only alpha) and its one texture, the font atlas, is
white with the coverage in alpha, so the power of the product is the power of the vertex
colour: this renderer takes it in the vertex stage, once a vertex instead of once a pixel,
and draws the same pixels. On a software rasterizer (lavapipe) the controls cover a third of
a 1920x1080 frame, and the power per pixel costs milliseconds a frame.
"""

from __future__ import annotations

import wgpu
from wgpu.utils.imgui import ImguiRenderer
from wgpu.utils.imgui.imgui_backend import ImguiWgpuBackend

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
    """wgpu's ImGui renderer with the backend of this module: owns the ImGui context and
    draws the controls over the frame."""

    def __init__(self, device: wgpu.GPUDevice, canvas: object) -> None:
        super().__init__(device, canvas)
        self._backend = VertexGammaBackend(device, self._backend._target_format)
