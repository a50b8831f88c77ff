"""Fields on grids for the renderer: particle density, velocity arrows, mesh points."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from ..core.fields import Field


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


class DensityGrid:
    """Owns the kernel and scratch space for the density of particles on an R x R grid
    over [-extent, extent]^2 (a histogram blurred by a Gaussian of ``blur`` cells)."""

    def __init__(
        self,
        resolution: int = 256,
        extent: float = 3.5,
        blur: float = 2.0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.resolution = resolution
        self.extent = extent
        self.kernel = gaussian_kernel(blur, device)
        self.counts = torch.zeros(resolution * resolution, device=device)

    def compute(self, positions: Tensor, out: Tensor) -> Tensor:
        """Density of ``positions`` (n, 2) written into ``out`` (R, R), row 0 at y = -extent,
        scaled so that the densest cell is 1. Returns ``out``."""
        r = self.resolution
        cells = ((positions.float() + self.extent) * (r / (2 * self.extent))).floor().long()
        inside = ((cells >= 0) & (cells < r)).all(dim=1)
        index = cells[inside, 1] * r + cells[inside, 0]
        self.counts.zero_()
        self.counts.index_add_(0, index, torch.ones_like(index, dtype=torch.float32))
        image = self.counts.view(1, 1, r, r)
        k = self.kernel
        pad = len(k) // 2
        image = F.conv2d(F.pad(image, (pad, pad, 0, 0)), k.view(1, 1, 1, -1))
        image = F.conv2d(F.pad(image, (0, 0, pad, pad)), k.view(1, 1, -1, 1))
        image = image.view(r, r)
        out.copy_(image / image.max().clamp_min(1e-12))
        return out


def velocity_grid(field: Field, t: float, points: Tensor) -> Tensor:
    """The field's probability-flow velocity at ``points`` (n, 2) at time t."""
    with torch.inference_mode():
        return field.velocity(points, t)
