"""The source: what the particles start from at t = 0. N(0, I) by default, or any set of
points (a bundled dataset, or points drawn or imported), for flow matching between two
shapes; and the exact field of that flow.

A point source is the mixture (1/K) sum_j N(z_j, tau^2 I) of its K points with a small
spread tau (:data:`SOURCE_SPREAD`): a density, so that the flow from it is defined between
the points too. Flow matching from it pairs a source sample z with a data point y
independently and moves along x_t = (1 - t) z + t y; the exact velocity at x_t is
E[y - z | x_t], a softmax over pairs (:class:`CouplingField`).

Diffusion (epsilon and v prediction, DDPM and DDIM) is built on Gaussian noise: its
objectives and its noisy samplers keep the Gaussian source (:func:`source_problem` in
:mod:`~dexplorer.core.runs` says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .datasets import DATASETS, Dataset, make_dataset
from .fields import SIGMA_FLOOR, Field, as_time
from .objectives import Estimate
from .paths import LinearPath
from .samplers import initial_noise

GAUSSIAN = "gaussian"
"""The default source, N(0, I)."""
CUSTOM_SOURCE = "custom-source"
"""A source of points drawn or imported (held apart from the custom data)."""
SOURCE_POINTS = 5000
"""A bundled dataset as the source is this many of its points (as many as the data has)."""
SOURCE_SPREAD = 0.05
"""tau: the spread of each source point, about a tenth of a bundled shape's line width."""
SOURCE_SEED = 1
"""The seed of a bundled source's points: another draw than the data's (seed 0), so that a
dataset flowing onto itself still moves."""
DENSITY_BLUR = 0.1
"""The source side view blurs the points' histogram by this much (world units)."""
MAX_PAIRS = 20000
"""The exact field of a point source evaluates at most this many pairs per particle."""


def source_names() -> list[str]:
    """Every source name: the Gaussian, the bundled datasets, then a custom source."""
    return [GAUSSIAN, *DATASETS, CUSTOM_SOURCE]


def name_problem(name: object) -> str:
    """What is wrong with a source name ('' when nothing): the one wording everywhere."""
    if isinstance(name, str) and name in source_names():
        return ""
    return f"unknown source {name!r}: choose {', '.join(source_names())} or a points file"


def gaussian_only(what: str, source: str) -> str:
    """Why ``what`` (a diffusion objective or model) cannot start from ``source`` ('' from
    N(0, I)): the one wording of it."""
    if source == GAUSSIAN:
        return ""
    return (
        f"{what} is diffusion: diffusion starts from Gaussian noise (its target is that "
        f"noise), so it keeps the N(0, I) source; from {source} use flow matching or the "
        "exact field"
    )


def title(name: str) -> str:
    """How the source is named in captions and messages, e.g. "N(0, I)" or "moons"."""
    return "N(0, I)" if name == GAUSSIAN else name


@dataclass(frozen=True, eq=False)
class Source:
    """The distribution at t = 0: N(0, I) when ``points`` is ``None``, otherwise the points
    (K, 2) in the domain, each spread by a Gaussian of standard deviation ``spread``."""

    name: str = GAUSSIAN
    points: np.ndarray | None = None
    spread: float = SOURCE_SPREAD

    @property
    def gaussian(self) -> bool:
        return self.points is None

    def draw(
        self, n: int, seed: int, device: str | torch.device = "cpu"
    ) -> tuple[Tensor, torch.Generator]:
        """``n`` starting positions drawn from the source and the generator that continues
        from them (what the noisy samplers draw next)."""
        if self.points is None:
            return initial_noise(n, seed, device)
        if n < 1:
            raise ValueError(f"the number of particles must be at least 1, got {n}")
        generator = torch.Generator(device=device).manual_seed(seed)
        points = torch.as_tensor(self.points, dtype=torch.float32, device=device)
        index = torch.randint(len(points), (n,), generator=generator, device=device)
        spread = torch.randn((n, 2), generator=generator, device=device)
        return points[index] + self.spread * spread, generator

    def density(self, resolution: int, domain: float) -> np.ndarray:
        """The source's density on a ``resolution`` x ``resolution`` grid over the domain
        (rows y, columns x), scaled to a peak of 1: the Gaussian, or a histogram of the
        points blurred by a few cells."""
        axis = np.linspace(-domain, domain, resolution, dtype=np.float32)
        if self.points is None:
            xx, yy = np.meshgrid(axis, axis)
            return np.exp(-0.5 * (xx**2 + yy**2)).astype(np.float32)
        edges = np.linspace(-domain, domain, resolution + 1)
        counts, _, _ = np.histogram2d(self.points[:, 1], self.points[:, 0], (edges, edges))
        blurred = _blur(counts, max(1.0, DENSITY_BLUR * resolution / (2 * domain)))
        return (blurred / max(blurred.max(), 1e-12)).astype(np.float32)


def _blur(image: np.ndarray, cells: float) -> np.ndarray:
    """A separable Gaussian blur of ``cells`` standard deviation."""
    radius = int(3 * cells) + 1
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / cells) ** 2)
    kernel /= kernel.sum()
    rows = np.apply_along_axis(np.convolve, 0, image, kernel, "same")
    return np.apply_along_axis(np.convolve, 1, rows, kernel, "same")


def make_source(name: str, custom: Dataset | None = None) -> Source:
    """The source called ``name``: the Gaussian, a bundled dataset's points, or the custom
    source's points (``custom``).

    Raises
    ------
    ValueError
        For an unknown name, or the custom source when there is none.
    """
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    if name == GAUSSIAN:
        return Source()
    if name == CUSTOM_SOURCE:
        if custom is None:
            raise ValueError("there is no custom source yet: open a points file as the source")
        return Source(name, custom.subset(MAX_PAIRS).points)
    return Source(name, make_dataset(name, n=SOURCE_POINTS, seed=SOURCE_SEED).points)


def initial_positions(
    n: int, seed: int, device: str | torch.device = "cpu", source: Source | None = None
) -> tuple[Tensor, torch.Generator]:
    """The particles at t = 0, drawn from ``source`` (N(0, I) when ``None``), and the
    generator that continues from them."""
    return (source or Source()).draw(n, seed, device)


class CouplingField(Field):
    """The exact field of flow matching from a point source to data points under the
    independent coupling: x_t = (1 - t) z + t y with z ~ source, y ~ data; the velocity is
    E[y - z | x_t] = (E[y | x_t] - x_t) / (1 - t).

    Owns P pairs (z_p, y_p): all K x M pairs would cost K x M per particle, so the pairs are
    a random matching that keeps both sides whole: P = max(K, M) (at most
    :data:`MAX_PAIRS`), each source point and each data point in P / K and P / M pairs (to
    within one), in random order. Given pair p, x_t ~ N((1 - t) z_p + t y_p,
    ((1 - t) tau)^2 I), so the posterior over pairs is a softmax and E[y | x_t] its mean of
    y_p; at t = 0 the marginal is the source itself, at t = 1 the data points. Evaluates in
    chunks of particles as :class:`~dexplorer.core.fields.ExactField` does.
    """

    singular_at_data = True

    def __init__(
        self,
        source: np.ndarray,
        data: np.ndarray,
        spread: float = SOURCE_SPREAD,
        seed: int = 0,
        device: str | torch.device = "cpu",
        chunk_elements: int = 1 << 24,
    ) -> None:
        source, data = np.asarray(source, np.float32), np.asarray(data, np.float32)
        for name, points in (("source", source), ("data", data)):
            if points.ndim != 2 or points.shape[1] != 2 or len(points) < 1:
                raise ValueError(f"{name} points must have shape (N, 2) with N >= 1")
        if not spread > 0:
            raise ValueError(f"the source's spread must be positive, got {spread}")
        rng = np.random.default_rng(seed)
        pairs = min(max(len(source), len(data)), MAX_PAIRS)
        z = source[np.resize(rng.permutation(len(source)), pairs)]
        y = data[np.resize(rng.permutation(len(data)), pairs)]
        self.starts = torch.as_tensor(z, device=device)
        self.ends = torch.as_tensor(y, device=device)
        self.spread = float(spread)
        self.path = LinearPath()
        self.chunk = max(1, chunk_elements // pairs)

    def estimate(self, x: Tensor, t: Tensor | float) -> Estimate:
        """E[y | x_t] as the data estimate and E[z | x_t] = (x - t E[y | x_t]) / (1 - t) as
        the noise (the source sample); no score (the source is not Gaussian)."""
        t = as_time(t, x)
        if self.starts.dtype != x.dtype:
            self.starts, self.ends = self.starts.to(x.dtype), self.ends.to(x.dtype)
        s = 1 - t
        means = s * self.starts + t * self.ends
        norms = (means * means).sum(1)
        variance = (s * self.spread).square().clamp_min(SIGMA_FLOOR**2)
        data = torch.empty_like(x)
        for start in range(0, len(x), self.chunk):
            part = x[start : start + self.chunk]
            logits = (2 * part @ means.T - norms) / (2 * variance)
            data[start : start + self.chunk] = torch.softmax(logits, dim=1) @ self.ends
        return Estimate(data, (x - t * data) / s.clamp_min(SIGMA_FLOOR))
