/* Whole trajectories of a depth-3 flow MLP on the CPU: Euler, midpoint or Heun steps with
 * every network evaluation fused, for tiles of 24 particles that stay in the core's cache.
 *
 * Built by dexplorer/core/native_build.py (-O3 -march=native) and called through ctypes by
 * dexplorer/core/native_sampler.py, one call per thread over its own particles. No libc
 * calls: the vectors of simd.h.
 *
 * Layout: a tile's activations are (width, 3) vectors of 8 particles. A hidden layer runs
 * as blocks of 4 output units x 24 particles: 12 accumulators, 3 activation vectors and a
 * broadcast weight fill the 16 AVX registers, so each multiply-add reads nothing from
 * memory but its weight. ELU and SiLU use a polynomial exp (relative error below 1.7e-7).
 */

#include "simd.h"

#define LANES 8
#define VECS 3
#define TILE (LANES * VECS)
#define ROWS 4
#define MAX_WIDTH 128

enum { ELU, SILU, RELU };
enum { EULER, MIDPOINT, HEUN };

INLINE v8 activate(v8 h, const int activation) {
    if (activation == ELU) /* exp(h) - 1 where h < 0; exp of a positive h is discarded */
        return blend_sign(h, vexp(vmax(h, splat(-87.0f))) - splat(1.0f), h);
    if (activation == SILU)
        return h / (splat(1.0f) + vexp(vmin(vmax(-h, splat(-87.0f)), splat(88.0f))));
    return vmax(h, splat(0.0f));
}

/* acc[r][v] = b[r] + sum_k w[k][r] in[k][v] for ROWS output units of a tile. A leaf
 * function, so that its 12 accumulators, 3 inputs and 1 weight own the 16 registers. */
static __attribute__((noinline)) void block(const int width, const v8 *restrict in,
                                            const float *restrict w, const float *restrict b,
                                            v8 *restrict acc_out) {
    v8 acc[ROWS][VECS];
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; r++)
#pragma GCC unroll 3
        for (int v = 0; v < VECS; v++) acc[r][v] = splat(b[r]);
    for (int k = 0; k < width; k++) {
        v8 x0 = in[k * VECS], x1 = in[k * VECS + 1], x2 = in[k * VECS + 2];
#ifdef __AVX__
        __asm__("" : "+x"(x0), "+x"(x1), "+x"(x2)); /* loaded once, not once per row */
#endif
#pragma GCC unroll 4
        for (int r = 0; r < ROWS; r++) {
            v8 wr = splat(w[k * ROWS + r]);
            acc[r][0] += wr * x0;
            acc[r][1] += wr * x1;
            acc[r][2] += wr * x2;
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; r++)
#pragma GCC unroll 3
        for (int v = 0; v < VECS; v++) acc_out[r * VECS + v] = acc[r][v];
}

/* out = act(W in + b) for a tile; packed W: (width / ROWS, width, ROWS). */
INLINE void dense(const int width, const int activation, const v8 *restrict in,
                  v8 *restrict out, const float *restrict packed, const float *restrict b) {
    for (int jb = 0; jb < width / ROWS; jb++) {
        v8 *o = out + jb * ROWS * VECS;
        block(width, in, packed + jb * width * ROWS, b + jb * ROWS, o);
#pragma GCC unroll 12
        for (int i = 0; i < ROWS * VECS; i++) o[i] = activate(o[i], activation);
    }
}

typedef struct {
    const float *bias;        /* (evaluations, width): the first layer's bias at each one */
    const float *lengths;     /* (steps,): each step's length */
    const float *first;       /* (width, 2): the first layer's weights for x */
    const float *hidden;      /* (2, width / ROWS, width, ROWS): the hidden layers, packed */
    const float *hidden_bias; /* (2, width) */
    const float *output;      /* (2, width) */
    const float *output_bias; /* (2,) */
} weights_t;

/* The network's output (vx, vy) at positions (px, py) with this evaluation's first bias. */
INLINE void velocity(const int width, const int activation, const weights_t *wt,
                     const float *restrict bias, const v8 *px, const v8 *py, v8 *vx, v8 *vy,
                     v8 *restrict a, v8 *restrict b) {
    for (int j = 0; j < width; j++) {
        v8 wx = splat(wt->first[2 * j]), wy = splat(wt->first[2 * j + 1]), c = splat(bias[j]);
#pragma GCC unroll 3
        for (int v = 0; v < VECS; v++)
            a[j * VECS + v] = activate(wx * px[v] + wy * py[v] + c, activation);
    }
    dense(width, activation, a, b, wt->hidden, wt->hidden_bias);
    dense(width, activation, b, a, wt->hidden + width * width, wt->hidden_bias + width);
#pragma GCC unroll 3
    for (int v = 0; v < VECS; v++) {
        vx[v] = splat(wt->output_bias[0]);
        vy[v] = splat(wt->output_bias[1]);
    }
    for (int j = 0; j < width; j++) {
        v8 wx = splat(wt->output[j]), wy = splat(wt->output[width + j]);
#pragma GCC unroll 3
        for (int v = 0; v < VECS; v++) {
            vx[v] += wx * a[j * VECS + v];
            vy[v] += wy * a[j * VECS + v];
        }
    }
}

/* Integrate count <= TILE particles from x0 over steps, writing step s's positions at
 * out + s * row_stride. */
INLINE void sample_tile(const int width, const int activation, const int sampler,
                        const weights_t *wt, const float *x0, float *out, const int count,
                        const i64 row_stride, const int steps) {
    v8 a[MAX_WIDTH * VECS], b[MAX_WIDTH * VECS];
    v8 px[VECS], py[VECS], vx[VECS], vy[VECS], ux[VECS], uy[VECS], qx[VECS], qy[VECS];
    float *fx = (float *)px, *fy = (float *)py;
    for (int p = 0; p < TILE; p++) {
        fx[p] = p < count ? x0[2 * p] : 0.0f;
        fy[p] = p < count ? x0[2 * p + 1] : 0.0f;
    }
    const int evaluations = sampler == EULER ? 1 : 2;
    for (int s = 0; s < steps; s++) {
        const v8 dt = splat(wt->lengths[s]);
        const float *bias = wt->bias + (i64)s * evaluations * width;
        velocity(width, activation, wt, bias, px, py, vx, vy, a, b);
        if (sampler == EULER) {
            for (int v = 0; v < VECS; v++) {
                px[v] += dt * vx[v];
                py[v] += dt * vy[v];
            }
        } else {
            const v8 reach = sampler == MIDPOINT ? splat(0.5f) * dt : dt;
            for (int v = 0; v < VECS; v++) {
                qx[v] = px[v] + reach * vx[v];
                qy[v] = py[v] + reach * vy[v];
            }
            velocity(width, activation, wt, bias + width, qx, qy, ux, uy, a, b);
            for (int v = 0; v < VECS; v++) {
                if (sampler == MIDPOINT) {
                    px[v] += dt * ux[v];
                    py[v] += dt * uy[v];
                } else {
                    px[v] += splat(0.5f) * dt * (vx[v] + ux[v]);
                    py[v] += splat(0.5f) * dt * (vy[v] + uy[v]);
                }
            }
        }
        float *row = out + (i64)s * row_stride;
        for (int p = 0; p < count; p++) {
            row[2 * p] = fx[p];
            row[2 * p + 1] = fy[p];
        }
    }
}

typedef void (*run_t)(const weights_t *, int, const float *, float *, i64, i64, int);

/* One function per width and activation, so that both are constants in the loops. */
#define DEFINE_RUN(W, ACT)                                                                     \
    static void run_##W##_##ACT(const weights_t *wt, int sampler, const float *x0, float *out, \
                                i64 n, i64 row_stride, int steps) {                            \
        for (i64 start = 0; start < n; start += TILE) {                                        \
            const int count = n - start < TILE ? (int)(n - start) : TILE;                      \
            const float *x = x0 + 2 * start;                                                   \
            float *o = out + 2 * start;                                                        \
            if (sampler == EULER)                                                              \
                sample_tile(W, ACT, EULER, wt, x, o, count, row_stride, steps);                \
            else if (sampler == MIDPOINT)                                                      \
                sample_tile(W, ACT, MIDPOINT, wt, x, o, count, row_stride, steps);             \
            else                                                                               \
                sample_tile(W, ACT, HEUN, wt, x, o, count, row_stride, steps);                 \
        }                                                                                      \
    }
#define DEFINE_WIDTH(W) DEFINE_RUN(W, ELU) DEFINE_RUN(W, SILU) DEFINE_RUN(W, RELU)
DEFINE_WIDTH(16)
DEFINE_WIDTH(32)
DEFINE_WIDTH(64)
DEFINE_WIDTH(128)

#define RUNS_OF(W) {run_##W##_ELU, run_##W##_SILU, run_##W##_RELU}
static const run_t RUNS[4][3] = {RUNS_OF(16), RUNS_OF(32), RUNS_OF(64), RUNS_OF(128)};

/* Integrate n particles from x0 (n, 2) over steps; step s + 1's positions go to
 * out + s * row_stride (out is the trajectory's next row). activation: 0 ELU, 1 SiLU,
 * 2 ReLU; sampler: 0 Euler, 1 midpoint, 2 Heun. Returns 0, or -1 for an unsupported
 * width, activation or sampler. */
int dx_sample_mlp(int width, int activation, int sampler, const float *bias,
                  const float *lengths, const float *first, const float *hidden,
                  const float *hidden_bias, const float *output, const float *output_bias,
                  const float *x0, float *out, i64 n, i64 row_stride, int steps) {
    const int w = width == 16 ? 0 : width == 32 ? 1 : width == 64 ? 2 : width == 128 ? 3 : -1;
    if (w < 0 || activation < 0 || activation > 2 || sampler < 0 || sampler > 2) return -1;
    const weights_t wt = {bias, lengths, first, hidden, hidden_bias, output, output_bias};
    RUNS[w][activation](&wt, sampler, x0, out, n, row_stride, steps);
    return 0;
}
