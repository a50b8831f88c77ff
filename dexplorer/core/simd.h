/* Vectors of eight floats for the C kernels (GCC/Clang vector extensions, with AVX
 * builtins where the CPU has them) and a polynomial exp: included by the kernels that
 * native_build.py compiles, which use no C library. */
#ifndef DEXPLORER_SIMD_H
#define DEXPLORER_SIMD_H

typedef float v8 __attribute__((vector_size(32), aligned(32)));
typedef int i8 __attribute__((vector_size(32), aligned(32)));
typedef long long i64;

#define INLINE static inline __attribute__((always_inline))

INLINE v8 splat(float a) { return (v8){a, a, a, a, a, a, a, a}; }

/* a where mask is -1, b where it is 0 (the lanes of a comparison) */
INLINE v8 select(i8 mask, v8 a, v8 b) { return (v8)(((i8)a & mask) | ((i8)b & ~mask)); }

#ifdef __AVX__
INLINE v8 vmax(v8 a, v8 b) { return __builtin_ia32_maxps256(a, b); }
INLINE v8 vmin(v8 a, v8 b) { return __builtin_ia32_minps256(a, b); }
/* a where the sign bit of mask is clear, else b */
INLINE v8 blend_sign(v8 a, v8 b, v8 mask) { return __builtin_ia32_blendvps256(a, b, mask); }
#else
INLINE v8 vmax(v8 a, v8 b) { return select(a > b, a, b); }
INLINE v8 vmin(v8 a, v8 b) { return select(a < b, a, b); }
INLINE v8 blend_sign(v8 a, v8 b, v8 mask) { return select((i8)mask < 0, b, a); }
#endif

/* exp(x) for x in [-87, 88]: 2^n p(r) with r = x - n ln2 in [-ln2/2, ln2/2] and p of
 * degree 5, fitted for relative error. */
INLINE v8 vexp(v8 x) {
    const v8 magic = splat(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    v8 t = x * splat(1.44269504088896341f) + magic;
    v8 n = t - magic;
    v8 r = x - n * splat(0.693147180559945f);
    v8 p = splat(0.008290315046906471f);
    p = p * r + splat(0.04189793020486832f);
    p = p * r + splat(0.1666763573884964f);
    p = p * r + splat(0.4999915063381195f);
    p = p * r + splat(0.9999997019767761f);
    p = p * r + splat(1.0f);
    /* t's low bits hold n in two's complement: shifted into the exponent, they scale p */
    return (v8)((i8)p + ((i8)t << 23));
}

#endif
