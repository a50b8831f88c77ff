"""Fields: the model callables that samplers integrate. A field estimates data and noise at
(x, t) along a path, and from those the velocity and the score."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .coupling_kernel import CouplingKernel
from .datasets import DOMAIN
from .networks import MLP
from .objectives import Estimate, Objective
from .paths import LinearPath, Path

if TYPE_CHECKING:
    from .fused import ChunkedMLP
    from .sources import Source

SIGMA_FLOOR = 1e-6
CPU_CHUNK_ELEMENTS = 1 << 18
"""Floats in one temporary of an exact field's evaluation on a CPU: few enough to stay in
the caches and under the C library's threshold for mapping memory afresh (a larger
temporary is mapped and faulted in again at every evaluation: the system's time, not the
field's, made most of such a run)."""
DEVICE_CHUNK_ELEMENTS = 1 << 24
"""The same on other devices (fewer, larger kernels)."""
LOGIT_FLOOR = -80.0
"""How far below a particle's largest logit the exact field's logits count (see
:meth:`ExactField._estimate_chunk`)."""
FIELD_EDGE = 0.005
"""How close to t = 0 and t = 1 a field that may be singular there is evaluated (the
arrows, the streaks and the model density)."""


def _chunk_elements(device: str | torch.device) -> int:
    """Floats in one temporary of an exact field's evaluation on ``device``."""
    return CPU_CHUNK_ELEMENTS if torch.device(device).type == "cpu" else DEVICE_CHUNK_ELEMENTS


def gaussian_mixture_log_density(
    x: Tensor, centres: Tensor, variance: Tensor | float, log_weights: Tensor | float, chunk: int
) -> Tensor:
    """log sum_i w_i N(x; centres_i, variance I) at the 2D points ``x`` (n, 2), in nats (n,),
    with log w_i = ``log_weights`` (normalised; one value for equal weights), ``chunk``
    points at a time."""
    out = torch.empty(len(x), dtype=x.dtype, device=x.device)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        squared = torch.cdist(part, centres).square()
        out[start : start + len(part)] = torch.logsumexp(log_weights - squared / (2 * variance), 1)
    return out - math.log(2 * math.pi) - torch.log(torch.as_tensor(variance, dtype=x.dtype))


def divides_by_alpha(field: Field) -> bool:
    """Whether ``field``'s data estimate divides its prediction by alpha (a noise or score
    prediction: x1_hat = (x - sigma e_hat) / alpha), so that it and the velocity blow up as
    t -> 0; velocity, v and data predictions and the exact field are stable there."""
    objective = getattr(field, "objective", None)
    return objective is not None and objective.prediction in ("epsilon", "score")


def as_time(t: Tensor | float, like: Tensor) -> Tensor:
    """t as a 0-d (or batch) tensor on the device and dtype of ``like``."""
    return torch.as_tensor(t, dtype=like.dtype, device=like.device)


class Field(ABC):
    """A model of the data given a noisy point: E[x1 | x_t = x] and E[e | x_t = x] on a path.

    Subclasses implement :meth:`estimate`; velocity and score follow from the path.
    ``singular_at_data`` is true when the velocity diverges at t = 1 or is not pinned
    down there (an empirical distribution, a network predicting the noise), so samplers
    avoid evaluating it there.
    """

    path: Path
    singular_at_data: bool = False

    @abstractmethod
    def estimate(self, x: Tensor, t: Tensor | float) -> Estimate: ...

    def velocity(self, x: Tensor, t: Tensor | float) -> Tensor:
        """dx/dt of the probability-flow ODE: alpha' x1_hat + sigma' e_hat."""
        t = as_time(t, x)
        est = self.estimate(x, t)
        return self.path.velocity(t, est.data, est.noise, est.score)

    def score(self, x: Tensor, t: Tensor | float) -> Tensor:
        """grad log p_t(x) = -e_hat / sigma."""
        t = as_time(t, x)
        est = self.estimate(x, t)
        if est.score is not None:
            return est.score
        return -est.noise / self.path.sigma(t).clamp_min(SIGMA_FLOOR)


class NetworkField(Field):
    """A trained network under its objective, with class conditioning and classifier-free
    guidance: out = uncond + w (cond - uncond); w = 0 unconditional, 1 conditional, > 1
    guided.

    ``label`` is one class for every particle, a tensor with one class per particle (see
    :func:`draw_labels`), or ``None`` for the network's null class (unconditional).
    Calls at one shared time (all the samplers' calls) go through ``fast`` when it is set,
    a :class:`~dexplorer.core.fused.ChunkedMLP` of the network chosen by the sampling
    back-end dispatcher (:mod:`dexplorer.engine.backends`); ``None``: the plain module.
    """

    def __init__(
        self,
        network: MLP,
        objective: Objective,
        label: int | Tensor | None = None,
        guidance: float = 1.0,
    ) -> None:
        if label is not None:
            _check_labels(label, network.config.num_classes)
        self.network = network
        self.objective = objective
        self.path = objective.path
        # A noise (or v) output at t = 1 is what training cannot pin down (there the noise
        # is not in x), sigma' times it has no finite limit on linear beta (Path.velocity),
        # and where the data estimate is clipped the velocity diverges as t -> 1: samplers
        # do not evaluate such a field at t = 1. A velocity output is finite there.
        self.singular_at_data = objective.prediction != "velocity"
        self.label = label
        self.guidance = float(guidance)
        self.fast: ChunkedMLP | None = None

    def output(self, x: Tensor, t: Tensor) -> Tensor:
        """The objective's prediction at (x, t) (network plus skip), guided when a class is
        set."""
        return self._network_output(x, t) + self.objective.skip(x, t)

    def _network_output(self, x: Tensor, t: Tensor) -> Tensor:
        if self.label is None or self.guidance == 1.0:
            return self._evaluate(x, t, self.label)
        null = self.network.null_class
        if self.guidance == 0.0:
            return self._evaluate(x, t, null)
        if self.fast is not None and self.fast.applies(x, t):
            conditional = self.fast(x, t, self.label)
            return torch.lerp(self.fast(x, t, null), conditional, self.guidance)
        n = x.shape[0]
        labels = torch.full((2 * n,), null, dtype=torch.long, device=x.device)
        labels[:n] = self.label
        both = self.network(torch.cat([x, x]), t, labels)
        return torch.lerp(both[n:], both[:n], self.guidance)

    def _evaluate(self, x: Tensor, t: Tensor, labels: Tensor | int | None) -> Tensor:
        if self.fast is not None and self.fast.applies(x, t):
            return self.fast(x, t, labels)
        return self.network(x, t, labels)

    def estimate(self, x: Tensor, t: Tensor | float) -> Estimate:
        t = as_time(t, x)
        return self.objective.estimate(self.output(x, t), x, t)

    def velocity(self, x: Tensor, t: Tensor | float) -> Tensor:
        t = as_time(t, x)
        return self.objective.velocity(self.output(x, t), x, t)


def _check_labels(label: int | Tensor, num_classes: int) -> None:
    if not num_classes:
        raise ValueError("this model is unconditional: it takes no class")
    values = (int(label.min()), int(label.max())) if isinstance(label, Tensor) else (label,)
    for value in values:
        if not 0 <= value < num_classes:
            raise ValueError(
                f"class {value} does not exist: the model has {num_classes} classes "
                f"(0 to {num_classes - 1})"
            )


def draw_labels(
    class_weights: np.ndarray | list[float], n: int, seed: int, device: str | torch.device = "cpu"
) -> Tensor:
    """One class per particle, drawn with the given class proportions: a conditional model
    then samples the whole distribution, each particle keeping its class along its path."""
    weights = torch.as_tensor(np.asarray(class_weights, dtype=np.float64))
    if weights.ndim != 1 or not len(weights) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("class weights must be non-negative with a positive sum")
    generator = torch.Generator().manual_seed(seed)
    labels = torch.multinomial(weights, n, replacement=True, generator=generator)
    return labels.to(device)


class ExactField(Field):
    """The closed-form optimal denoiser of a mixture of isotropic Gaussians N(y_i, tau^2 I)
    along a path: with tau = 0 the empirical distribution of the points y_i, whose samples
    land on the training points (memorisation).

    Owns the data points (on the torch device) and evaluates in chunks of particles, so
    100k particles x 10k points stay within ``chunk_elements`` floats per temporary (by
    default :data:`CPU_CHUNK_ELEMENTS` on a CPU).
    """

    def __init__(
        self,
        points: np.ndarray | Tensor,
        path: Path,
        spread: float = 0.0,
        weights: np.ndarray | Tensor | None = None,
        device: str | torch.device = "cpu",
        chunk_elements: int | None = None,
    ) -> None:
        self.points = torch.as_tensor(np.asarray(points), dtype=torch.float32, device=device)
        if self.points.ndim != 2 or self.points.shape[1] != 2 or len(self.points) < 1:
            raise ValueError("points must have shape (M, 2) with M >= 1")
        m = len(self.points)
        w = torch.full((m,), 1.0 / m) if weights is None else torch.as_tensor(weights)
        self.log_weights = torch.log(w.to(device=device, dtype=torch.float32))
        self.path = path
        self.spread = float(spread)
        self.singular_at_data = self.spread == 0.0
        self.chunk = max(1, (chunk_elements or _chunk_elements(device)) // m)
        squared_norms = (self.points * self.points).sum(1)
        self.augmented = torch.cat([self.points.T, squared_norms[None]]).contiguous()
        """The points' coordinates and squared norms, (3, M): a particle's logits over the
        points are one product with its coefficients (see :meth:`_estimate_chunk`)."""

    def estimate(self, x: Tensor, t: Tensor | float) -> Estimate:
        t = as_time(t, x)
        if self.points.dtype != x.dtype:
            self.to(x.dtype)
        data = torch.empty_like(x)
        score = torch.empty_like(x)
        for start in range(0, len(x), self.chunk):
            part = slice(start, start + self.chunk)
            data[part], score[part] = self._estimate_chunk(x[part], t)
        return Estimate(data, -self.path.sigma(t) * score, score)

    def to(self, dtype: torch.dtype) -> ExactField:
        """Hold the points in ``dtype`` (the field follows the particles' precision)."""
        self.points = self.points.to(dtype)
        self.log_weights = self.log_weights.to(dtype)
        self.augmented = self.augmented.to(dtype)
        return self

    def _estimate_chunk(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """E[x1 | x] and the score; the score stays finite at sigma = 0 when spread > 0."""
        a, s = self.path.alpha(t), self.path.sigma(t)
        # Given component i, x ~ N(a y_i, variance I).
        variance = ((a * self.spread) ** 2 + s * s).clamp_min(SIGMA_FLOOR**2)
        # -|x - a y|^2 / (2 variance) = (a / variance) x.y - a^2 |y|^2 / (2 variance) - the
        # |x|^2 term, which cancels in the softmax: one product (x, 1) @ (y; |y|^2) with
        # scaled coefficients, the log weights added in the same pass; then the softmax in
        # place (each pass over the chunk costs: the points are many). Logits more than
        # LOGIT_FLOOR below a particle's largest count as LOGIT_FLOOR: e^-80 is nothing
        # beside 1, and exp stays out of its slow path for results that underflow (most of
        # them near t = 1, where each particle is near one point).
        near = -(a * a) / (2 * variance)
        coefficients = torch.cat([x * (a / variance), near.expand(len(x), 1)], 1)
        logits = torch.addmm(self.log_weights, coefficients, self.augmented)
        peak = logits.amax(1, keepdim=True)
        if logits.requires_grad:  # differentiated (the model's density): no pass in place
            weights = (logits - peak).clamp(min=LOGIT_FLOOR).exp()
        else:
            weights = logits.sub_(peak).clamp_(min=LOGIT_FLOOR).exp_()
        mean = (weights @ self.points) / weights.sum(1, keepdim=True)
        offset = x - a * mean
        # E[x1 | x, i] = y_i + (a tau^2 / variance)(x - a y_i), linear in y_i;
        # E[e | x] = (x - a E[x1 | x]) / s = offset s / variance, the score -offset / variance.
        data = mean + offset * (a * self.spread**2 / variance)
        return data, -offset / variance


class GuidedField(Field):
    """Class conditioning and classifier-free guidance of a field built from points (the
    exact field), as :class:`NetworkField` guides a network: out = uncond + w (cond -
    uncond), for the data and noise estimates (and the score) alike, so also for the
    velocity, which is linear in them. Owns the unconditional field (of every point) and
    one conditional field per class (of that class's points); ``label`` is one class for
    every particle or a tensor with one class per particle."""

    def __init__(
        self,
        unconditional: Field,
        conditional: list[Field],
        label: int | Tensor,
        guidance: float = 1.0,
    ) -> None:
        _check_labels(label, len(conditional))
        self.unconditional = unconditional
        self.conditional = conditional
        self.label = label
        self.guidance = float(guidance)
        self.path = unconditional.path
        self.singular_at_data = unconditional.singular_at_data or any(
            field.singular_at_data for field in conditional
        )

    def estimate(self, x: Tensor, t: Tensor | float) -> Estimate:
        t = as_time(t, x)
        if isinstance(self.label, int):
            cond = self.conditional[self.label].estimate(x, t)
        else:
            cond = self._per_particle(x, t)
        if self.guidance == 1.0:
            return cond
        uncond = self.unconditional.estimate(x, t)
        w = self.guidance
        score = None
        if cond.score is not None and uncond.score is not None:
            score = torch.lerp(uncond.score, cond.score, w)
        return Estimate(
            torch.lerp(uncond.data, cond.data, w), torch.lerp(uncond.noise, cond.noise, w), score
        )

    def _per_particle(self, x: Tensor, t: Tensor) -> Estimate:
        """Each particle's estimate under its own class."""
        data, noise, score = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
        scores = True
        for label, field in enumerate(self.conditional):
            mine = self.label == label
            if not mine.any():
                continue
            part = field.estimate(x[mine], t)
            data[mine], noise[mine] = part.data, part.noise
            if part.score is None:
                scores = False
            else:
                score[mine] = part.score
        return Estimate(data, noise, score if scores else None)


class CouplingField(Field):
    """The exact field of flow matching from a point source to data points y_1..y_M under
    the independent coupling: x_t = (1 - t) z + t y with z ~ q (the source's density) and y
    uniform over the points; the velocity is E[y - z | x_t] = (E[y | x_t] - x_t) / (1 - t).

    Given y_i, x_t = (1 - t) z + t y_i has the density q((x - t y_i) / (1 - t)) / (1 - t)^2,
    so the posterior over the points is the softmax of log q((x - t y_i) / (1 - t)): the
    Gaussian source's :class:`ExactField` with q in place of N(0, I). Summing over the K
    source points inside q would cost K x M per particle; q is tabulated once instead (log q
    on a grid of :data:`~dexplorer.core.sources.GRID` cells over the domain, read
    bilinearly), which costs M per particle as the Gaussian's field does. At t = 0 the
    marginal is q itself and the velocity E[y] - x; at t = 1 the data points. Evaluates
    in chunks of particles, or in the compiled kernel of
    :mod:`~dexplorer.core.coupling_kernel` for float32 particles on the CPU when it was
    loaded as the field was made.
    """

    singular_at_data = True

    def __init__(
        self,
        source: Source,
        data: np.ndarray,
        device: str | torch.device = "cpu",
        chunk_elements: int | None = None,
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
        self.chunk = max(1, (chunk_elements or _chunk_elements(device)) // (2 * len(data)))
        on_cpu = torch.device(device).type == "cpu"
        self.kernel = (
            CouplingKernel.of(self.points, self.log_q, DOMAIN, self.spread) if on_cpu else None
        )

    def estimate(self, x: Tensor, t: Tensor | float) -> Estimate:
        """E[y | x_t] as the data estimate and E[z | x_t] = (x - t E[y | x_t]) / (1 - t) as
        the noise (the source sample); no score (the source is not Gaussian)."""
        t = as_time(t, x)
        if self.points.dtype != x.dtype:
            self.points, self.log_q = self.points.to(x.dtype), self.log_q.to(x.dtype)
        s = (1 - t).clamp_min(SIGMA_FLOOR)
        data = None if self.kernel is None else self.kernel.data(x, t, s)
        if data is not None:
            return Estimate(data, (x - t * data) / s)
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
