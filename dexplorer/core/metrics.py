"""Sample quality: the energy distance between point sets, and the quality number that the
CLI, the training panel and the comparison captions show."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .samplers import finite_particles

MIN_DATA_POINTS = 20
"""Fewer data points than this cannot be split into two halves worth comparing."""
MAX_HALF = 1000
"""The held-out size that the quality number compares with, at most (larger data sets are
judged as if they had twice this many points)."""
MAX_POINTS = 8000
"""Samples and data points measured, at most (a random subset of each beyond)."""
GROUPS = 8
"""Groups of samples and data points left out in turn to estimate the uncertainty."""


def _mean_distance(a: Tensor, b: Tensor, chunk: int = 4096) -> Tensor:
    """Mean Euclidean distance over all pairs (a_i, b_j), in chunks of rows of ``a``."""
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for start in range(0, len(a), chunk):
        total += torch.cdist(a[start : start + chunk], b).sum(dtype=torch.float64)
    return total / (len(a) * len(b))


def _as_points(x: np.ndarray | Tensor) -> Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x, dtype=torch.float32)


def energy_distance(x: np.ndarray | Tensor, y: np.ndarray | Tensor) -> float:
    """Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between samples ``x`` and ``y``.

    Zero only when the distributions agree. Pairs are averaged over all n^2 (V-statistic),
    so the value is never negative, and two independent draws of one distribution give a
    small positive value of order 1/n: compare a model against that baseline (see
    :func:`measure_quality`).
    """
    x, y = _as_points(x), _as_points(y)
    y = y.to(x.device)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or not len(x) or not len(y):
        raise ValueError("energy distance needs two non-empty (n, d) point sets of equal d")
    value = 2 * _mean_distance(x, y) - _mean_distance(x, x) - _mean_distance(y, y)
    return max(float(value), 0.0)


@dataclass(frozen=True)
class Quality:
    """How close samples are to the data, as a ratio to held-out data of the same size.

    Split the data at random into two halves A and B of ``size`` points each (``size`` is
    half the data, at most :data:`MAX_HALF`) and draw ``size`` samples S: ``ratio`` is the
    energy distance ED(S, A) over ED(B, A), each averaged over every split and every draw
    (in closed form). It reads 1 when the samples are as close to the data as held-out data
    is, above 1 when they are further, and below 1 when they are closer than fresh data
    could be, that is when the model reproduces its training points (:attr:`memorising`):
    an exact copy of the points reads 0.5, and samples that land on them, many per point,
    read 0.75 (pairs of samples on one point are close too).

    ``error`` is its standard error from the finite number of samples (a jackknife over
    groups of them; the data is given: with few points the number also varies with which
    points were drawn, fresh draws against 300 points reading about 1 ± 0.2 from one draw
    of the points to another). ``left_out`` counts non-finite samples not measured.
    """

    ratio: float
    error: float
    size: int
    left_out: int = 0

    @property
    def memorising(self) -> bool:
        """Clearly closer to the data than held-out data: the samples copy the points."""
        return self.ratio < 0.9 and self.ratio + 2 * self.error < 1.0

    @property
    def text(self) -> str:
        """The one way the number is shown: ratio, uncertainty and what it means."""
        text = f"ED {self.ratio:.2f} ± {self.error:.2f}x held-out"
        if self.memorising:
            text += ", memorising"
        if self.left_out:
            text += f" ({self.left_out} non-finite left out)"
        return text


class QualityError(ValueError):
    """The quality number cannot be measured on these points (too few, all alike, or no
    finite samples). The message is what the CLI and the app show in its place."""


def measure_quality(
    samples: np.ndarray | Tensor,
    points: np.ndarray | Tensor,
    *,
    seed: int = 0,
    max_half: int = MAX_HALF,
    max_points: int = MAX_POINTS,
) -> Quality:
    """The quality of ``samples`` against the data ``points`` (see :class:`Quality` and
    :class:`QualityReference`)."""
    reference = QualityReference(points, seed=seed, max_half=max_half, max_points=max_points)
    return reference.measure(samples)


class QualityReference:
    """Owns the data's side of the quality number, computed once: at most ``max_points``
    of the data (a seeded random subset), the held-out size and the data's mean distance.
    A model measured again and again (the training panel's previews) then costs only its
    samples' side.

    With k = ``size``, the mean of the V-statistic ED(S_k, A_k) over random k-subsets of
    the samples and of the data is 2 E|S - D| - (1 - 1/k) (E|S - S'| + E|D - D'|), pairs
    of distinct points in the last two, and that of ED(B_k, A_k) is 2 E|D - D'| / k. Both
    are means of non-negative numbers, so the ratio is never negative.

    Raises
    ------
    QualityError
        Fewer than :data:`MIN_DATA_POINTS` data points, or data that is one point repeated.
    """

    def __init__(
        self,
        points: np.ndarray | Tensor,
        *,
        seed: int = 0,
        max_half: int = MAX_HALF,
        max_points: int = MAX_POINTS,
    ) -> None:
        data = _as_points(points)
        if len(data) < MIN_DATA_POINTS:
            raise QualityError(
                f"no quality number: it needs at least {MIN_DATA_POINTS} data points, "
                f"this data has {len(data)}"
            )
        self.size = min(len(data) // 2, max_half)
        self.seed = seed
        self.max_points = max_points
        generator = torch.Generator().manual_seed(seed)
        self.data = data[torch.randperm(len(data), generator=generator)[:max_points]]
        m = len(self.data)
        self.spread = _distance_sum(self.data, self.data) / (m * (m - 1))
        if not self.spread > 0:
            raise QualityError(
                "no quality number: the data is one point repeated, no spread to compare with"
            )

    def measure(self, samples: np.ndarray | Tensor) -> Quality:
        """The quality of ``samples``; non-finite ones are left out and counted.

        Raises
        ------
        QualityError
            Fewer than :data:`GROUPS` finite samples.
        """
        model = _as_points(samples)
        finite = finite_particles(model)
        left_out = int((~finite).sum())
        model = model[finite]
        if len(model) < GROUPS:
            raise QualityError(
                f"no quality number: it needs at least {GROUPS} finite samples, got {len(model)}"
            )
        groups = _groups(model, self.max_points, torch.Generator().manual_seed(self.seed))
        cross = np.array([_distance_sum(group, self.data) for group in groups])
        within = np.array([[_distance_sum(x, y) for y in groups] for x in groups])
        counts = np.array([len(group) for group in groups])
        size, spread_d, m = self.size, self.spread, len(self.data)

        def ratio_of(keep: np.ndarray) -> float:
            n = counts[keep].sum()
            spread_s = within[keep][:, keep].sum() / (n * (n - 1))
            excess = 2 * cross[keep].sum() / (n * m) - (1 - 1 / size) * (spread_s + spread_d)
            return max(float(excess), 0.0) / (2 * spread_d / size)

        ratio = ratio_of(np.ones(GROUPS, dtype=bool))
        left = np.array([ratio_of(np.arange(GROUPS) != j) for j in range(GROUPS)])
        error = float(np.sqrt((GROUPS - 1) / GROUPS * ((left - left.mean()) ** 2).sum()))
        return Quality(ratio, error, size, left_out)


def _groups(points: Tensor, most: int, generator: torch.Generator) -> list[Tensor]:
    """At most ``most`` of ``points`` in random order, cut into :data:`GROUPS` groups."""
    order = torch.randperm(len(points), generator=generator)[:most]
    return list(torch.tensor_split(points[order], GROUPS))


def _distance_sum(x: Tensor, y: Tensor) -> float:
    """The sum of the distances between every point of ``x`` and every point of ``y``."""
    return float(torch.cdist(x, y).sum(dtype=torch.float64))
