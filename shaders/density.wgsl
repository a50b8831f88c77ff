// Density as filled contour bands with iso-lines (the original tool's contour plot, on the GPU).
//
// The texture holds the particle density scaled to 0..1. A level l = levels * density^gamma
// picks the band: band k (k >= 1) is filled with colour at opacity fill * k / levels, and a
// smooth line of `line_width` pixels is drawn where l crosses an integer. Band 0 stays clear,
// so empty space shows the background.

{$ include 'pygfx.std.wgsl' $}
{$ include 'pygfx.image_common.wgsl' $}
{$ include 'dexplorer.cells.wgsl' $}

// The image is drawn as blocks of {{ block }} x {{ block }} texels, two triangles each; a block
// whose entry in s_blocks is 0 cannot show anything (scene/density.py decides) and collapses
// outside the view (cells.wgsl), so the rasterizer spends nothing on its pixels.

struct VertexInput {
    @builtin(vertex_index) vertex_index : u32,
};

@vertex
fn vs_main(in: VertexInput) -> Varyings {
    let size = textureDimensions(t_img);
    let per_side = (size + vec2<u32>({{ block }}u - 1u)) / {{ block }}u;
    let cell = cell_of(in.vertex_index, per_side.x);
    let texel = min((cell + corner_of(in.vertex_index)) * {{ block }}u, size);
    let world_pos = u_wobject.world_transform * vec4<f32>(vec2<f32>(texel) - 0.5, 0.0, 1.0);
    var varyings: Varyings;
    let shown = cell.y < per_side.y && s_blocks[in.vertex_index / 6u] != 0u;
    let clip = u_stdinfo.projection_transform * u_stdinfo.cam_transform * world_pos;
    varyings.position = vec4<f32>(select(OUTSIDE, clip, shown));
    varyings.world_pos = vec3<f32>(world_pos.xyz);
    varyings.elementIndex = u32(0);
    varyings.texcoord = vec2<f32>(texel) / vec2<f32>(size);
    return varyings;
}

@fragment
fn fs_main(varyings: Varyings) -> FragmentOutput {
    let sizef = vec2<f32>(textureDimensions(t_img));
    let density = max(sample_im(varyings.texcoord.xy, sizef).r, 0.0);
    let levels = u_material.levels;
    let level = levels * pow(density, u_material.density_gamma);
    let band = min(floor(level), levels);
    let fill = u_material.fill * band / levels;
    // Distance to the nearest iso-line in pixels, from the level's screen-space gradient.
    let width = max(fwidth(level), 1e-6);
    let distance = abs(fract(level + 0.5) - 0.5) / width;
    let on_line = 1.0 - smoothstep(0.5 * u_material.line_width - 0.5, 0.5 * u_material.line_width + 0.5, distance);
    let line = select(0.0, on_line * u_material.line, level > 0.5);
    let alpha = clamp(fill + line * (1.0 - fill), 0.0, 1.0) * u_material.opacity;
    if (alpha <= 0.002) {
        discard;
    }
    let color = u_material.color.rgb;  // in linear light already
    var out: FragmentOutput;
    out.color = vec4<f32>(color, alpha);
    return out;
}
