// Whole trajectories on any GPU: every step of an Euler, midpoint or Heun sampler for a
// flow network (a depth-3 MLP predicting the velocity), one invocation per particle.
//
// Each invocation keeps its particle and the network's activations in private memory and
// reads the weights (the same for all invocations, so the loads are uniform and cached). The
// time, and a single class, are folded into the first layer's bias of each evaluation
// (`bias_first`, one row per evaluation). With `record` set, the positions after every
// step go to `out` (step k at rows k*n..k*n+n-1, step 0 being x0); without it, only the
// final positions, in rows 0..n-1.
//
// WIDTH, ACTIVATION (0 elu, 1 silu, 2 relu) and SAMPLER (0 euler, 1 midpoint, 2 heun) are
// set by the host before compiling.

const WIDTH: u32 = {{ width }}u;
const ACTIVATION: u32 = {{ activation }}u;
const SAMPLER: u32 = {{ sampler }}u;
const WORKGROUP: u32 = 64u;

struct Params {
    n: u32,
    steps: u32,
    record: u32,
    _pad: u32,
};

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x0: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> bias_first: array<vec4<f32>>;  // evaluations x WIDTH
@group(0) @binding(4) var<storage, read> w_hidden: array<vec4<f32>>;  // 2 x WIDTH (out) x WIDTH (in)
// The small arrays, one after another (a shader stage may bind only 8 storage buffers):
// the first layer's x weights (WIDTH rows of 2), the hidden biases (2 x WIDTH), the output
// weights (2 x WIDTH) and bias (2), and the length of each step.
@group(0) @binding(5) var<storage, read> small: array<f32>;

const W_FIRST: u32 = 0u;
const B_HIDDEN: u32 = 2u * WIDTH;
const W_OUTPUT: u32 = 4u * WIDTH;
const B_OUTPUT: u32 = 6u * WIDTH;
const LENGTHS: u32 = 6u * WIDTH + 2u;

fn activate(z: f32) -> f32 {
    if (ACTIVATION == 0u) {
        return select(exp(z) - 1.0, z, z > 0.0);
    }
    if (ACTIVATION == 1u) {
        return z / (1.0 + exp(-z));
    }
    return max(z, 0.0);
}

// The hidden layers' activations, four units to a vector (the products are dot products
// of vec4s), declared once per invocation. Scalar arrays of 64 or more floats came out
// wrong on lavapipe from a network's second evaluation on; vec4 arrays come out right.
const QUADS: u32 = WIDTH / 4u;
var<private> a: array<vec4<f32>, QUADS>;
var<private> b: array<vec4<f32>, QUADS>;

fn activate4(z: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(activate(z.x), activate(z.y), activate(z.z), activate(z.w));
}

fn quad(at: u32) -> vec4<f32> {
    return vec4<f32>(small[at], small[at + 1u], small[at + 2u], small[at + 3u]);
}

// Output unit j of hidden layer `layer`: its row of weights dotted with the layer's input.
fn unit(layer: u32, j: u32) -> f32 {
    let row = (layer * WIDTH + j) * QUADS;
    var s = 0.0;
    for (var k = 0u; k < QUADS; k = k + 1u) {
        s = s + dot(w_hidden[row + k], select(b[k], a[k], layer == 0u));
    }
    return s;
}

fn units(layer: u32, q: u32) -> vec4<f32> {
    let j = 4u * q;
    let z = vec4<f32>(unit(layer, j), unit(layer, j + 1u), unit(layer, j + 2u), unit(layer, j + 3u));
    return activate4(quad(B_HIDDEN + layer * WIDTH + j) + z);
}

fn velocity(x: vec2<f32>, evaluation: u32) -> vec2<f32> {
    let row = evaluation * QUADS;
    for (var q = 0u; q < QUADS; q = q + 1u) {
        let w01 = quad(W_FIRST + 8u * q);  // (x, y) weights of units 4q and 4q + 1
        let w23 = quad(W_FIRST + 8u * q + 4u);
        let wx = vec4<f32>(w01.x, w01.z, w23.x, w23.z);
        let wy = vec4<f32>(w01.y, w01.w, w23.y, w23.w);
        a[q] = activate4(bias_first[row + q] + wx * x.x + wy * x.y);
    }
    for (var q = 0u; q < QUADS; q = q + 1u) {
        b[q] = units(0u, q);
    }
    for (var q = 0u; q < QUADS; q = q + 1u) {
        a[q] = units(1u, q);
    }
    var v = vec2<f32>(small[B_OUTPUT], small[B_OUTPUT + 1u]);
    for (var q = 0u; q < QUADS; q = q + 1u) {
        v = v + vec2<f32>(
            dot(quad(W_OUTPUT + 4u * q), a[q]), dot(quad(W_OUTPUT + WIDTH + 4u * q), a[q])
        );
    }
    return v;
}

@compute @workgroup_size(64)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.y * groups.x * WORKGROUP + gid.x;
    let n = params.n;
    if (i >= n) {
        return;
    }
    var x = x0[i];
    let record = params.record == 1u;
    if (record) {
        out[i] = x;
    }
    var evaluation = 0u;
    for (var k = 0u; k < params.steps; k = k + 1u) {
        let dt = small[LENGTHS + k];
        if (SAMPLER == 0u) {
            x = x + dt * velocity(x, evaluation);
            evaluation = evaluation + 1u;
        } else if (SAMPLER == 1u) {
            let half = x + 0.5 * dt * velocity(x, evaluation);
            x = x + dt * velocity(half, evaluation + 1u);
            evaluation = evaluation + 2u;
        } else {
            let v = velocity(x, evaluation);
            let guess = x + dt * v;
            x = x + 0.5 * dt * (v + velocity(guess, evaluation + 1u));
            evaluation = evaluation + 2u;
        }
        if (record) {
            out[(k + 1u) * n + i] = x;
        }
    }
    if (!record) {
        out[i] = x;
    }
}
