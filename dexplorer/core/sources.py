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

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .datasets import DATASETS, DOMAIN, Dataset, make_dataset
from .fields import SIGMA_FLOOR, Field, as_time, gaussian_mixture_log_density
from .objectives import Estimate
from .paths import LinearPath
from .samplers import initial_noise

LOG_2PI = math.log(2 * math.pi)
LOG_PROB_CHUNK = 4096
"""Points whose source density is evaluated at once (against every source point)."""
GAUSSIAN = "gaussian"
"""The default source, N(0, I)."""
CUSTOM_SOURCE = "custom-source"
"""A source of points drawn or imported (held apart from the custom data)."""
SOURCE_POINTS = 5000
"""A bundled dataset as the source is this many of its points (as many as the data has)."""
SOURCE_SPREAD = 0.1
"""tau: the spread of each source point, about the width of a bundled shape's strokes (a
narrower one makes the field so sharp that few-step samplers miss it)."""
SOURCE_SEED = 1
"""The seed of a bundled source's points: another draw than the data's (seed 0), so that a
dataset flowing onto itself still moves."""
GRID = 512
"""The exact field of a point source reads its density log q from a grid of this many
cells a side over the domain (0.014 world units a cell: a few cells per spread)."""
DENSITY_FLOOR = 1e-8
"""Below this density (relative to its peak) log q falls as a Gaussian of the distance from
the source (the log of a blurred histogram would be minus infinity there, and a floor would
make every point as likely as any other)."""
MAX_SOURCE_POINTS = 20000
"""A custom source keeps at most this many of its points."""


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
        f"{what} starts from Gaussian noise (diffusion's target is that noise), so it keeps "
        f"the N(0, I) source; from {source} use flow matching or the exact field"
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

    def log_prob(self, x: Tensor) -> Tensor:
        """log q(x) at points ``x`` (n, 2), normalised: N(0, I), or the mixture of a
        Gaussian of width ``spread`` at each point."""
        if self.points is None:
            return -0.5 * (x * x).sum(1) - LOG_2PI
        points = torch.as_tensor(self.points, dtype=x.dtype, device=x.device)
        equal = -math.log(len(points))
        return gaussian_mixture_log_density(x, points, self.spread**2, equal, LOG_PROB_CHUNK)

    def log_density(self) -> np.ndarray:
        """log q, the log of the source's density (points each spread by ``spread``), on
        the :data:`GRID` over the domain, up to a constant (see :func:`_log_density`)."""
        if self.points is None:
            raise ValueError("the Gaussian source's log density is -|x|^2 / 2")
        return _log_density(self)

    def density(self, resolution: int, domain: float, blur: float = 0.1) -> np.ndarray:
        """The source's density on a ``resolution`` x ``resolution`` grid over the domain
        (rows y from the bottom, columns x; cell centres from -domain to domain), scaled to
        a peak of 1: the Gaussian, or a histogram of the points blurred by ``blur`` (world
        units; the source's own ``spread`` gives its density q)."""
        axis = np.linspace(-domain, domain, resolution, dtype=np.float32)
        if self.points is None:
            xx, yy = np.meshgrid(axis, axis)
            return np.exp(-0.5 * (xx**2 + yy**2)).astype(np.float32)
        cell = 2 * domain / (resolution - 1)
        edges = np.linspace(-domain - cell / 2, domain + cell / 2, resolution + 1)
        counts, _, _ = np.histogram2d(self.points[:, 1], self.points[:, 0], (edges, edges))
        from scipy import ndimage  # here: a Gaussian source, the default, needs none

        blurred = ndimage.gaussian_filter(counts, max(0.5, blur / cell), mode="constant")
        return (blurred / max(blurred.max(), 1e-12)).astype(np.float32)


def _log_density(source: Source) -> np.ndarray:
    """log q of a point source on the :data:`GRID`: the log of its density where that is
    above :data:`DENSITY_FLOOR`, and a Gaussian fall-off of the spread with the distance
    from there, so that away from the source the nearer place is still the likelier."""
    density = source.density(GRID, DOMAIN, source.spread).astype(np.float64)
    cell = 2 * DOMAIN / (GRID - 1)
    from scipy import ndimage

    distance = ndimage.distance_transform_edt(density < DENSITY_FLOOR) * cell
    fall_off = math.log(DENSITY_FLOOR) - distance**2 / (2 * source.spread**2)
    return np.logaddexp(np.log(np.maximum(density, 1e-300)), fall_off).astype(np.float32)


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
        return Source(name, custom.subset(MAX_SOURCE_POINTS).points)
    return Source(name, make_dataset(name, n=SOURCE_POINTS, seed=SOURCE_SEED).points)


def initial_positions(
    n: int, seed: int, device: str | torch.device = "cpu", source: Source | None = None
) -> tuple[Tensor, torch.Generator]:
    """The particles at t = 0, drawn from ``source`` (N(0, I) when ``None``), and the
    generator that continues from them."""
    return (source or Source()).draw(n, seed, device)


class CouplingField(Field):
    """The exact field of flow matching from a point source to data points y_1..y_M under
    the independent coupling: x_t = (1 - t) z + t y with z ~ q (the source's density) and y
    uniform over the points; the velocity is E[y - z | x_t] = (E[y | x_t] - x_t) / (1 - t).

    Given y_i, x_t = (1 - t) z + t y_i has the density q((x - t y_i) / (1 - t)) / (1 - t)^2,
    so the posterior over the points is the softmax of log q((x - t y_i) / (1 - t)): the
    Gaussian source's :class:`~dexplorer.core.fields.ExactField` with q in place of
    N(0, I). Summing over the K source points inside q would cost K x M per particle; q is
    tabulated once instead (log q on a grid of :data:`GRID` cells over the domain, read
    bilinearly), which costs M per particle as the Gaussian's field does. At t = 0 the
    marginal is q itself and the velocity E[y] - x; at t = 1 the data points. Evaluates
    in chunks of particles.
    """

    singular_at_data = True

    def __init__(
        self,
        source: Source,
        data: np.ndarray,
        device: str | torch.device = "cpu",
        chunk_elements: int = 1 << 22,
    ) -> None:
        data = np.asarray(data, np.float32)
        if data.ndim != 2 or data.shape[1] != 2 or len(data) < 1:
            raise ValueError("data points must have shape (M, 2) with M >= 1")
        if source.points is None:
            raise ValueError("the Gaussian source's exact field is the ExactField")
        self.log_q = torch.as_tensor(source.log_density(), device=device)[None, None]
        self.spread = source.spread
        self.points = torch.as_tensor(data, device=device)
        self.path = LinearPath()
        self.chunk = max(1, chunk_elements // len(data))

    def estimate(self, x: Tensor, t: Tensor | float) -> Estimate:
        """E[y | x_t] as the data estimate and E[z | x_t] = (x - t E[y | x_t]) / (1 - t) as
        the noise (the source sample); no score (the source is not Gaussian)."""
        t = as_time(t, x)
        if self.points.dtype != x.dtype:
            self.points, self.log_q = self.points.to(x.dtype), self.log_q.to(x.dtype)
        s = (1 - t).clamp_min(SIGMA_FLOOR)
        data = torch.empty_like(x)
        for start in range(0, len(x), self.chunk):
            part = x[start : start + self.chunk]
            # Where each point y_i puts the source sample: z_i = (x - t y_i) / (1 - t); log q
            # read on the grid inside the domain, falling as a Gaussian of the spread beyond.
            z = (part[:, None, :] - t * self.points[None]) / s
            inside = z.clamp(-DOMAIN, DOMAIN)
            beyond = (z - inside).square().sum(-1) / (2 * self.spread**2)
            logits = F.grid_sample(
                self.log_q, inside[None] / DOMAIN, padding_mode="border", align_corners=True
            )[0, 0]
            logits = logits - beyond
            data[start : start + self.chunk] = torch.softmax(logits, dim=1) @ self.points
        return Estimate(data, (x - t * data) / s)
