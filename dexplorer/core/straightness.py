"""Straightness of sampled paths: how far each particle's trajectory strays from the straight
chord between its start and its end (0 for straight paths, which a single Euler step
integrates exactly)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .samplers import finite_particles

STOCHASTIC = ("ddpm", "ddim", "euler_maruyama")
"""Samplers whose paths may carry fresh noise at every step (ddim with eta > 0)."""
BLOCK_VALUES = 1 << 22
"""Coordinates of the trajectory read at once (steps in blocks: a few vector operations per
block, not per step)."""


@dataclass(frozen=True)
class Straightness:
    """The straightness of one run's paths (see :func:`straightness`) and how many
    particles were measured (the non-finite ones are left out). ``noisy`` marks paths of a
    stochastic sampler, whose number includes the sampler's own jitter."""

    value: float
    particles: int
    noisy: bool = False

    @property
    def text(self) -> str:
        """The one way the number is shown (the captions and the single view's status)."""
        text = f"straightness {self.value:.3g} (0 = straight paths)"
        return f"{text}, with the sampler's noise" if self.noisy else text


def straightness(trajectory: Tensor, noisy: bool = False) -> Straightness | None:
    """The mean squared gap between each path and its chord, over the finite particles.

    For a trajectory saved at the uniform times t_k = k / K (k = 0..K, the samplers' grid)
    and particle i with path x_i(t_k), the gap at t_k is the distance to the chord,
    g_ik = |x_i(t_k) - ((1 - t_k) x_i(0) + t_k x_i(1))|, and the number is

        S = (1 / N) sum_i (1 / K) sum_{k=1}^{K-1} g_ik^2,

    the trapezoid rule for (1 / N) sum_i integral_0^1 g_i(t)^2 dt (the ends, where the gap
    is 0, carry half weight). It is 0 for straight paths, in squared units of the domain,
    and does not grow with the number of steps: a path x(t) = (t, A sin(pi t)) gives
    A^2 / 2 for every K >= 2. A path of one step has no inner point and is straight.

    The gap is measured on the path as sampled. A stochastic sampler's path (``noisy``)
    includes the noise it adds at every step, so its number measures that jitter as well
    as the bend of the flow, and it is shown saying so.

    Parameters
    ----------
    trajectory : Tensor
        Positions (K + 1, N, 2), any float dtype; read a block of steps at a time.

    Returns
    -------
    Straightness or None
        ``None`` when no particle stayed finite.
    """
    steps = trajectory.shape[0] - 1
    finite = finite_particles(trajectory)
    count = int(finite.sum())
    if not count:
        return None
    dtype = torch.promote_types(trajectory.dtype, torch.float32)
    keep = finite[:, None]
    start = torch.where(keep, trajectory[0].to(dtype), 0.0)
    end = torch.where(keep, trajectory[-1].to(dtype), 0.0)
    times = torch.arange(steps + 1, device=trajectory.device, dtype=dtype) / max(steps, 1)
    block = max(1, BLOCK_VALUES // start.numel())
    total = torch.zeros((), dtype=torch.float64, device=trajectory.device)
    for first in range(1, steps, block):
        last = min(first + block, steps)
        t = times[first:last].reshape(-1, 1, 1)
        gap = trajectory[first:last].to(dtype) - torch.lerp(start, end, t)
        total += torch.where(keep, gap, 0.0).square().sum(dtype=torch.float64)
    value = float(total) / (count * steps) if steps else 0.0
    return Straightness(value, count, noisy)


def adds_noise(sampler: str, eta: float = 0.0, noise_scale: float = 1.0) -> bool:
    """Whether ``sampler`` (with DDIM's ``eta``, Euler-Maruyama's ``noise_scale``) adds
    fresh noise at its steps."""
    if sampler == "ddim":
        return eta > 0
    if sampler == "euler_maruyama":
        return noise_scale > 0
    return sampler in STOCHASTIC
