/* What the CPU draws on a software adapter, in C: the passes of shaders/particles_*.wgsl
 * (the clouds of points) and of shaders/density.wgsl (the density's contours).
 *
 * Built by dexplorer/core/native_build.py (-O3 -march=native, no C library) and called
 * through ctypes by dexplorer/scene/cpu_points.py on a software adapter (lavapipe), whose
 * compute pass spends several hundred nanoseconds a point and whose resolve pass several
 * tens a pixel. `splat` adds each point's anti-aliased disc to an accumulator the CPU
 * keeps (in fixed point, as the WGSL); `composite` turns it into colour and alpha and
 * blends that over the frame's pixels, read back from the device, as the resolve pass and
 * its blend state would, and zeroes what it read; `contours` blends the density's bands
 * and iso-lines over them as the density's shader would. A call writes only the rows of
 * its band, so that threads given other bands can run beside it.
 */

typedef unsigned int u32;
typedef float v8 __attribute__((vector_size(32)));
typedef int i8 __attribute__((vector_size(32)));
typedef u32 u8x8 __attribute__((vector_size(32))); /* eight pixels of four bytes */

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

/* The optical depth -ln(1 - opacity) of each lane, in `scale` steps a unit. */
static inline i8 depth8(v8 opacity, float scale) {
    return __builtin_convertvector(-ln8(splat8(1.0f) - opacity) * splat8(scale) + splat8(0.5f), i8);
}

static inline float clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

/* floor(x) for |x| far below 2^31 */
static inline int floori(float x) {
    const int t = (int)x;
    return t - (x < (float)t);
}

/* Splat `count` points (x, y pairs) into `accum` (`channels` u32 a pixel, this cloud's depth
 * in `scale` steps a unit at `offset`, then its colour-weighted depths when `colored`), for
 * a panel of `width` x `height` pixels. `clip` (3 x 3, row-major) takes (x, y, 1) to (clip x, clip y, clip w).
 * `colors` (count x 4) gives each point's colour (`colored`) and, with `point_alpha`, scales
 * its opacity by its alpha. Only rows `band_lo` to `band_hi` are written; `bounds` (first
 * row, last row, first column, last column) grows to the pixels touched. */
void splat(const float *points, long count, const float *colors, int colored, int point_alpha,
           const float *clip, float width, float height, float radius, float opacity,
           float scale, u32 *accum, int channels, int offset, int band_lo, int band_hi, int *bounds) {
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
                const i8 depth = depth8(splat8(alpha) * coverage, scale);
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

/* A colour `mixed` (linear, premultiplied by `alpha`) over an 8-bit sRGB `pixel` (red,
 * green and blue at `order`, alpha last), with the blend state of the passes (source alpha,
 * one minus source alpha) in linear light: `decode` gives the linear value of each sRGB
 * byte, `encode` the sRGB byte of `encode_scale` + 1 even steps of linear light. */
static inline void over(unsigned char *pixel, const float *mixed, float alpha, const int *order,
                        const float *decode, const unsigned char *encode, float encode_scale) {
    const float keep = 1.0f - alpha;
    for (int c = 0; c < 3; c++) {
        const float blended = mixed[c] + decode[pixel[order[c]]] * keep;
        pixel[order[c]] = encode[(int)(clampf(blended, 0.0f, 1.0f) * encode_scale + 0.5f)];
    }
    const float kept_alpha = (float)pixel[3] * (1.0f / 255.0f) * keep;
    pixel[3] = (unsigned char)(clampf(alpha + kept_alpha, 0.0f, 1.0f) * 255.0f + 0.5f);
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
            float mixed[3];
            for (int c = 0; c < 3; c++)
                mixed[c] = source[c] * alpha + under_color[c] * under_alpha;
            over(pixel, mixed, alpha + under_alpha, order, decode, encode, encode_scale);
        }
    }
}

/* The levels of the density at eight texel positions (tx, ty) (texel centres at whole
 * numbers): `levels` * d^gamma for the bilinear density d (clamped to the edge, 0 to 1, 0
 * for not a number), d^gamma from `power` (the power of `power_steps` even steps of 0..1,
 * interpolated). */
static inline v8 levels8(const float *density, int columns, int rows, v8 tx, v8 ty,
                         float levels, const float *power, int power_steps) {
    tx = clamp8(tx, 0.0f, (float)(columns - 1));
    ty = clamp8(ty, 0.0f, (float)(rows - 1));
    const i8 x0 = __builtin_convertvector(tx, i8), y0 = __builtin_convertvector(ty, i8);
    const v8 fx = tx - __builtin_convertvector(x0, v8), fy = ty - __builtin_convertvector(y0, v8);
    v8 a, b, c, d;
    for (int k = 0; k < LANES; k++) {
        const int x1 = x0[k] + 1 < columns ? x0[k] + 1 : x0[k];
        const int y1 = y0[k] + 1 < rows ? y0[k] + 1 : y0[k];
        const float *top = density + (long)y0[k] * columns, *bottom = density + (long)y1 * columns;
        a[k] = top[x0[k]];
        b[k] = top[x1];
        c[k] = bottom[x0[k]];
        d[k] = bottom[x1];
    }
    const v8 upper = a + (b - a) * fx, lower = c + (d - c) * fx;
    v8 value = upper + (lower - upper) * fy;
    value = select8(value > splat8(0.0f), value, splat8(0.0f)); /* also 0 for not a number */
    value = select8(value < splat8(1.0f), value, splat8(1.0f));
    const v8 step = value * splat8((float)(power_steps - 1));
    i8 k0 = __builtin_convertvector(step, i8);
    const i8 last = k0 - k0 + (power_steps - 2);
    k0 = (i8)select8(k0 < last, (v8)k0, (v8)last);
    const v8 f = step - __builtin_convertvector(k0, v8);
    v8 p0, p1;
    for (int k = 0; k < LANES; k++) {
        p0[k] = power[k0[k]];
        p1[k] = power[k0[k] + 1];
    }
    return splat8(levels) * (p0 + (p1 - p0) * f);
}

/* Blend the density's contour bands and iso-lines over `pixels` (laid out as for
 * `composite`), what shaders/density.wgsl draws: `to_texel` (2 x 3, row-major) takes a
 * pixel centre of the panel (x + 0.5, y + 0.5, 1) to a texel position of the `columns` x
 * `rows` `density`; `look` holds the levels, fill, line, line width and opacity, `color`
 * the linear colour, `power` the table of d^gamma (see `levels8`; its last step is 1).
 * Only pixels whose centres lie on the image (texel positions -0.5 to `columns` - 0.5 and
 * `rows` - 0.5) are drawn; the levels beyond its edge (the edge's texels) count only in
 * the lines' width of the pixels beside it. A pixel's iso-line width comes from the change of the level across its 2 x 2 block of
 * pixels, as the rasterizer takes it for fwidth: the blocks start at the panel's column
 * `quad_x` and row `quad_y` (0 or 1: the frame's even pixels). `scratch` has room for
 * 2 (col_hi - col_lo) + 64 floats. Only rows `band_lo` to `band_hi` are blended. */
void contours(const float *restrict density, int columns, int rows, const float *to_texel,
              const float *look, const float *color, const float *restrict power,
              int power_steps, unsigned char *restrict pixels, long stride, const int *order,
              int row_first, int col_lo, int col_hi, int quad_x, int quad_y,
              const float *restrict decode, const unsigned char *restrict encode,
              int encode_steps, float *restrict scratch, int band_lo, int band_hi) {
    const float levels = look[0], fill_strength = look[1], line_strength = look[2];
    const float line_width = look[3], opacity = look[4];
    const float encode_scale = (float)(encode_steps - 1);
    const v8 fill_step = splat8(fill_strength / levels);
    const v8 line_start = splat8(0.5f * line_width - 0.5f); /* smoothstep over one pixel */
    const int shift[3] = {8 * order[0], 8 * order[1], 8 * order[2]};
    const float paint[3] = {color[0], color[1], color[2]};
    const int first = col_lo - ((col_lo - quad_x) & 1); /* the first block's left column */
    const int count = (col_hi - first + 2 + LANES - 1) / LANES * LANES; /* whole vectors */
    float *upper = scratch, *lower = scratch + count;
    const v8 offsets = {0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f, 7.5f};
    const i8 even = {0, 0, 2, 2, 4, 4, 6, 6}, odd = {1, 1, 3, 3, 5, 5, 7, 7};
    for (int top = band_lo - ((band_lo - quad_y) & 1); top <= band_hi; top += 2) {
        for (int k = 0; k < count; k += LANES) { /* the levels of the block's two rows */
            const v8 px = splat8((float)(first + k)) + offsets;
            for (int r = 0; r < 2; r++) {
                const v8 py = splat8((float)(top + r) + 0.5f);
                const v8 tx = splat8(to_texel[0]) * px + splat8(to_texel[1]) * py + splat8(to_texel[2]);
                const v8 ty = splat8(to_texel[3]) * px + splat8(to_texel[4]) * py + splat8(to_texel[5]);
                const v8 level = levels8(density, columns, rows, tx, ty, levels, power, power_steps);
                __builtin_memcpy((r ? lower : upper) + k, &level, sizeof(v8));
            }
        }
        for (int y = top; y <= top + 1; y++) {
            if (y < band_lo || y > band_hi)
                continue;
            const float *own = y == top ? upper : lower;
            unsigned char *row = pixels + (long)(y - row_first) * stride;
            for (int k = 0; k < count; k += LANES) {
                v8 level, above, below;
                __builtin_memcpy(&level, own + k, sizeof(v8));
                if (!(__builtin_ia32_movmskps256(level > splat8(0.5f))))
                    continue; /* band 0 and no line: nothing drawn */
                __builtin_memcpy(&above, upper + k, sizeof(v8));
                __builtin_memcpy(&below, lower + k, sizeof(v8));
                const v8 across = __builtin_shuffle(level, odd) - __builtin_shuffle(level, even);
                const v8 down = below - above;
                const v8 change = select8(across < splat8(0.0f), -across, across) +
                                  select8(down < splat8(0.0f), -down, down);
                const v8 width = select8(change > splat8(1e-6f), change, splat8(1e-6f));
                const v8 shifted = level + splat8(0.5f);
                const v8 fraction = shifted - __builtin_convertvector(__builtin_convertvector(shifted, i8), v8);
                const v8 off = fraction - splat8(0.5f);
                const v8 distance = select8(off < splat8(0.0f), -off, off) / width;
                const v8 t = clamp8(distance - line_start, 0.0f, 1.0f);
                const v8 line = (splat8(1.0f) - t * t * (splat8(3.0f) - splat8(2.0f) * t)) * splat8(line_strength);
                v8 band = __builtin_convertvector(__builtin_convertvector(level, i8), v8);
                band = select8(band < splat8(levels), band, splat8(levels));
                const v8 fill = fill_step * band;
                v8 alpha = clamp8(fill + line * (splat8(1.0f) - fill), 0.0f, 1.0f) * splat8(opacity);
                /* drawn where the level passes 0.5, within the image (pixel centres on it) */
                const v8 px = splat8((float)(first + k)) + offsets, py = splat8((float)y + 0.5f);
                const v8 tx = splat8(to_texel[0]) * px + splat8(to_texel[1]) * py + splat8(to_texel[2]);
                const v8 ty = splat8(to_texel[3]) * px + splat8(to_texel[4]) * py + splat8(to_texel[5]);
                const i8 inside = (tx >= splat8(-0.5f)) & (tx < splat8((float)columns - 0.5f)) &
                                  (ty >= splat8(-0.5f)) & (ty < splat8((float)rows - 0.5f));
                alpha = select8(inside & (level > splat8(0.5f)), alpha, splat8(0.0f));
                const int x0 = first + k;
                if (x0 >= col_lo && x0 + LANES - 1 <= col_hi) { /* eight pixels of the row */
                    unsigned char *pixel = row + (long)(x0 - col_lo) * 4;
                    u8x8 packed;
                    __builtin_memcpy(&packed, pixel, sizeof(packed));
                    const v8 keep = splat8(1.0f) - alpha;
                    u8x8 result = (u8x8)__builtin_convertvector(
                        clamp8(alpha + __builtin_convertvector(packed >> 24, v8) * splat8(1.0f / 255.0f) * keep, 0.0f, 1.0f) * splat8(255.0f) + splat8(0.5f), i8) << 24;
                    for (int c = 0; c < 3; c++) {
                        const u8x8 bytes = (packed >> shift[c]) & 255u;
                        v8 below_pixel;
                        for (int j = 0; j < LANES; j++)
                            below_pixel[j] = decode[bytes[j]];
                        const v8 blended = clamp8(splat8(paint[c]) * alpha + below_pixel * keep, 0.0f, 1.0f);
                        const i8 step = __builtin_convertvector(blended * splat8(encode_scale) + splat8(0.5f), i8);
                        u8x8 encoded;
                        for (int j = 0; j < LANES; j++)
                            encoded[j] = encode[step[j]];
                        result |= encoded << shift[c];
                    }
                    const i8 drawn = alpha > splat8(0.002f);
                    result = (u8x8)(((i8)result & drawn) | ((i8)packed & ~drawn));
                    __builtin_memcpy(pixel, &result, sizeof(result));
                    continue;
                }
                for (int j = 0; j < LANES; j++) {
                    const int x = first + k + j;
                    if (!(alpha[j] > 0.002f) || x < col_lo || x > col_hi)
                        continue;
                    const float mixed[3] = {paint[0] * alpha[j], paint[1] * alpha[j],
                                            paint[2] * alpha[j]};
                    over(row + (long)(x - col_lo) * 4, mixed, alpha[j], order, decode, encode,
                         encode_scale);
                }
            }
        }
    }
}
