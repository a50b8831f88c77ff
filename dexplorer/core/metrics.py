"""Sample quality: the energy distance between two point sets."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def _mean_distance(a: Tensor, b: Tensor, chunk: int = 4096) -> Tensor:
    """Mean Euclidean distance over all pairs (a_i, b_j), in chunks of rows of ``a``."""
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for start in range(0, len(a), chunk):
        total += torch.cdist(a[start : start + chunk], b).sum(dtype=torch.float64)
    return total / (len(a) * len(b))


def energy_distance(x: np.ndarray | Tensor, y: np.ndarray | Tensor) -> float:
    """Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between samples ``x`` and ``y``.

    Zero only when the distributions agree. Pairs are averaged over all n^2 (V-statistic),
    so two independent draws of one distribution give a small positive value of order 1/n:
    compare a model against that baseline (see :func:`quality_ratio`).
    """
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x, dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y, dtype=torch.float32)
    y = y.to(x.device)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or not len(x) or not len(y):
        raise ValueError("energy distance needs two non-empty (n, d) point sets of equal d")
    value = 2 * _mean_distance(x, y) - _mean_distance(x, x) - _mean_distance(y, y)
    return float(value)


def quality_ratio(
    samples: np.ndarray | Tensor,
    points: np.ndarray,
    n: int = 2000,
    repeats: int = 4,
    seed: int = 0,
) -> tuple[float, float]:
    """How far ``samples`` are from the data, relative to the data's own sampling noise.

    For each of ``repeats`` rounds, takes the next ``n`` samples S and three disjoint draws
    A, B, C of ``n`` data points, and returns
    (sum ED(S, A) / sum ED(B, C), mean ED(S, A)). A ratio near 1 means the samples are as
    close to the data as a second draw of the data itself. Repeats tame the noise of mode
    proportions, which dominates single draws on multi-modal data.
    """
    samples = np.asarray(samples.cpu() if isinstance(samples, Tensor) else samples)
    points = np.asarray(points)
    if len(samples) < n * repeats:
        raise ValueError(f"need {n * repeats} samples for {repeats} rounds of {n}")
    if len(points) < 3 * n:
        raise ValueError(f"need at least {3 * n} data points, have {len(points)}")
    rng = np.random.default_rng(seed)
    model = baseline = 0.0
    for k in range(repeats):
        order = rng.permutation(len(points))
        a, b, c = (points[order[i * n : (i + 1) * n]] for i in range(3))
        model += energy_distance(samples[k * n : (k + 1) * n], a)
        baseline += energy_distance(b, c)
    return model / baseline, model / repeats
