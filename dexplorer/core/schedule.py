"""The schedule of a path as numbers to plot: alpha(t), sigma(t) and the log signal-to-noise
ratio ln(alpha^2 / sigma^2) at evenly spaced t, one set per distinct path."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .paths import Path

SAMPLES = 201
"""Times sampled from 0 to 1 (steps of 0.005)."""
ZERO = 1e-9
"""alpha or sigma below this is zero rounded (cos(pi / 2) is 6e-17 in float64): the log-SNR
is infinite there and left out."""


@dataclass(frozen=True, eq=False)
class Schedule:
    """One path's functions at the sampled times, as handed to the plot: ``alpha`` and
    ``sigma`` at every ``t``; ``log_snr`` = ln(alpha^2 / sigma^2) at ``snr_t``, the times
    where it is finite (it is -inf where alpha = 0 and +inf where sigma = 0)."""

    label: str
    t: np.ndarray
    alpha: np.ndarray
    sigma: np.ndarray
    snr_t: np.ndarray
    log_snr: np.ndarray


def path_key(path: Path) -> str:
    """What tells two paths apart (their type and parameters)."""
    return repr(path)


def schedule(path: Path, label: str, samples: int = SAMPLES) -> Schedule:
    """``path``'s alpha, sigma and log-SNR at ``samples`` evenly spaced t in [0, 1]."""
    t = torch.linspace(0.0, 1.0, samples, dtype=torch.float64)
    alpha, sigma = path.alpha(t), path.sigma(t)
    finite = ((alpha > ZERO) & (sigma > ZERO)).numpy()
    log_snr = 2 * (np.log(alpha.numpy()[finite]) - np.log(sigma.numpy()[finite]))
    return Schedule(label, t.numpy(), alpha.numpy(), sigma.numpy(), t.numpy()[finite], log_snr)


def schedules(paths: list[Path]) -> list[Schedule]:
    """One schedule per distinct path among the panels' ``paths`` (in order), labelled with
    the path's title and, when there are several panels, the panels that use it."""
    panels: dict[str, list[int]] = {}
    first: dict[str, Path] = {}
    for index, path in enumerate(paths):
        key = path_key(path)
        panels.setdefault(key, []).append(index + 1)
        first.setdefault(key, path)
    out = []
    for key, numbers in panels.items():
        title = first[key].title
        if len(paths) > 1:
            word = "panel" if len(numbers) == 1 else "panels"
            title = f"{title}: {word} {', '.join(map(str, numbers))}"
        out.append(schedule(first[key], title))
    return out
