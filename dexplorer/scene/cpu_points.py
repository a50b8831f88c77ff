"""What the CPU draws on a software adapter, clouds of points and the density's contours:
the C kernel (``splat.c``) and the arithmetic around it.

On lavapipe every pass over the pixels is the CPU's own work, at several tens of
nanoseconds a pixel for the resolve pass (its storage reads and writes cost most), and the
compute splat several hundred a point. So there a cloud is splatted by the C kernel into an
accumulator the CPU keeps, and the kernel blends it over the frame's pixels, read back from
the device and written back (:class:`dexplorer.scene.renderer.Renderer` does that between
the objects drawn before the cloud and those after it), with the arithmetic of the passes
and their blend state; the density's bands and lines likewise. Without a C compiler the
device's passes draw them.
"""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache, lru_cache

import numpy as np

from ..core.native_build import ready
from .colors import linear_values, srgb_values
from .renderer import software_adapter

SCALE = 512.0
"""Fixed-point steps of one unit of optical depth for points of 1% opacity or more."""
FINEST = 16.0
"""How many times finer the steps become at most, for fainter points."""
ALPHA_DEPTH = 32
"""Depths with an alpha of their own in the kernel's table, in units (deeper ones are
opaque: 1 - exp(-32) is 1 in float32)."""
ENCODE_STEPS = 1 << 16
"""Even steps of linear light in the kernel's table of sRGB bytes (finer than the sRGB
curve's steepest byte, 1 / (255 * 12.92))."""
POWER_STEPS = 1 << 12
"""Even steps of the density (0..1) in the kernel's table of its power."""
MEAN_STEPS = 1 << 12
"""Even steps of a pixel's mean sRGB colour in the kernel's table of linear values."""
CPU_THREADS = min(os.cpu_count() or 1, 4)
"""Threads the kernel runs on, each over its own band of rows."""

_FLOATS = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
_UINTS = np.ctypeslib.ndpointer(np.uint32, flags="C_CONTIGUOUS")
_INTS = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")
_BYTES = np.ctypeslib.ndpointer(np.uint8, flags="C_CONTIGUOUS")
_SPLAT_ARGUMENTS = (
    *(_FLOATS, ctypes.c_long, _FLOATS, ctypes.c_int, ctypes.c_int, _FLOATS),
    *(ctypes.c_float, ctypes.c_float, ctypes.c_float, ctypes.c_float, ctypes.c_float),
    *(_UINTS, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, _INTS),
)
_COMPOSITE_ARGUMENTS = (
    *(_UINTS, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, _FLOATS, _FLOATS),
    *(ctypes.c_void_p, ctypes.c_long, _INTS, ctypes.c_int, ctypes.c_int, ctypes.c_int),
    *(_FLOATS, ctypes.c_int, _FLOATS, _BYTES, ctypes.c_int, _FLOATS, ctypes.c_int),
    *(ctypes.c_int, ctypes.c_int),
)
_CONTOURS_ARGUMENTS = (
    *(_FLOATS, ctypes.c_int, ctypes.c_int, _FLOATS, _FLOATS, _FLOATS, _FLOATS, ctypes.c_int),
    *(ctypes.c_void_p, ctypes.c_long, _INTS, ctypes.c_int, ctypes.c_int, ctypes.c_int),
    *(ctypes.c_int, ctypes.c_int, _FLOATS, _BYTES, ctypes.c_int, _FLOATS),
    *(ctypes.c_int, ctypes.c_int),
)
NO_BOUNDS = (np.iinfo(np.int32).max, -1, np.iinfo(np.int32).max, -1)
"""The bounds (first row, last row, first column, last column) of nothing."""

_kernel: list[ctypes.CDLL] = []
_threads: list[ThreadPoolExecutor] = []


def depth_scale(opacity: float) -> float:
    """Fixed-point steps of one unit of optical depth in the accumulator of points of
    ``opacity`` (the shaders' ``depth_scale``): :data:`SCALE`, and finer for points fainter
    than 1% (up to :data:`FINEST` times), so that a point's depth, rounded to a step, stays
    about five steps. The sum stays within 32 bits: a pixel takes a million points of
    opacity 1 at :data:`SCALE`, and hundreds of millions of points at 1% or below."""
    return SCALE * min(FINEST, max(1.0, 0.01 / max(float(opacity), 1e-9)))


def cpu_kernel() -> ctypes.CDLL | None:
    """The C kernel when clouds are drawn by the CPU: on a software adapter, once it is
    loaded (the set-up builds it; the first call starts loading it in the background, and
    the device's passes draw meanwhile). ``None``: the device draws them."""
    if _kernel:
        return _kernel[0]
    if not software_adapter():
        return None
    build = ready("splat")
    if build is None or build.library is None:
        return None
    library = build.library
    library.splat.argtypes, library.splat.restype = _SPLAT_ARGUMENTS, None
    library.composite.argtypes, library.composite.restype = _COMPOSITE_ARGUMENTS, None
    library.contours.argtypes, library.contours.restype = _CONTOURS_ARGUMENTS, None
    _kernel.append(library)
    return library


def in_bands(first: int, last: int, call: object) -> None:
    """``call(lo, hi, band)`` for ``CPU_THREADS`` bands of rows ``first`` to ``last``, at
    once (ctypes lets go of the interpreter during a kernel's call)."""
    rows = last - first + 1
    bands = min(CPU_THREADS, max(rows, 1))
    edges = [first + rows * k // bands for k in range(bands + 1)]
    if bands == 1:
        call(first, last, 0)
        return
    if not _threads:
        _threads.append(ThreadPoolExecutor(CPU_THREADS, "dexplorer-cpu-points"))
    tasks = [_threads[0].submit(call, edges[k], edges[k + 1] - 1, k) for k in range(bands)]
    for task in tasks:
        task.result()


def splat(
    accum: np.ndarray,
    points: np.ndarray,
    colors: np.ndarray,
    clip: np.ndarray,
    size: tuple[int, int],
    look: tuple[float, float, bool, bool],
    layout: tuple[int, int, float],
) -> tuple[int, int, int, int]:
    """Add the discs of ``points`` (n, 2) to ``accum`` for a panel of ``size`` pixels, with
    ``clip`` (3 x 3) from world to clip space, the ``look`` (radius in pixels, opacity,
    whether each point has its own colour from ``colors``, whether its alpha scales its
    opacity) and the accumulator's ``layout`` (entries a pixel, this cloud's entry, the
    steps of a unit of depth: :func:`depth_scale`);
    returns the bounds of the pixels touched (first row, last row, first column, last
    column; :data:`NO_BOUNDS` for none)."""
    kernel = cpu_kernel()
    width, height = size
    radius, opacity, colored, point_alpha = look
    bounds = np.tile(np.array(NO_BOUNDS, np.int32), (CPU_THREADS, 1))
    arguments = (points, len(points), colors, colored, point_alpha, clip, width, height)

    channels, offset, scale = layout

    def band(lo: int, hi: int, k: int) -> None:
        kernel.splat(*arguments, radius, opacity, scale, accum, channels, offset, lo, hi, bounds[k])

    in_bands(0, height - 1, band)
    return union(bounds)


def union(bounds: np.ndarray | list) -> tuple[int, int, int, int]:
    """The bounds (first row, last row, first column, last column) around all of ``bounds``
    (rows of four)."""
    bounds = np.asarray(bounds).reshape(-1, 4)
    top, bottom = int(bounds[:, 0].min()), int(bounds[:, 1].max())
    return top, bottom, int(bounds[:, 2].min()), int(bounds[:, 3].max())


def composite(
    accum: np.ndarray,
    width: int,
    layout: tuple[int, bool, bool, float],
    colors: tuple[np.ndarray, np.ndarray],
    pixels: np.ndarray,
    region: tuple[int, int, int, int],
    order: np.ndarray,
) -> None:
    """Blend the clouds in ``accum`` (a panel ``width`` pixels wide; ``layout``: entries a
    pixel, whether each point had its own colour, whether the last entry is the under
    cloud's, the steps of a unit of depth) over ``pixels`` (rows, columns, 4: the frame's
    8-bit sRGB pixels of ``region``, the panel's rows and columns first to last, colour
    channels at ``order``) in place, with the uniform and the under cloud's ``colors``
    (linear RGB), and zero the entries read."""
    kernel = cpu_kernel()
    *entries, scale = layout
    alpha_of = alpha_table(scale)
    decode, encode, mean_decode = tables()
    first_row, last_row, first_column, last_column = region
    stride = pixels.strides[0]
    address = pixels.ctypes.data
    color, under_color = (np.ascontiguousarray(c[:3], np.float32) for c in colors)

    def band(lo: int, hi: int, k: int) -> None:
        kernel.composite(
            *(accum, width, *entries, color, under_color, address, stride, order),
            *(first_row, first_column, last_column, alpha_of, len(alpha_of), decode),
            *(encode, ENCODE_STEPS, mean_decode, MEAN_STEPS, lo, hi),
        )

    in_bands(first_row, last_row, band)


def contours(
    density: np.ndarray,
    to_texel: np.ndarray,
    look: np.ndarray,
    color: np.ndarray,
    gamma: float,
    pixels: np.ndarray,
    region: tuple[int, int, int, int],
    order: np.ndarray,
    quad: tuple[int, int],
) -> None:
    """Blend the contour bands and iso-lines of ``density`` (rows, columns; 0..1) over
    ``pixels`` (the frame's pixels of ``region`` of the panel, as for :func:`composite`):
    ``to_texel`` (2 x 3) takes a pixel centre of the panel to a texel position, ``look``
    holds the levels, fill, line, line width and opacity, ``color`` is linear RGB, the
    level is levels * density^``gamma``, and the panel's 2 x 2 blocks of pixels (whose
    changes give the lines' width) start at its column and row ``quad``."""
    kernel = cpu_kernel()
    decode, encode, _ = tables()
    first_row, last_row, first_column, last_column = region
    rows, columns = density.shape
    room = np.empty((CPU_THREADS, 4 * (last_column - first_column + 8)), np.float32)
    arguments = (np.ascontiguousarray(density, np.float32), columns, rows, to_texel, look)
    color = np.ascontiguousarray(color[:3], np.float32)

    def band(lo: int, hi: int, k: int) -> None:
        kernel.contours(
            *(*arguments, color, power_table(float(gamma)), POWER_STEPS, pixels.ctypes.data),
            *(pixels.strides[0], order, first_row, first_column, last_column, *quad),
            *(decode, encode, ENCODE_STEPS, room[k], lo, hi),
        )

    in_bands(first_row, last_row, band)


@cache
def power_table(gamma: float) -> np.ndarray:
    """d^gamma for :data:`POWER_STEPS` even steps of d over 0..1 (float32, as the shader's
    power of a float32 density)."""
    steps = np.arange(POWER_STEPS, dtype=np.float32) / np.float32(POWER_STEPS - 1)
    return np.power(steps, np.float32(gamma), dtype=np.float32)


@lru_cache(maxsize=4)
def alpha_table(scale: float) -> np.ndarray:
    """The alpha of each depth in steps of 1 / ``scale`` (:func:`depth_scale`), to
    :data:`ALPHA_DEPTH` units."""
    return (1.0 - np.exp(-np.arange(int(ALPHA_DEPTH * scale)) / scale)).astype(np.float32)


@cache
def tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's tables but the alphas (:func:`alpha_table`): the linear value of each
    sRGB byte, the sRGB byte of each step of linear light, the linear value of each step of
    sRGB."""
    decode = linear_values(np.arange(256) / 255).astype(np.float32)
    linear = np.arange(ENCODE_STEPS) / (ENCODE_STEPS - 1)
    encode = np.round(255 * srgb_values(linear)).astype(np.uint8)
    mean_decode = linear_values(np.arange(MEAN_STEPS) / (MEAN_STEPS - 1)).astype(np.float32)
    return decode, encode, mean_decode
