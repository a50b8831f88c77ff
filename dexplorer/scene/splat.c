/* The particles' splat on the CPU: the compute pass of shaders/particles_splat.wgsl in C.
 *
 * Built by dexplorer/core/native_build.py (-O3 -march=native, no C library) and called
 * through ctypes by dexplorer/scene/particles.py on a software adapter (lavapipe), whose
 * compute pass spends several hundred nanoseconds a point; here one thread spends tens.
 * Each point adds the optical depth of its anti-aliased disc to the accumulator entries of
 * the pixels it covers (in fixed point, as the WGSL), and marks the tiles it touches with
 * the frame's number. The accumulator is the caller's copy of the GPU's: the caller uploads
 * the rows this frame touched (``rows``), and the GPU's resolve zeroes what it reads. A call
 * writes only the rows of its band, so that threads given other bands can run beside it.
 */

typedef unsigned int u32;
typedef float v8 __attribute__((vector_size(32)));
typedef int i8 __attribute__((vector_size(32)));

#define SCALE 512.0f
#define LANES 8

static inline v8 splat8(float x) { return (v8){x, x, x, x, x, x, x, x}; }
static inline v8 select8(i8 mask, v8 yes, v8 no) { return (v8)((mask & (i8)yes) | (~mask & (i8)no)); }
static inline v8 clamp8(v8 x, float lo, float hi) {
    return select8(x < splat8(lo), splat8(lo), select8(x > splat8(hi), splat8(hi), x));
}

/* ln(x) for x in (0, 1]: ln(m) + e ln 2 with m in [sqrt(1/2), sqrt(2)), ln(m) from the
 * series of atanh((m - 1) / (m + 1)) (relative error below 1e-7). */
static inline v8 ln8(v8 x) {
    const i8 bits = (i8)x;
    const i8 exponent = ((bits >> 23) & 255) - 127;
    v8 m = (v8)((bits & 0x7fffff) | 0x3f800000);
    const i8 big = m > splat8(1.41421356f);
    m = select8(big, m * splat8(0.5f), m);
    const v8 e = __builtin_convertvector(exponent - big, v8); /* big is -1 where true */
    const v8 s = (m - splat8(1.0f)) / (m + splat8(1.0f)), s2 = s * s;
    const v8 series = splat8(2.0f) + s2 * (splat8(0.66666667f) + s2 * (splat8(0.4f) + s2 * (splat8(0.28571429f) + s2 * splat8(0.22222222f))));
    return s * series + e * splat8(0.69314718f);
}

/* The fixed-point optical depth -ln(1 - opacity) of each lane. */
static inline i8 depth8(v8 opacity) {
    return __builtin_convertvector(-ln8(splat8(1.0f) - opacity) * splat8(SCALE) + splat8(0.5f), i8);
}

static inline float clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

/* floor(x) for |x| far below 2^31 */
static inline int floori(float x) {
    const int t = (int)x;
    return t - (x < (float)t);
}

/* Splat `count` points (x, y pairs) into `accum` (`channels` u32 a pixel, this cloud's depth
 * at `offset`, then its colour-weighted depths when `colored`), for a panel of `width` x
 * `height` pixels. `clip` (3 x 3, row-major) takes (x, y, 1) to (clip x, clip y, clip w).
 * `colors` (count x 4) gives each point's colour (`colored`) and, with `point_alpha`, scales
 * its opacity by its alpha. Only rows `band_lo` to `band_hi` are written; `rows` (lo, hi)
 * grows to the rows touched. */
void splat(const float *points, long count, const float *colors, int colored, int point_alpha,
           const float *clip, float width, float height, float radius, float opacity,
           u32 *accum, int channels, int offset, u32 *tiles, int tile, u32 frame, int band_lo,
           int band_hi, int *rows) {
    const int columns = (int)width, lines = (int)height;
    const int per_row = (columns + tile - 1) / tile;
    const float uniform = clampf(opacity, 0.0f, 0.999f);
    for (long i = 0; i < count; i++) {
        const float x = points[2 * i], y = points[2 * i + 1];
        const float w = clip[6] * x + clip[7] * y + clip[8];
        const float nx = (clip[0] * x + clip[1] * y + clip[2]) / w;
        const float ny = (clip[3] * x + clip[4] * y + clip[5]) / w;
        if (!(nx > -2.0f && nx < 2.0f && ny > -2.0f && ny < 2.0f))
            continue; /* far outside the panel, or not a number */
        float alpha = uniform;
        if (point_alpha) {
            alpha = clampf(opacity * colors[4 * i + 3], 0.0f, 0.999f);
            if (alpha <= 0.0f)
                continue; /* a trail's end, or a point not shown */
        }
        const float cx = (nx * 0.5f + 0.5f) * width, cy = (0.5f - ny * 0.5f) * height;
        int lo_x = floori(cx - radius), lo_y = floori(cy - radius);
        int hi_x = floori(cx + radius), hi_y = floori(cy + radius);
        const int top = band_lo > 0 ? band_lo : 0;
        const int bottom = band_hi < lines - 1 ? band_hi : lines - 1;
        lo_x = lo_x < 0 ? 0 : lo_x;
        lo_y = lo_y < top ? top : lo_y;
        hi_x = hi_x > columns - 1 ? columns - 1 : hi_x;
        hi_y = hi_y > bottom ? bottom : hi_y;
        if (lo_x > hi_x || lo_y > hi_y)
            continue; /* the disc misses the panel, or this band */
        for (int ty = lo_y / tile; ty <= hi_y / tile; ty++)
            for (int tx = lo_x / tile; tx <= hi_x / tile; tx++)
                tiles[1 + ty * per_row + tx] = frame;
        rows[0] = lo_y < rows[0] ? lo_y : rows[0];
        rows[1] = hi_y > rows[1] ? hi_y : rows[1];
        float r = 0.0f, g = 0.0f, b = 0.0f;
        if (colored) {
            r = clampf(colors[4 * i], 0.0f, 1.0f);
            g = clampf(colors[4 * i + 1], 0.0f, 1.0f);
            b = clampf(colors[4 * i + 2], 0.0f, 1.0f);
        }
        /* Eight pixels of a row at a time, without branches: a pixel's coverage is 1 inside
         * the disc's core and 0 outside its rim, and adds a depth of 0 there. */
        const v8 offsets = {0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f, 7.5f};
        for (int py = lo_y; py <= hi_y; py++) {
            const float dy = (float)py + 0.5f - cy;
            for (int px0 = lo_x; px0 <= hi_x; px0 += LANES) {
                const v8 dx = splat8((float)px0 - cx) + offsets;
                const v8 d2 = dx * dx + splat8(dy * dy);
                const v8 coverage = clamp8(splat8(radius + 0.5f) - __builtin_ia32_sqrtps256(d2), 0.0f, 1.0f);
                const i8 depth = depth8(splat8(alpha) * coverage);
                const int lanes = hi_x - px0 + 1 < LANES ? hi_x - px0 + 1 : LANES;
                u32 *entry = accum + ((long)py * columns + px0) * channels + offset;
                for (int k = 0; k < lanes; k++, entry += channels) {
                    const u32 d = (u32)depth[k];
                    entry[0] += d;
                    if (colored) {
                        entry[1] += (u32)(r * (float)d + 0.5f);
                        entry[2] += (u32)(g * (float)d + 0.5f);
                        entry[3] += (u32)(b * (float)d + 0.5f);
                    }
                }
            }
        }
    }
}
