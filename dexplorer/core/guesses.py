"""The denoiser's guess: where a field thinks a particle at (x, t) lands, x1_hat = E[x1 | x_t =
x] (Tweedie's formula: x1_hat = (x + sigma^2 grad log p_t(x)) / alpha), from the field's own
estimate, for the particles at one time or along a recorded trajectory."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

    from .fields import Field

GUESS_ALPHA = 0.1
"""A model that predicts the noise (or the score) guesses x1_hat = (x - sigma e_hat) / alpha,
which multiplies the network's error by sigma / alpha; before alpha reaches this value its
guess is taken where it does (the guess changes little there: it is near the data mean)."""


def guess_time(field: Field, t: float) -> float:
    """The time at which ``field``'s guess for time t is taken: t itself, or for a field that
    divides by alpha the first time where alpha reaches :data:`GUESS_ALPHA` when t is
    earlier (found by bisection; alpha grows with t on every path)."""
    import torch

    from .fields import divides_by_alpha

    if not divides_by_alpha(field):
        return t
    alpha = field.path.alpha
    if float(alpha(torch.tensor(t, dtype=torch.float64))) >= GUESS_ALPHA:
        return t
    low, high = t, 1.0
    for _ in range(40):
        middle = 0.5 * (low + high)
        if float(alpha(torch.tensor(middle, dtype=torch.float64))) >= GUESS_ALPHA:
            high = middle
        else:
            low = middle
    return high


def guesses(field: Field, x: Tensor, t: float) -> Tensor:
    """x1_hat of the particles ``x`` (n, 2) at time t, float32 (see :func:`guess_time`).
    Rows that are not finite stay so: callers count them and do not draw or write them."""
    import torch

    with torch.inference_mode():
        return field.estimate(x.float(), guess_time(field, t)).data.float()


def trajectory_guesses(field: Field, trajectory: Tensor) -> Tensor:
    """x1_hat at every step of a trajectory (steps + 1, n, 2) on the uniform time grid."""
    import torch

    steps = len(trajectory) - 1
    out = torch.empty(trajectory.shape, dtype=torch.float32, device=trajectory.device)
    for index, x in enumerate(trajectory):
        out[index] = guesses(field, x, index / max(steps, 1))
    return out
