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


def _mean_distinct_distance(a: Tensor) -> float:
    """Mean distance over pairs of distinct points of ``a``."""
    n = len(a)
    return float(_mean_distance(a, a)) * n * n / (n * (n - 1))


def quality_ratio(
    samples: np.ndarray | Tensor,
    points: np.ndarray,
    n: int = 2000,
    seed: int = 0,
    max_points: int = 8000,
) -> tuple[float, float]:
    """How far ``samples`` are from the data, relative to the data's own sampling noise.

    The energy distance between a draw of ``n`` samples and a draw of ``n`` data points
    is, in expectation, ED + 2 E|X - X'| / n, where ED is the distributions' true energy
    distance (0 when they agree) and the second term is what two draws of the data alone
    give. Both are estimated without that noise, from up to ``max_points`` samples and data
    points: ED by the unbiased (U-statistic) estimator, E|X - X'| on the data. Returns
    (ratio, ED) with ratio = (ED + 2 E|X - X'| / n) / (2 E|X - X'| / n): 1 for a perfect
    model, 1.5 when the samples are half as far again from the data as a second draw.
    """
    samples = np.asarray(samples.cpu() if isinstance(samples, Tensor) else samples)
    points = np.asarray(points)
    if len(samples) < 2 or len(points) < 2:
        raise ValueError("quality needs at least 2 samples and 2 data points")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(points), size=min(len(points), max_points), replace=False)
    data = torch.as_tensor(points[pick], dtype=torch.float32)
    model = torch.as_tensor(samples[:max_points], dtype=torch.float32)
    spread = _mean_distinct_distance(data)
    excess = 2 * float(_mean_distance(model, data)) - _mean_distinct_distance(model) - spread
    baseline = 2 * spread / n
    return (excess + baseline) / baseline, excess
