"""Interpolation paths x_t = alpha(t) x1 + sigma(t) e, with t = 0 noise and t = 1 data."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor


class Path(ABC):
    """A noise schedule: alpha(t), sigma(t) and their time derivatives.

    alpha(0) = 0 and sigma(0) = 1 (pure noise; as close as the schedule allows),
    alpha(1) = 1 and sigma(1) = 0 (data).
    """

    name: str
    title: str

    @abstractmethod
    def alpha(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def sigma(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def d_alpha(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def d_sigma(self, t: Tensor) -> Tensor: ...

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """alpha, sigma, d_alpha/dt, d_sigma/dt at t."""
        return self.alpha(t), self.sigma(t), self.d_alpha(t), self.d_sigma(t)

    def sample(self, x1: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """The point x_t of the path from ``noise`` (t = 0) to ``x1`` (t = 1)."""
        t = t.reshape(-1, *([1] * (x1.dim() - 1))) if t.dim() else t
        return self.alpha(t) * x1 + self.sigma(t) * noise

    def diffusion(self, t: Tensor) -> Tensor:
        """g(t)^2 = 2 sigma (sigma alpha'/alpha - sigma'): the noise rate of the path's own
        forward process (beta(t) for a VP schedule). Infinite at alpha = 0."""
        a, s, da, ds = self.coefficients(t)
        return 2 * s * (s * da / a - ds)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LinearPath(Path):
    """Flow matching's straight line: alpha = t, sigma = 1 - t."""

    name = "linear"
    title = "linear (flow matching)"

    def alpha(self, t: Tensor) -> Tensor:
        return t

    def sigma(self, t: Tensor) -> Tensor:
        return 1 - t

    def d_alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)


class CosinePath(Path):
    """Variance preserving cosine schedule: alpha = sin(pi t / 2), sigma = cos(pi t / 2).

    Pure noise at t = 0 exactly.
    """

    name = "cosine"
    title = "cosine (VP)"

    def alpha(self, t: Tensor) -> Tensor:
        return torch.sin(0.5 * math.pi * t)

    def sigma(self, t: Tensor) -> Tensor:
        # cos(pi / 2) is -4e-8 in float32: clamp so that sigma(1) = 0 exactly.
        return torch.cos(0.5 * math.pi * t).clamp_min(0.0)

    def d_alpha(self, t: Tensor) -> Tensor:
        return 0.5 * math.pi * torch.cos(0.5 * math.pi * t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * t)


class LinearBetaPath(Path):
    """Variance preserving DDPM schedule with beta linear in literature time u = 1 - t.

    alpha(t)^2 = alpha_bar(u) = exp(-(beta_min u + (beta_max - beta_min) u^2 / 2)).
    With the usual beta_max = 20, alpha(0) = 0.0066: noise up to a 0.7 % trace of data.
    """

    name = "linear_beta"
    title = "linear beta (DDPM)"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0) -> None:
        self.beta_min = beta_min
        self.beta_max = beta_max

    def _log_alpha(self, t: Tensor) -> Tensor:
        u = 1 - t
        return -0.5 * (self.beta_min * u + 0.5 * (self.beta_max - self.beta_min) * u * u)

    def _beta(self, t: Tensor) -> Tensor:
        return self.beta_min + (self.beta_max - self.beta_min) * (1 - t)

    def alpha(self, t: Tensor) -> Tensor:
        return torch.exp(self._log_alpha(t))

    def sigma(self, t: Tensor) -> Tensor:
        return torch.sqrt(-torch.expm1(2 * self._log_alpha(t)))

    def d_alpha(self, t: Tensor) -> Tensor:
        return 0.5 * self._beta(t) * self.alpha(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        a = self.alpha(t)
        # sigma^2 = 1 - alpha^2, so sigma' = -alpha alpha' / sigma; written to stay finite at t=1.
        s = self.sigma(t)
        return -a * self.d_alpha(t) / s.clamp_min(1e-12) * (s > 0)

    def __repr__(self) -> str:
        return f"LinearBetaPath(beta_min={self.beta_min}, beta_max={self.beta_max})"


PATHS: dict[str, type[Path]] = {p.name: p for p in (LinearPath, CosinePath, LinearBetaPath)}


def make_path(name: str) -> Path:
    if name not in PATHS:
        raise ValueError(f"unknown schedule {name!r}: choose one of {', '.join(PATHS)}")
    return PATHS[name]()
