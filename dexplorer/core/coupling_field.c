/* The data estimate E[y | x_t] of the exact field from a point source on the CPU:
 * CouplingField.estimate of dexplorer/core/fields.py in C, for a piece of the particles.
 *
 * Built by dexplorer/core/native_build.py (-O3 -march=native, no C library) and called
 * through ctypes by dexplorer/core/coupling_kernel.py, one call per piece of particles.
 *
 * For each particle x and each data point y_i (eight at a time), the source sample that y_i
 * implies, z_i = (x - t y_i) / s, reads log q bilinearly from the table (rows follow the
 * second coordinate, as torch's grid_sample with align_corners reads them), clamped to the
 * domain, with a Gaussian fall-off of the spread beyond it; the estimate is the softmax of
 * these logits over the points times the points. The logits of a particle go to `scratch`
 * (one float a point), so that the softmax takes two passes and no exp is wasted.
 */

#include "simd.h"

#define LANES 8

#ifdef __AVX2__
INLINE v8 gather(const float *table, i8 index) {
    const v8 all = (v8)(i8){-1, -1, -1, -1, -1, -1, -1, -1};
    return __builtin_ia32_gathersiv8sf(splat(0.0f), table, index, all, 4);
}
#else
INLINE v8 gather(const float *table, i8 index) {
    v8 out;
    for (int k = 0; k < LANES; k++)
        out[k] = table[index[k]];
    return out;
}
#endif

INLINE float lanes_max(v8 a) {
    float m = a[0];
    for (int k = 1; k < LANES; k++)
        m = a[k] > m ? a[k] : m;
    return m;
}

INLINE float lanes_sum(v8 a) {
    float s = 0.0f;
    for (int k = 0; k < LANES; k++)
        s += a[k];
    return s;
}

/* out[p] = E[y | x_t = x[p]] for the n particles x (n x 2). The m points come as their
 * coordinates px and py, each padded to whole vectors of eight with zeros (whose logits
 * are set far below every point's); log_q is grid x grid over [-domain, domain]^2; s = 1 - t
 * (floored by the caller); scratch holds the padded count of floats. */
void dx_coupling_estimate(const float *x, i64 n, const float *px, const float *py, i64 m,
                          const float *log_q, int grid, float domain, float spread, float t,
                          float s, float *scratch, float *out) {
    const i64 vectors = (m + LANES - 1) / LANES;
    const v8 lo = splat(-domain), hi = splat(domain);
    const v8 cells = splat((float)(grid - 1) / (2.0f * domain));
    const v8 fall = splat(1.0f / (2.0f * spread * spread));
    const i8 last_cell = (i8){grid - 2, grid - 2, grid - 2, grid - 2,
                              grid - 2, grid - 2, grid - 2, grid - 2};
    const i8 row = (i8){grid, grid, grid, grid, grid, grid, grid, grid};
    const i8 lane = (i8){0, 1, 2, 3, 4, 5, 6, 7};
    const v8 by = splat(t / s);
    v8 *logits = (v8 *)scratch;
    for (i64 p = 0; p < n; p++) {
        const v8 ax = splat(x[2 * p] / s), ay = splat(x[2 * p + 1] / s);
        v8 best = splat(-3.0e38f);
        for (i64 k = 0; k < vectors; k++) {
            const v8 zx = ax - by * ((const v8 *)px)[k];
            const v8 zy = ay - by * ((const v8 *)py)[k];
            const v8 cx = vmin(vmax(zx, lo), hi), cy = vmin(vmax(zy, lo), hi);
            const v8 beyond = ((zx - cx) * (zx - cx) + (zy - cy) * (zy - cy)) * fall;
            const v8 u = (cx - lo) * cells, v = (cy - lo) * cells;
            i8 i = __builtin_convertvector(u, i8), j = __builtin_convertvector(v, i8);
            i = ((i > last_cell) & last_cell) | ((i <= last_cell) & i);
            j = ((j > last_cell) & last_cell) | ((j <= last_cell) & j);
            const v8 fu = u - __builtin_convertvector(i, v8);
            const v8 fv = v - __builtin_convertvector(j, v8);
            const i8 at = j * row + i;
            const i8 below = at + row;
            const v8 near = gather(log_q, at) * (1.0f - fu) + gather(log_q, at + 1) * fu;
            const v8 far = gather(log_q, below) * (1.0f - fu) + gather(log_q, below + 1) * fu;
            v8 logit = near * (1.0f - fv) + far * fv - beyond;
            const i8 outside = lane + (int)(k * LANES) >= (int)m;
            logit = select(outside, splat(-3.0e38f), logit);
            logits[k] = logit;
            best = vmax(best, logit);
        }
        const v8 top = splat(lanes_max(best));
        v8 weight = splat(0.0f), sx = splat(0.0f), sy = splat(0.0f);
        for (i64 k = 0; k < vectors; k++) {
            /* a padding lane weighs exp(-87) at most beside the largest weight's 1 */
            const v8 w = vexp(vmax(logits[k] - top, splat(-87.0f)));
            weight += w;
            sx += w * ((const v8 *)px)[k];
            sy += w * ((const v8 *)py)[k];
        }
        const float total = lanes_sum(weight);
        out[2 * p] = lanes_sum(sx) / total;
        out[2 * p + 1] = lanes_sum(sy) / total;
    }
}
