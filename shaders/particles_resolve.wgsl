// Particles, step 2 of 2: the panel's tiles turn each pixel's accumulated optical depth
// D into alpha = 1 - exp(-D), with the uniform colour or the depth-weighted mean colour of the
// particles there (see particles_splat.wgsl), over the "under" cloud when there is one. It
// also zeroes each pixel it reads, so the accumulator is clear for the next frame's splat
// without a pass of its own. Each tile is two triangles; a tile no point touched this frame
// (its mark in s_tiles is not this frame's number) holds only zeros, and collapses outside
// the view (cells.wgsl).

{$ include 'pygfx.std.wgsl' $}
{$ include 'dexplorer.cells.wgsl' $}

@group(0) @binding(5)
var<storage, read_write> s_accum: array<u32>;

@group(0) @binding(6)
var<storage, read> s_tiles: array<u32>;

const TILE: u32 = {{ tile }}u;

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> Varyings {
    let size = vec2<u32>(u_stdinfo.physical_size);
    let cell = cell_of(index, (size.x + TILE - 1u) / TILE);
    let corner = min((cell + corner_of(index)) * TILE, size);
    let shown = cell.y * TILE < size.y && s_tiles[1u + index / 6u] == s_tiles[0];
    let pixel = vec2<f32>(corner);
    let ndc = vec2<f32>(pixel.x / f32(size.x) * 2.0 - 1.0, 1.0 - pixel.y / f32(size.y) * 2.0);
    var varyings: Varyings;
    varyings.position = vec4<f32>(select(OUTSIDE, vec4<f32>(ndc, 0.0, 1.0), shown));
    varyings.pixel = vec2<f32>(pixel);
    return varyings;
}

@fragment
fn fs_main(varyings: Varyings) -> FragmentOutput {
    let size = vec2<u32>(u_stdinfo.physical_size);
    if (size.x * size.y * {{ channels }}u > arrayLength(&s_accum)) {
        discard;  // the panel outgrew the accumulator (see particles_splat.wgsl)
    }
    let pixel = min(vec2<u32>(max(varyings.pixel, vec2<f32>(0.0))), size - 1u);
    let base = (pixel.y * size.x + pixel.x) * {{ channels }}u;
    let sum = s_accum[base];
    $$ if colored
        let weighted = vec3<f32>(
            f32(s_accum[base + 1u]), f32(s_accum[base + 2u]), f32(s_accum[base + 3u])
        );
    $$ endif
    $$ if under
        let under_sum = s_accum[base + {{ channels - 1 }}u];
    $$ else
        let under_sum = 0u;
    $$ endif
    if (sum == 0u && under_sum == 0u) {
        discard;
    }
    for (var c = 0u; c < {{ channels }}u; c = c + 1u) {
        s_accum[base + c] = 0u;
    }
    let alpha = 1.0 - exp(-f32(sum) / u_material.depth_scale);
    $$ if colored
        let color = srgb2physical(weighted / max(f32(sum), 1.0));
    $$ else
        let color = u_material.color.rgb;  // in linear light already
    $$ endif
    // the under cloud goes below: over(points, under)
    let under_alpha = (1.0 - exp(-f32(under_sum) / u_material.depth_scale)) * (1.0 - alpha);
    let under_color = u_material.under_color.rgb;
    let total = alpha + under_alpha;
    var out: FragmentOutput;
    out.color = vec4<f32>((color * alpha + under_color * under_alpha) / total, total);
    return out;
}
