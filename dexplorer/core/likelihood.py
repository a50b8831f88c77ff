"""The model's own density: log p_t(x) by the instantaneous change of variables.

Every field defines a density at each t, the law of the particles its probability-flow ODE
carries there from the source q (N(0, I), or a shape: :mod:`~dexplorer.core.sources`).
Along the ODE dx/dtau = v(x, tau), d log p_tau(x(tau)) / dtau = -div v(x(tau), tau), so
integrating x backwards from (x, t) to tau = 0 together with the divergence gives

    log p_t(x) = log q(x(0)) - int_0^t div v(x(tau), tau) dtau.

The divergence is exact: the trace of the 2 x 2 Jacobian from two autograd passes. The
exact field's density is also known in closed form (:func:`mixture_log_density`), which
the app and the CLI use for it (one evaluation instead of a whole ODE). The integrator
is classical RK4 on the augmented state (x, log-det) over a fixed grid of ``steps``
steps that shrink near the data, where the velocity of a sharp distribution changes
fastest, and for a noise prediction near the noise too (:func:`time_grid`). A field
whose velocity is singular at t = 1 (the exact field of points, a network predicting the
noise) is taken at 1 - :data:`~dexplorer.core.fields.FIELD_EDGE` instead, as the samplers
never evaluate it at t = 1 either; a noise prediction's ODE stops at ``FIELD_EDGE``, where
its density is taken as N(0, I) (a VP path's x is then a 0.8 % trace of data in noise).

A stochastic sampler (DDPM, the reverse SDE) does not change this density: it belongs to
the field, so every run of a model has one, whatever it samples with.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import torch
from torch import Tensor

from .datasets import DOMAIN
from .fields import (
    FIELD_EDGE,
    SIGMA_FLOOR,
    ExactField,
    Field,
    NetworkField,
    as_time,
    divides_by_alpha,
    gaussian_mixture_log_density,
)
from .sources import Source

STEPS = 48
"""RK4 steps from t back to 0 (four velocity and divergence evaluations each)."""
LOG_OFFSET = 0.01
"""How close to the ends the time grid's steps shrink (see :func:`time_grid`)."""
CHUNK = 4096
"""Points integrated at once."""


class LikelihoodError(ValueError):
    """A density that cannot be computed (a model torch cannot differentiate, a result that
    is not finite)."""


def density_time(field: Field, t: float) -> float:
    """The time at which ``field``'s density is taken for ``t``: t itself, or 1 -
    ``FIELD_EDGE`` at most where the field is singular at the data."""
    return min(t, 1 - FIELD_EDGE) if field.singular_at_data else t


def time_grid(t: float, end: float = 0.0, steps: int = STEPS) -> list[float]:
    """``steps + 1`` times from ``t`` down to ``end``, uniform in
    log((tau + c) / (1 - tau + LOG_OFFSET)): short steps near the data, where the velocity
    of a sharp distribution changes fastest, and with c = LOG_OFFSET when ``end`` > 0 (a
    noise prediction's ODE) near the noise too; c = 1 otherwise."""
    if t <= end:
        return [t]  # nothing to integrate: the density at t is that at the end
    low = LOG_OFFSET if end > 0 else 1.0

    def coordinate(tau: float) -> float:
        return math.log((tau + low) / (1 - tau + LOG_OFFSET))

    start, stop = coordinate(t), coordinate(end)
    times = []
    for k in range(1, steps):
        ratio = math.exp(start + (stop - start) * k / steps)  # (tau + low) / (1 - tau + d)
        times.append((ratio * (1 + LOG_OFFSET) - low) / (1 + ratio))
    return [t, *times, end]


def plain(field: Field) -> Field:
    """``field`` without a fast kernel (which autograd cannot go through): a network field
    is rebuilt around the same module, others are returned as they are."""
    if isinstance(field, NetworkField) and field.fast is not None:
        return NetworkField(field.network, field.objective, field.label, field.guidance)
    return field


def velocity_divergence(field: Field, x: Tensor, t: float) -> tuple[Tensor, Tensor]:
    """The velocity (n, 2) at (x, t) and its exact divergence (n,): the trace of each
    point's 2 x 2 Jacobian, by two autograd passes.

    Raises
    ------
    LikelihoodError
        When torch cannot differentiate the field's velocity.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        v = field.velocity(x, t)
        if not v.requires_grad:
            raise LikelihoodError(
                "the model's velocity cannot be differentiated by torch, so its density "
                "cannot be computed"
            )
        # Points are independent: the gradient of a column's sum is that row of each Jacobian.
        (row_x,) = torch.autograd.grad(v[:, 0].sum(), x, retain_graph=True)
        (row_y,) = torch.autograd.grad(v[:, 1].sum(), x)
    return v.detach(), row_x[:, 0] + row_y[:, 1]


def mixture_log_density(field: ExactField, points: Tensor, t: float) -> Tensor:
    """log p_t of the exact field in closed form: its data is the mixture sum_i w_i
    N(y_i, spread^2 I), so p_t = sum_i w_i N(a y_i, ((a spread)^2 + s^2) I), the density its
    ODE carries N(0, I) to (:func:`flow_log_density` integrates the same)."""
    time = as_time(density_time(field, t), points)
    a, s = field.path.alpha(time), field.path.sigma(time)
    variance = (a * a * field.spread**2 + s * s).clamp_min(SIGMA_FLOOR**2)
    centres = a * field.points.to(points.dtype)
    log_weights = field.log_weights.to(points.dtype)
    return gaussian_mixture_log_density(points, centres, variance, log_weights, field.chunk)


def log_density(
    field: Field, points: Tensor, t: float, steps: int = STEPS, source: Source | None = None
) -> Tensor:
    """log p_t at ``points`` (n, 2) for the density ``field`` defines, in nats (n,): in
    closed form for the exact field, by the ODE (:func:`flow_log_density`) for the others.

    Raises
    ------
    LikelihoodError
        When the field cannot be differentiated.
    """
    if isinstance(field, ExactField):
        return mixture_log_density(field, points, t)
    return flow_log_density(field, points, t, steps, source)


def flow_log_density(
    field: Field, points: Tensor, t: float, steps: int = STEPS, source: Source | None = None
) -> Tensor:
    """log p_t at ``points`` (n, 2) by the instantaneous change of variables along the
    field's ODE, in nats (n,), from the density of ``source`` at t = 0 (N(0, I) when
    ``None``); t is taken as :func:`density_time` says. Non-finite values are left as they
    come: callers decide what to say.

    Raises
    ------
    LikelihoodError
        When the field cannot be differentiated.
    """
    field = plain(field)
    end = FIELD_EDGE if divides_by_alpha(field) else 0.0
    times = time_grid(density_time(field, t), end, steps)
    out = torch.empty(len(points), dtype=points.dtype, device=points.device)
    with torch.no_grad():
        for start in range(0, len(points), CHUNK):
            part = slice(start, start + CHUNK)
            out[part] = _integrate(field, points[part], times, source or Source())
    return out


def _integrate(field: Field, x: Tensor, times: list[float], source: Source) -> Tensor:
    """RK4 on (x, integral of div v) from times[0] down to times[-1] = 0, where the
    source's density is taken."""
    integral = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    for tau, tau_next in pairwise(times):
        h = tau_next - tau
        v1, d1 = velocity_divergence(field, x, tau)
        v2, d2 = velocity_divergence(field, x + 0.5 * h * v1, tau + 0.5 * h)
        v3, d3 = velocity_divergence(field, x + 0.5 * h * v2, tau + 0.5 * h)
        v4, d4 = velocity_divergence(field, x + h * v3, tau_next)
        x = x + h / 6 * (v1 + 2 * v2 + 2 * v3 + v4)
        integral = integral - h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)  # int_0^t div v, h < 0
    return source.log_prob(x) - integral


def grid_centres(resolution: int, extent: float = DOMAIN) -> np.ndarray:
    """The centres of ``resolution`` cells over [-extent, extent]."""
    cell = 2 * extent / resolution
    return (-extent + cell * (np.arange(resolution) + 0.5)).astype(np.float32)


def log_density_grid(
    field: Field,
    t: float,
    resolution: int,
    extent: float = DOMAIN,
    steps: int = STEPS,
    device: torch.device | str = "cpu",
    source: Source | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log p_t on a grid of cells over [-extent, extent]^2: the cell centres x and y and
    logp (R, R) with logp[i, j] at (x[i], y[j])."""
    centres = grid_centres(resolution, extent)
    axis = torch.as_tensor(centres, device=device)
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([xx.flatten(), yy.flatten()], dim=1)
    logp = log_density(field, points, t, steps, source).view(resolution, resolution)
    return centres, centres.copy(), logp.cpu().numpy()


def negative_log_likelihood(
    field: Field, points: Tensor, steps: int = STEPS, source: Source | None = None
) -> float:
    """The mean -log p_1 of ``points`` (the data) under ``field``'s density, in nats.

    Raises
    ------
    LikelihoodError
        When the field cannot be differentiated, or some point's density is not finite.
    """
    logp = log_density(field, points, 1.0, steps, source)
    bad = int((~torch.isfinite(logp)).sum())
    if bad:
        raise LikelihoodError(
            f"no NLL: the density of {bad:,} of {len(logp):,} points is not finite"
        )
    return float(-logp.double().mean())
