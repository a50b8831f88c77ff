"""Interpolation paths x_t = alpha(t) x1 + sigma(t) e, with t = 0 noise and t = 1 data."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

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

    def sigma_d_sigma(self, t: Tensor) -> Tensor:
        """sigma sigma' = d(sigma^2)/dt / 2: finite for every t, also where d_sigma is not."""
        return self.sigma(t) * self.d_sigma(t)

    def velocity(
        self, t: Tensor, data: Tensor, noise: Tensor, score: Tensor | None = None
    ) -> Tensor:
        """The probability-flow velocity alpha' x1_hat + sigma' e_hat of an estimate.

        With the ``score`` (-e_hat / sigma, from a field that knows its limit at sigma = 0)
        the noise term is written -sigma sigma' score: the same for sigma > 0, and its finite
        limit at t = 1 where sigma' is infinite (linear beta), as e_hat = -sigma score
        vanishes there. Without a score that limit is unknown (e_hat / sigma is 0 / 0) and the
        term is left out; a field without one is singular at t = 1
        (:attr:`~dexplorer.core.fields.Field.singular_at_data`): samplers do not evaluate it
        there.
        """
        if score is not None:
            return self.d_alpha(t) * data - self.sigma_d_sigma(t) * score
        d_sigma = self.d_sigma(t)
        return self.d_alpha(t) * data + torch.where(d_sigma.isinf(), 0.0, d_sigma * noise)

    def sample(self, x1: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """The point x_t of the path from ``noise`` (t = 0) to ``x1`` (t = 1)."""
        t = t.reshape(-1, *([1] * (x1.dim() - 1))) if t.dim() else t
        return self.alpha(t) * x1 + self.sigma(t) * noise

    def diffusion(self, t: Tensor) -> Tensor:
        """g(t)^2 = 2 sigma (sigma alpha'/alpha - sigma'): the noise rate of the path's own
        forward process (beta(t) for a VP schedule). Infinite at alpha = 0."""
        s = self.sigma(t)
        return 2 * (s * s * self.d_alpha(t) / self.alpha(t) - self.sigma_d_sigma(t))

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
    Near t = 1, sigma^2 ~ beta_min (1 - t): sigma' is infinite at t = 1.
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
        """sigma' = -alpha alpha' / sigma (sigma^2 = 1 - alpha^2): -inf at t = 1."""
        return self.sigma_d_sigma(t) / self.sigma(t)

    def sigma_d_sigma(self, t: Tensor) -> Tensor:
        return -self.alpha(t) * self.d_alpha(t)

    def __repr__(self) -> str:
        return f"LinearBetaPath(beta_min={self.beta_min}, beta_max={self.beta_max})"


class DiscretePath(Path):
    """A discrete diffusion schedule of T steps as a path: the model's step k (0 almost data,
    T - 1 most noise; x_k = sqrt(alpha_bar_k) x1 + sqrt(1 - alpha_bar_k) e) sits at
    t = (T - 1 - k) / T, and t = 1 is the data itself (alpha_bar = 1, as DDIM's final step).

    Between steps alpha is linear in t, so alpha and sigma = sqrt(1 - alpha^2) are the
    schedule's own at every t = j / T, and alpha' is constant between them. Owns the table
    of alpha at those T + 1 times, one copy per device and dtype it is asked on.
    """

    name = "discrete"

    def __init__(self, alphas_cumprod: Sequence[float] | Tensor) -> None:
        table = torch.as_tensor(alphas_cumprod, dtype=torch.float64).flatten()
        if len(table) < 2 or not torch.isfinite(table).all():
            raise ValueError("alphas_cumprod must be at least 2 finite numbers")
        if (table < 0).any() or (table > 1).any() or (table[1:] > table[:-1]).any():
            raise ValueError("alphas_cumprod must fall from step 0 to step T - 1, within [0, 1]")
        self.steps = len(table)
        self.title = f"{self.steps} discrete steps"
        # alpha at t = j / T: the steps from most noise (j = 0) to data (j = T).
        self._alpha = torch.cat([table.flip(0).sqrt(), torch.ones(1, dtype=torch.float64)])
        self._tables: dict[tuple[torch.device, torch.dtype], Tensor] = {}

    def _segment(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The table's alpha at the start of t's segment, the segment's slope and the
        fraction of the segment t has covered."""
        key = (t.device, t.dtype)
        if key not in self._tables:
            self._tables[key] = self._alpha.to(t.device, t.dtype)
        table = self._tables[key]
        position = t * self.steps
        index = position.floor().clamp(0, self.steps - 1)
        start = table[index.long()]
        slope = table[index.long() + 1] - start
        return start, slope, position - index

    def alpha(self, t: Tensor) -> Tensor:
        start, slope, fraction = self._segment(t)
        return start + fraction * slope

    def sigma(self, t: Tensor) -> Tensor:
        alpha = self.alpha(t)
        return (1 - alpha * alpha).clamp_min(0).sqrt()

    def d_alpha(self, t: Tensor) -> Tensor:
        _, slope, _ = self._segment(t)
        return slope * self.steps

    def d_sigma(self, t: Tensor) -> Tensor:
        """sigma' = -alpha alpha' / sigma: -inf at t = 1."""
        return self.sigma_d_sigma(t) / self.sigma(t)

    def sigma_d_sigma(self, t: Tensor) -> Tensor:
        return -self.alpha(t) * self.d_alpha(t)

    def __repr__(self) -> str:
        return f"DiscretePath(steps={self.steps})"


PATHS: dict[str, type[Path]] = {p.name: p for p in (LinearPath, CosinePath, LinearBetaPath)}


def make_path(name: str) -> Path:
    if name not in PATHS:
        raise ValueError(f"unknown schedule {name!r}: choose one of {', '.join(PATHS)}")
    return PATHS[name]()
