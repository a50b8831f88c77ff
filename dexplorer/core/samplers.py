"""Samplers: one small step function each, over a :class:`~dexplorer.core.fields.Field`.

Every step takes a state x at time t to time t_next > t (t = 0 noise, t = 1 data).
:func:`sample` runs a sampler over a uniform time grid and records the whole trajectory, or
keeps only the current state.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import Tensor

from .choices import sampler_problem
from .fields import Field, as_time
from .limits import ETA, NOISE_SCALE, STEPS
from .sources import Source


@dataclass(frozen=True)
class SamplerSettings:
    """Parameters of the stochastic samplers and the noise source shared by all steps.

    eta : DDIM's stochasticity, 0 (deterministic) to 1 (DDPM ancestral).
    noise_scale : lambda of the Euler-Maruyama SDE dx = (v - lambda^2 sigma e_hat) dt
        + lambda sqrt(2) sigma dW, which keeps the marginals of the ODE for any lambda >= 0
        (at t = 0 it is unit-rate Langevin dynamics on N(0, I) for lambda = 1).
    """

    eta: float = 0.0
    noise_scale: float = 1.0
    generator: torch.Generator | None = None

    def __post_init__(self) -> None:
        problem = ETA.problem("eta", self.eta) or NOISE_SCALE.problem(
            "noise scale", self.noise_scale
        )
        if problem:
            raise ValueError(problem)

    def noise(self, like: Tensor) -> Tensor:
        return torch.randn(like.shape, generator=self.generator, device=like.device)


Step = Callable[[Field, Tensor, float, float, SamplerSettings], Tensor]


def euler(field: Field, x: Tensor, t: float, t_next: float, _: SamplerSettings) -> Tensor:
    """First-order step along the probability-flow velocity."""
    return x + (t_next - t) * field.velocity(x, t)


def midpoint(field: Field, x: Tensor, t: float, t_next: float, _: SamplerSettings) -> Tensor:
    """Explicit midpoint rule (second order); never evaluates at t_next."""
    dt = t_next - t
    half = x + 0.5 * dt * field.velocity(x, t)
    return x + dt * field.velocity(half, t + 0.5 * dt)


def heun(field: Field, x: Tensor, t: float, t_next: float, settings: SamplerSettings) -> Tensor:
    """Heun's method (second order): an Euler predictor and a trapezoid corrector."""
    if t_next >= 1.0 and field.singular_at_data:
        return midpoint(field, x, t, t_next, settings)
    dt = t_next - t
    v = field.velocity(x, t)
    guess = x + dt * v
    return x + 0.5 * dt * (v + field.velocity(guess, t_next))


def rk4(field: Field, x: Tensor, t: float, t_next: float, settings: SamplerSettings) -> Tensor:
    """The classical fourth-order Runge-Kutta step."""
    if t_next >= 1.0 and field.singular_at_data:
        return midpoint(field, x, t, t_next, settings)
    dt = t_next - t
    k1 = field.velocity(x, t)
    k2 = field.velocity(x + 0.5 * dt * k1, t + 0.5 * dt)
    k3 = field.velocity(x + 0.5 * dt * k2, t + 0.5 * dt)
    k4 = field.velocity(x + dt * k3, t_next)
    return x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def ddim(field: Field, x: Tensor, t: float, t_next: float, settings: SamplerSettings) -> Tensor:
    """DDIM: x' = a' x1_hat + sqrt(s'^2 - c^2) e_hat + c z, with
    c = eta (s'/s) sqrt(s^2 - (a s'/a')^2), the DDPM posterior's spread for eta = 1
    (for VP paths c = eta (s'/s) sqrt(1 - a^2/a'^2))."""
    path = field.path
    now, nxt = as_time(t, x), as_time(t_next, x)
    a, s = path.alpha(now), path.sigma(now)
    a_next, s_next = path.alpha(nxt), path.sigma(nxt)
    est = field.estimate(x, now)
    c = settings.eta * s_next / s * torch.sqrt((s * s - (a * s_next / a_next) ** 2).clamp_min(0))
    x_next = a_next * est.data + torch.sqrt((s_next * s_next - c * c).clamp_min(0)) * est.noise
    if settings.eta > 0:
        x_next = x_next + c * settings.noise(x)
    return x_next


def ddpm(field: Field, x: Tensor, t: float, t_next: float, settings: SamplerSettings) -> Tensor:
    """DDPM ancestral sampling: a DDIM step with eta = 1."""
    ancestral = SamplerSettings(eta=1.0, generator=settings.generator)
    return ddim(field, x, t, t_next, ancestral)


def euler_maruyama(
    field: Field, x: Tensor, t: float, t_next: float, settings: SamplerSettings
) -> Tensor:
    """Euler-Maruyama on dx = (v - lambda^2 sigma e_hat) dt + lambda sqrt(2) sigma dW:
    the reverse SDE with the ODE's marginals; lambda = 0 is the Euler ODE step."""
    now = as_time(t, x)
    dt = t_next - t
    lam = settings.noise_scale
    s = field.path.sigma(now)
    v = field.velocity(x, now)
    if lam == 0:
        return x + dt * v
    drift = v - (lam * lam) * s * field.estimate(x, now).noise
    return x + dt * drift + (lam * math.sqrt(2 * dt)) * s * settings.noise(x)


SAMPLERS: dict[str, Step] = {
    "euler": euler,
    "midpoint": midpoint,
    "heun": heun,
    "rk4": rk4,
    "ddpm": ddpm,
    "ddim": ddim,
    "euler_maruyama": euler_maruyama,
}


def get_sampler(name: str) -> Step:
    problem = sampler_problem(name)
    if problem:
        raise ValueError(problem)
    return SAMPLERS[name]


def time_grid(steps: int) -> list[float]:
    """The uniform grid 0 = t_0 < ... < t_steps = 1."""
    problem = STEPS.problem("steps", steps)
    if problem:
        raise ValueError(problem)
    return [i / steps for i in range(steps + 1)]


def initial_noise(
    n: int, seed: int, device: str | torch.device = "cpu"
) -> tuple[Tensor, torch.Generator]:
    """N(0, I) starting points for ``n`` particles and the generator of the noisy samplers'
    noise (:meth:`~dexplorer.core.sources.Source.draw`)."""
    return Source().draw(n, seed, device)


def iterate(
    field: Field, x0: Tensor, steps: int, sampler: str, settings: SamplerSettings
) -> Iterator[Tensor]:
    """Yield the state after each of ``steps`` steps, starting from ``x0`` at t = 0."""
    step = get_sampler(sampler)
    grid = time_grid(steps)
    x = x0
    with torch.inference_mode():
        for t, t_next in pairwise(grid):
            x = step(field, x, t, t_next, settings)
            yield x


def finite_particles(points: Tensor) -> Tensor:
    """Which particles stayed finite: a bool tensor (n,) for positions (n, 2), or for a
    trajectory (steps + 1, n, 2) at every step."""
    finite = torch.isfinite(points).all(dim=-1)
    return finite.all(dim=0) if finite.dim() == 2 else finite


def nonfinite_message(count: int, total: int) -> str:
    """How many of ``total`` particles became inf or nan (what callers report for them)."""
    return f"{count:,} of {total:,} particles became non-finite (inf or nan)"


def sample(
    field: Field,
    n: int,
    steps: int,
    sampler: str = "heun",
    *,
    seed: int = 0,
    eta: float = 0.0,
    noise_scale: float = 1.0,
    device: str | torch.device = "cpu",
    out: Tensor | None = None,
    record: bool = True,
) -> Tensor:
    """Sample ``n`` particles from N(0, I) at t = 0 to t = 1 and return the trajectory, or
    with ``record=False`` only the final positions (the memory of one state, not of
    ``steps + 1``).

    Returns
    -------
    Tensor
        Shape (steps + 1, n, 2): ``out`` when given (written in place), else a new tensor;
        (n, 2) without ``record``. The same seed gives the same particles on the same device.
    """
    get_sampler(sampler)
    time_grid(steps)
    x0, generator = initial_noise(n, seed, device)
    settings = SamplerSettings(eta=eta, noise_scale=noise_scale, generator=generator)
    states = iterate(field, x0, steps, sampler, settings)
    if not record:
        if out is not None:
            raise ValueError("out is the recorded trajectory; there is none without record")
        return deque(states, maxlen=1)[-1].clone()  # a normal tensor, not an inference one
    if out is None:
        out = torch.empty((steps + 1, n, 2), device=device)
    elif out.shape != (steps + 1, n, 2):
        raise ValueError(f"out has shape {tuple(out.shape)}, expected {(steps + 1, n, 2)}")
    out[0] = x0
    for i, x in enumerate(states, start=1):
        out[i] = x
    return out
