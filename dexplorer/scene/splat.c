/* The particles' splat and resolve on the CPU: the passes of shaders/particles_*.wgsl in C.
 *
 * Built by dexplorer/core/native_build.py (-O3 -march=native, no C library) and called
 * through ctypes by dexplorer/scene/cpu_points.py on a software adapter (lavapipe), whose
 * compute pass spends several hundred nanoseconds a point and whose resolve pass several
 * tens a pixel. `splat` adds each point's anti-aliased disc to an accumulator the CPU
 * keeps (in fixed point, as the WGSL); `composite` turns it into colour and alpha and
 * blends that over the frame's pixels, read back from the device, as the resolve pass and
 * its blend state would, and zeroes what it read. A call writes only the rows of its band,
 * so that threads given other bands can run beside it.
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
 * its opacity by its alpha. Only rows `band_lo` to `band_hi` are written; `bounds` (first
 * row, last row, first column, last column) grows to the pixels touched. */
void splat(const float *points, long count, const float *colors, int colored, int point_alpha,
           const float *clip, float width, float height, float radius, float opacity,
           u32 *accum, int channels, int offset, int band_lo, int band_hi, int *bounds) {
    const int columns = (int)width, lines = (int)height;
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
        bounds[0] = lo_y < bounds[0] ? lo_y : bounds[0];
        bounds[1] = hi_y > bounds[1] ? hi_y : bounds[1];
        bounds[2] = lo_x < bounds[2] ? lo_x : bounds[2];
        bounds[3] = hi_x > bounds[3] ? hi_x : bounds[3];
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

/* Blend the clouds accumulated in `accum` (laid out as `splat` writes it, `columns` pixels a
 * row; the under cloud's depth last when `under`) over `pixels`, the frame's 8-bit sRGB
 * pixels of the panel's columns `col_lo` to `col_hi` and of its rows from `row_first`
 * (`stride` bytes a row, 4 a pixel, red, green and blue at `order`, alpha last): what the
 * resolve pass outputs, a colour and alpha = 1 - exp(-depth), blended over them in linear
 * light (source alpha, one minus source alpha). `color` and `under_color` are linear RGB;
 * `alpha_of` gives the alpha of a depth below `alpha_steps` (deeper is opaque),
 * `decode` the linear value of each sRGB byte, `encode` the sRGB byte of a linear value
 * in `encode_steps` even steps, and `mean_decode` the linear value of a mean sRGB colour
 * channel in `mean_steps` even steps. Every entry read is zeroed. Only rows `band_lo` to
 * `band_hi` are blended. */
void composite(u32 *accum, int columns, int channels, int colored, int under,
               const float *color, const float *under_color, unsigned char *pixels,
               long stride, const int *order, int row_first, int col_lo, int col_hi,
               const float *alpha_of, int alpha_steps, const float *decode,
               const unsigned char *encode, int encode_steps, const float *mean_decode,
               int mean_steps, int band_lo, int band_hi) {
    const u32 deepest = (u32)alpha_steps - 1u;
    const float encode_scale = (float)(encode_steps - 1), mean_scale = (float)(mean_steps - 1);
    for (int y = band_lo; y <= band_hi; y++) {
        u32 *entry = accum + ((long)y * columns + col_lo) * channels;
        unsigned char *pixel = pixels + (long)(y - row_first) * stride;
        for (int x = col_lo; x <= col_hi; x++, entry += channels, pixel += 4) {
            const u32 sum = entry[0], under_sum = under ? entry[channels - 1] : 0u;
            if ((sum | under_sum) == 0u)
                continue;
            const float alpha = alpha_of[sum < deepest ? sum : deepest];
            float source[3] = {color[0], color[1], color[2]};
            if (colored) {
                const float scale = mean_scale / (float)(sum > 1u ? sum : 1u);
                for (int c = 0; c < 3; c++) {
                    const float mean = clampf((float)entry[1 + c] * scale, 0.0f, mean_scale);
                    source[c] = mean_decode[(int)(mean + 0.5f)];
                }
            }
            for (int c = 0; c < channels; c++) /* volatile: not a call of memset */
                ((volatile u32 *)entry)[c] = 0u;
            const float under_alpha =
                under ? alpha_of[under_sum < deepest ? under_sum : deepest] * (1.0f - alpha) : 0.0f;
            const float total = alpha + under_alpha;
            const float keep = 1.0f - total;
            for (int c = 0; c < 3; c++) {
                const float mixed = source[c] * alpha + under_color[c] * under_alpha;
                const float blended = mixed + decode[pixel[order[c]]] * keep;
                pixel[order[c]] = encode[(int)(clampf(blended, 0.0f, 1.0f) * encode_scale + 0.5f)];
            }
            const float kept_alpha = (float)pixel[3] * (1.0f / 255.0f) * keep;
            pixel[3] = (unsigned char)(clampf(total + kept_alpha, 0.0f, 1.0f) * 255.0f + 0.5f);
        }
    }
}

/* The level of the density at texel position (tx, ty) (texel centres at whole numbers):
 * `levels` * d^gamma for the bilinear density d (clamped to the edge, at least 0), d^gamma
 * from `power` (the power of `power_steps` even steps of 0..1, interpolated). */
static inline float level_at(const float *density, int columns, int rows, float tx, float ty,
                             float levels, const float *power, int power_steps) {
    const float x = clampf(tx, 0.0f, (float)(columns - 1)), y = clampf(ty, 0.0f, (float)(rows - 1));
    const int x0 = (int)x, y0 = (int)y; /* x, y >= 0: truncation is floor */
    const int x1 = x0 + 1 < columns ? x0 + 1 : x0, y1 = y0 + 1 < rows ? y0 + 1 : y0;
    const float fx = x - (float)x0, fy = y - (float)y0;
    const float *top = density + (long)y0 * columns, *bottom = density + (long)y1 * columns;
    const float upper = top[x0] + (top[x1] - top[x0]) * fx;
    const float lower = bottom[x0] + (bottom[x1] - bottom[x0]) * fx;
    float d = upper + (lower - upper) * fy;
    d = d > 0.0f ? (d < 1.0f ? d : 1.0f) : 0.0f; /* also 0 for not a number */
    const float step = d * (float)(power_steps - 1);
    const int k = (int)step < power_steps - 2 ? (int)step : power_steps - 2;
    return levels * (power[k] + (power[k + 1] - power[k]) * (step - (float)k));
}

static inline float smoothstepf(float lo, float hi, float x) {
    const float t = clampf((x - lo) / (hi - lo), 0.0f, 1.0f);
    return t * t * (3.0f - 2.0f * t);
}

/* Blend the density's contour bands and iso-lines over `pixels` (laid out as for
 * `composite`), what shaders/density.wgsl draws: `to_texel` (2 x 3, row-major) takes a
 * pixel centre of the panel (x + 0.5, y + 0.5, 1) to a texel position of the `columns` x
 * `rows` `density`; `look` holds the levels, fill, line, line width and opacity, `color`
 * the linear colour, `power` the table of d^gamma (see `level_at`). A pixel's iso-line
 * width comes from the change of the level across its 2 x 2 block of pixels, as the
 * rasterizer takes it for fwidth: the blocks start at the panel's column `quad_x` and row
 * `quad_y` (0 or 1: the frame's even pixels). `scratch` has room for 4 (col_hi - col_lo
 * + 4) floats. Only rows `band_lo` to `band_hi` are blended. */
void contours(const float *restrict density, int columns, int rows, const float *to_texel,
              const float *look, const float *color, const float *restrict power,
              int power_steps, unsigned char *restrict pixels, long stride, const int *order,
              int row_first, int col_lo, int col_hi, int quad_x, int quad_y,
              const float *restrict decode, const unsigned char *restrict encode,
              int encode_steps, float *restrict scratch, int band_lo, int band_hi) {
    const float levels = look[0], fill_strength = look[1], line_strength = look[2];
    const float line_width = look[3], opacity = look[4];
    const float encode_scale = (float)(encode_steps - 1);
    const int first = col_lo - ((col_lo - quad_x) & 1); /* the first block's left column */
    const int count = col_hi - first + 2;
    float *upper = scratch, *lower = scratch + count + 2;
    for (int top = band_lo - ((band_lo - quad_y) & 1); top <= band_hi; top += 2) {
        for (int k = 0; k < count; k++) { /* the levels of the block's two rows */
            const float px = (float)(first + k) + 0.5f;
            for (int r = 0; r < 2; r++) {
                const float py = (float)(top + r) + 0.5f;
                const float tx = to_texel[0] * px + to_texel[1] * py + to_texel[2];
                const float ty = to_texel[3] * px + to_texel[4] * py + to_texel[5];
                (r ? lower : upper)[k] =
                    level_at(density, columns, rows, tx, ty, levels, power, power_steps);
            }
        }
        for (int y = top; y <= top + 1; y++) {
            if (y < band_lo || y > band_hi)
                continue;
            const float *own = y == top ? upper : lower;
            unsigned char *pixel = pixels + (long)(y - row_first) * stride;
            for (int x = col_lo; x <= col_hi; x++, pixel += 4) {
                const int k = x - first, left = k - (k & 1);
                const float level = own[k];
                const float change = __builtin_fabsf(own[left + 1] - own[left]) +
                                     __builtin_fabsf(lower[k] - upper[k]);
                const float width = change > 1e-6f ? change : 1e-6f;
                const float fraction = level + 0.5f - (float)(int)(level + 0.5f);
                const float distance = __builtin_fabsf(fraction - 0.5f) / width;
                const float on_line = 1.0f - smoothstepf(0.5f * line_width - 0.5f,
                                                         0.5f * line_width + 0.5f, distance);
                const float line = level > 0.5f ? on_line * line_strength : 0.0f;
                const float band = (float)(int)level < levels ? (float)(int)level : levels;
                const float fill = fill_strength * band / levels;
                const float alpha = clampf(fill + line * (1.0f - fill), 0.0f, 1.0f) * opacity;
                if (!(alpha > 0.002f))
                    continue;
                const float keep = 1.0f - alpha;
                for (int c = 0; c < 3; c++) {
                    const float blended = color[c] * alpha + decode[pixel[order[c]]] * keep;
                    pixel[order[c]] =
                        encode[(int)(clampf(blended, 0.0f, 1.0f) * encode_scale + 0.5f)];
                }
                const float kept_alpha = (float)pixel[3] * (1.0f / 255.0f) * keep;
                pixel[3] = (unsigned char)(clampf(alpha + kept_alpha, 0.0f, 1.0f) * 255.0f + 0.5f);
            }
        }
    }
}
