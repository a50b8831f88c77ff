// Particles, step 1 of 2: splat every particle into the per-pixel accumulator (compute, one
// invocation per particle; the accumulator starts at zero, and step 2 zeroes what it reads).
//
// The accumulator has one entry per pixel of the panel (u_stdinfo.physical_size).
// A particle is a round point of `size` logical pixels with an anti-aliased edge. A pixel it
// covers by a fraction c receives the optical depth -ln(1 - opacity * c), in fixed point
// (u_material.depth_scale steps a unit: finer for fainter points). Step 2
// (particles_resolve.wgsl) turns a pixel's sum D into alpha = 1 - exp(-D), which is exactly
// what drawing the points over one another would give, in any order, since the factors
// (1 - opacity * c) multiply. With colours per particle, the colour channels accumulate
// colour * depth, and the pixel shows their depth-weighted mean. A second, fainter cloud of
// one colour ("under", e.g. the data under the particles) has a channel of its own, filled by
// a second dispatch of this shader, and is composited under the first by step 2. With
// `point_alpha`, each point's opacity is scaled by its colour's alpha (the streaks' trails).
//
// With `rows`, the positions are `fraction` of the way from one step of the trajectory
// (s_positions) to the next (s_next), both held on the device, as the engine interpolates them.
//
// Each point also marks the tiles of {{ tile }} x {{ tile }} pixels its disc touches with this
// frame's number (s_tiles[0]), so that step 2 draws only those.
//
// Why not triangles: on a software rasterizer (lavapipe) each point drawn as a quad costs
// triangle set-up and binning; a compute splat costs a few atomic adds per covered pixel.

{{ bindings_code }}

@group(0) @binding(5)
var<storage, read_write> s_accum: array<atomic<u32>>;

// Every point marking a tile writes the same number: plain stores, racing harmlessly.
@group(0) @binding(6)
var<storage, read_write> s_tiles: array<u32>;

const WORKGROUP: u32 = 256u;
const TILE: i32 = {{ tile }};

fn add(index: u32, depth: u32, color: vec3<f32>) {
    let base = index * {{ channels }}u + {{ offset }}u;
    atomicAdd(&s_accum[base], depth);
    $$ if colored
        let weighted = vec3<u32>(color * f32(depth) + 0.5);
        atomicAdd(&s_accum[base + 1u], weighted.r);
        atomicAdd(&s_accum[base + 2u], weighted.g);
        atomicAdd(&s_accum[base + 3u], weighted.b);
    $$ endif
}

fn position(i: i32) -> vec2<f32> {
    $$ if rows
        let first = load_s_positions(i);
        return first + u_material.fraction * (load_s_next(i) - first);
    $$ else
        return load_s_positions(i);
    $$ endif
}

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.y * groups.x * WORKGROUP + gid.x;
    if (i >= arrayLength(&s_positions)) {
        return;
    }
    let world = u_wobject.world_transform * vec4<f32>(position(i32(i)), 0.0, 1.0);
    let clip = u_stdinfo.projection_transform * u_stdinfo.cam_transform * world;
    let ndc = clip.xy / clip.w;
    if (!(abs(ndc.x) < 2.0 && abs(ndc.y) < 2.0)) {
        return;  // far outside the panel, or not a number
    }
    let size = u_stdinfo.physical_size;
    // The panel outgrew the accumulator: the layer grows it before the next frame. The
    // test reads the buffer's own length, not a uniform: lavapipe (Mesa 22) specialises a
    // shader for the values of uniforms that decide a branch, again after every write of
    // the uniform buffers (each frame), and never frees the old variants (about 200 KB a
    // frame).
    if (u32(size.x) * u32(size.y) * {{ channels }}u > arrayLength(&s_accum)) {
        return;
    }
    let centre = vec2<f32>((ndc.x * 0.5 + 0.5) * size.x, (0.5 - ndc.y * 0.5) * size.y);
    $$ if cloud == "under"
        let point_size = u_material.under_size;
        let opacity = clamp(u_material.under_opacity, 0.0, 0.999);
    $$ elif point_alpha
        let point_size = u_material.size;
        let opacity = clamp(u_material.opacity * load_s_colors(i32(i)).a, 0.0, 0.999);
        if (opacity <= 0.0) {
            return;  // a trail's end, or a point not shown
        }
    $$ else
        let point_size = u_material.size;
        let opacity = clamp(u_material.opacity, 0.0, 0.999);
    $$ endif
    let radius = max(0.5 * point_size * size.y / u_stdinfo.logical_size.y, 0.5);
    let lo = max(vec2<i32>(floor(centre - radius)), vec2<i32>(0, 0));
    let hi = min(vec2<i32>(floor(centre + radius)), vec2<i32>(size) - 1);
    if (any(lo > hi)) {
        return;  // the disc misses the panel
    }
    let per_row = (i32(size.x) + TILE - 1) / TILE;
    let frame = s_tiles[0];
    for (var ty = lo.y / TILE; ty <= hi.y / TILE; ty = ty + 1) {
        for (var tx = lo.x / TILE; tx <= hi.x / TILE; tx = tx + 1) {
            s_tiles[1 + ty * per_row + tx] = frame;
        }
    }
    $$ if colored
        let color = clamp(load_s_colors(i32(i)).rgb, vec3<f32>(0.0), vec3<f32>(1.0));
    $$ else
        let color = vec3<f32>(0.0);
    $$ endif
    // Pixels wholly inside the disc share one depth; only the rim needs a logarithm.
    let inner = u32(-log(1.0 - opacity) * u_material.depth_scale + 0.5);
    let outer = (radius + 0.5) * (radius + 0.5);
    let core = max(radius - 0.5, 0.0) * max(radius - 0.5, 0.0);
    for (var y = lo.y; y <= hi.y; y = y + 1) {
        for (var x = lo.x; x <= hi.x; x = x + 1) {
            let offset = vec2<f32>(f32(x) + 0.5, f32(y) + 0.5) - centre;
            let d2 = dot(offset, offset);
            if (d2 < outer) {
                var depth = inner;
                if (d2 > core) {
                    let coverage = clamp(radius + 0.5 - sqrt(d2), 0.0, 1.0);
                    depth = u32(-log(1.0 - opacity * coverage) * u_material.depth_scale + 0.5);
                }
                add(u32(y) * u32(size.x) + u32(x), depth, color);
            }
        }
    }
}
