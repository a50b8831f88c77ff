"""Fields on grids for the renderer: particle density, velocity arrows, mesh points."""

from __future__ import annotations

import ctypes
import math

import numpy as np
import torch
from torch import Tensor

from ..core.datasets import DOMAIN
from ..core.fields import FIELD_EDGE, Field
from ..core.native_build import ready


def grid_points(count: int, extent: float, device: torch.device | str = "cpu") -> Tensor:
    """A count x count grid over [-extent, extent]^2, row by row: shape (count^2, 2)."""
    axis = torch.linspace(-extent, extent, count, device=device)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], dim=1)


def gaussian_kernel(sigma: float, device: torch.device | str = "cpu") -> Tensor:
    """A normalised 1D Gaussian of standard deviation ``sigma`` cells, radius 3 sigma."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def blur_matrix(kernel: Tensor, resolution: int) -> Tensor:
    """The (R, R) matrix that convolves a column of R cells with the odd ``kernel``, with
    zeros beyond the edges: ``B @ image @ B.T`` blurs an image in both directions."""
    radius = len(kernel) // 2
    offsets = torch.arange(resolution, device=kernel.device)
    distance = offsets[None, :] - offsets[:, None]
    inside = distance.abs() <= radius
    return torch.where(inside, kernel[(distance + radius).clamp(0, len(kernel) - 1)], 0.0)


_FLOATS = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
_DENSITY_ARGUMENTS = (
    *(_FLOATS, ctypes.c_long, ctypes.c_int, ctypes.c_float, ctypes.c_float),
    *(_FLOATS, ctypes.c_int, _FLOATS, _FLOATS, _FLOATS),
)


def density_kernel() -> ctypes._CFuncPtr | None:
    """The C kernel (``density.c``) once it is loaded (the set-up builds it; the first call
    starts loading it in the background, since finding a build runs the compiler, and
    torch computes meanwhile), else ``None``."""
    if _density_function:
        return _density_function[0]
    build = ready("density")
    if build is None or build.library is None:
        return None
    function = build.library.density
    function.argtypes, function.restype = _DENSITY_ARGUMENTS, None
    _density_function.append(function)
    return function


_density_function: list[ctypes._CFuncPtr] = []


class DensityGrid:
    """Owns the blur matrix for the density of particles on an R x R grid over
    [-extent, extent]^2 (a histogram blurred by a Gaussian of ``blur`` cells), and the room
    the C kernel computes it in.

    With torch the blur is two (R, R) matrix products rather than convolutions: on a CPU
    they are ten times faster for the kernel widths used here. Particles on the CPU have
    it computed by the C kernel (``density.c``) when it is built: the same image, without
    the overhead of torch's small operations.
    """

    def __init__(
        self,
        resolution: int = 256,
        extent: float = DOMAIN,
        blur: float = 2.0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.resolution = resolution
        self.extent = extent
        self.kernel = gaussian_kernel(blur, device)
        self.blur = blur_matrix(self.kernel, resolution)
        self._room = np.zeros((2, resolution, resolution), np.float32)

    def compute(self, positions: Tensor, out: Tensor) -> Tensor:
        """Density of ``positions`` (n, 2) written into ``out`` (R, R), row 0 at y = -extent,
        scaled so that the densest cell is 1. Returns ``out``."""
        r = self.resolution
        on_cpu = positions.device.type == "cpu" and out.device.type == "cpu"
        kernel = density_kernel() if on_cpu and out.is_contiguous() else None
        if kernel is not None and positions.dtype == torch.float32:
            scale = np.float32(r / (2 * self.extent))
            weights = self.kernel.numpy()
            kernel(
                *(positions.contiguous().numpy(), len(positions), r, self.extent, scale),
                *(weights, len(weights) // 2, self._room[0], self._room[1], out.numpy()),
            )
            return out
        cells = ((positions.float() + self.extent) * (r / (2 * self.extent))).floor().long()
        inside = ((cells >= 0) & (cells < r)).all(dim=1)
        # Particles outside the grid (or NaN) count in one extra cell. No step here depends
        # on how many there are, so a GPU never waits for the host in the middle.
        index = torch.where(inside, cells[:, 1] * r + cells[:, 0], r * r)
        one = torch.ones((), device=positions.device).expand(len(index))
        counts = torch.zeros(r * r + 1, device=positions.device)
        counts = counts.index_add_(0, index, one)[: r * r].view(r, r)
        image = self.blur @ counts @ self.blur.T
        out.copy_(image / image.max().clamp_min(1e-12))
        return out


FIELD_TIMES = (FIELD_EDGE, 1 - FIELD_EDGE)
"""The times the field is drawn at on grids are clamped to: it is singular at the ends."""


def field_time(t: float) -> float:
    """t clamped into :data:`FIELD_TIMES`."""
    return min(max(t, FIELD_TIMES[0]), FIELD_TIMES[1])


def velocity_grid(field: Field, t: float, points: Tensor) -> Tensor:
    """The field's probability-flow velocity at ``points`` (n, 2) at time t."""
    with torch.inference_mode():
        return field.velocity(points, t)
