/* The particles' density on the CPU: DensityGrid.compute of dexplorer/engine/grids.py in C.
 *
 * Built by dexplorer/core/native_build.py (-O3 -march=native, no C library) and called
 * through ctypes by grids.py when the particles are on the CPU, where torch spends most of
 * the time on the overhead of its small operations. The histogram takes the cells as torch
 * does (float32 arithmetic, floor); the blur is the same two products with the banded
 * Gaussian matrix, summed in another order (float32 rounding apart, the same image).
 */

/* The density of `count` points (x, y pairs) on a `resolution` x `resolution` grid over
 * [-extent, extent]^2 (`scale` cells a unit, row 0 at y = -extent) into `out`: the count of
 * points in each cell, blurred along the rows and then the columns by `kernel` (2 radius +
 * 1 weights, zeros beyond the edges), divided by its largest value. `counts` (all zeros)
 * and `blurred` are room for two more grids; `counts` is left all zeros again, cell by
 * cell (a loop over the whole grid would be compiled into a call of the C library's
 * memset, which the kernel does not link). */
void density(const float *points, long count, int resolution, float extent, float scale,
             const float *kernel, int radius, float *counts, float *blurred, float *out) {
    const int r = resolution;
    const long cells = (long)r * r;
    for (long i = 0; i < count; i++) {
        const float x = (points[2 * i] + extent) * scale;
        const float y = (points[2 * i + 1] + extent) * scale;
        if (!(x >= 0.0f && x < (float)r && y >= 0.0f && y < (float)r))
            continue; /* outside the grid, or not a number */
        counts[(long)y * r + (long)x] += 1.0f;
    }
    /* blurred = B counts: each row is the weighted sum of the rows within radius */
    for (int i = 0; i < r; i++) {
        float *row = blurred + (long)i * r;
        const int lo = i - radius < 0 ? 0 : i - radius;
        const int hi = i + radius > r - 1 ? r - 1 : i + radius;
        for (int j = 0; j < r; j++)
            row[j] = kernel[lo - i + radius] * counts[(long)lo * r + j];
        for (int k = lo + 1; k <= hi; k++) {
            const float weight = kernel[k - i + radius];
            const float *source = counts + (long)k * r;
            for (int j = 0; j < r; j++)
                row[j] += weight * source[j];
        }
    }
    /* out = blurred B^T: each column the weighted sum of the columns within radius */
    float largest = 0.0f;
    for (int i = 0; i < r; i++) {
        const float *source = blurred + (long)i * r;
        float *row = out + (long)i * r;
        for (int j = 0; j < r; j++)
            row[j] = kernel[radius] * source[j];
        for (int offset = -radius; offset <= radius; offset++) {
            if (offset == 0)
                continue;
            const float weight = kernel[offset + radius];
            const int lo = offset < 0 ? -offset : 0;
            const int hi = offset > 0 ? r - offset : r;
            for (int j = lo; j < hi; j++)
                row[j] += weight * source[j + offset];
        }
        for (int j = 0; j < r; j++)
            largest = row[j] > largest ? row[j] : largest;
    }
    for (long i = 0; i < count; i++) { /* back to zeros, for the next call */
        const float x = (points[2 * i] + extent) * scale;
        const float y = (points[2 * i + 1] + extent) * scale;
        if (x >= 0.0f && x < (float)r && y >= 0.0f && y < (float)r)
            counts[(long)y * r + (long)x] = 0.0f;
    }
    const float divisor = largest > 1e-12f ? largest : 1e-12f;
    for (long k = 0; k < cells; k++)
        out[k] /= divisor;
}
