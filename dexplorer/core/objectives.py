"""Training objectives: a path, what the network predicts, and the conversions between
velocity, data (x1), noise (epsilon) and score. Time convention: t = 0 noise, t = 1 data."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .choices import OBJECTIVE_NOTES
from .datasets import DOMAIN
from .paths import CosinePath, LinearPath, Path, make_path

ALPHA_FLOOR = 1e-4
"""x1 = (x - sigma e) / alpha divides by alpha; below this alpha the estimate is clipped."""

PREDICTIONS = ("velocity", "epsilon", "v", "data", "score")
"""What a model may predict; the objectives trained here predict the first three, models
brought by users (:mod:`~dexplorer.core.user_models`) any of them."""


@dataclass(frozen=True)
class Estimate:
    """A model's estimate at (x, t), held as data x1_hat and noise e_hat, and the score
    -e_hat / sigma where the model knows it also at sigma = 0 (else ``None``)."""

    data: Tensor
    noise: Tensor
    score: Tensor | None = None


@dataclass(frozen=True)
class Objective:
    """What a network is trained to predict along a path.

    Parameters
    ----------
    name : str
        ``"flow"``, ``"diffusion"`` or ``"vpred"``.
    path : Path
        The interpolation x_t = alpha x1 + sigma e.
    prediction : str
        ``"velocity"`` (dx_t/dt), ``"epsilon"`` (the noise e), ``"v"`` (alpha e - sigma x1),
        ``"data"`` (x1) or ``"score"`` (grad log p_t = -e / sigma).
    ot_coupling : bool
        Pair noise and data by minibatch optimal transport (OT-CFM) when training.
    """

    name: str
    path: Path
    prediction: str
    ot_coupling: bool = False

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}")

    @property
    def schedule(self) -> str:
        return self.path.name

    def skip(self, x: Tensor, t: Tensor) -> Tensor | float:
        """The part of the prediction passed straight from x; the network learns the rest.

        For epsilon it is sigma(t) x, the noise estimate for unit-variance data. Near t = 0,
        where e is almost x, the network then learns the small remainder that carries the data
        estimate x1 = (x - sigma e) / alpha, instead of reproducing x to three digits: this
        cuts the error of deterministic samplers from noise several-fold. Zero otherwise.
        """
        if self.prediction != "epsilon":
            return 0.0
        t = t.reshape(-1, 1) if t.dim() else t
        return self.path.sigma(t) * x

    def target(self, x1: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """What the prediction (network output plus :meth:`skip`) should be at x_t."""
        t = t.reshape(-1, 1) if t.dim() else t
        a, s, da, ds = self.path.coefficients(t)
        if self.prediction == "velocity":
            return da * x1 + ds * noise
        if self.prediction == "epsilon":
            return noise
        if self.prediction == "data":
            return x1
        if self.prediction == "score":
            return -noise / s  # not defined at sigma = 0
        return a * noise - s * x1

    def estimate(self, output: Tensor, x: Tensor, t: Tensor) -> Estimate:
        """Convert a network output at (x, t) into data and noise estimates.

        The data estimate of an epsilon, score (e_hat = -sigma score), data or v prediction
        is clipped to the domain box, and
        where that moved it the noise estimate is recomputed from it, e_hat = (x - alpha x1_hat)
        / sigma (as DDIM implementations do), so that every sampler steps with a pair that
        still satisfies x = alpha x1_hat + sigma e_hat. At sigma = 0 (t = 1) the noise does not
        enter x and is kept. A velocity prediction is not clipped (see :meth:`velocity`); where
        sigma' is infinite (t = 1 on linear beta) its estimate is the limit x1_hat = x / alpha,
        e_hat = 0.
        """
        a, s, da, ds = self.path.coefficients(t)
        if self.prediction == "velocity":
            # Solve x = a x1 + s e, v = a' x1 + s' e for (x1, e).
            det = a * ds - s * da
            steep = ds.isinf()
            data = torch.where(steep, x / a, (ds * x - s * output) / det)
            return Estimate(data, torch.where(steep, 0.0, (a * output - da * x) / det))
        if self.prediction in ("epsilon", "score"):
            noise = output if self.prediction == "epsilon" else -s * output
            data = (x - s * noise) / a.clamp_min(ALPHA_FLOOR)
            # Below the floor the quotient is not x1_hat either: the noise follows the clip.
            return _clipped(x, data, noise, a, s, a < ALPHA_FLOOR)
        if self.prediction == "data":  # e_hat = (x - alpha x1_hat) / sigma; 0 at sigma = 0
            return _clipped(x, output, torch.zeros_like(output), a, s, True)
        return _clipped(x, a * x - s * output, s * x + a * output, a, s)

    def velocity(self, output: Tensor, x: Tensor, t: Tensor) -> Tensor:
        """The probability-flow velocity dx/dt from a network output.

        A velocity prediction is the output itself, unclipped: its data and noise estimates
        come from that one output by an exact solve, so they always agree and no step can
        amplify a noise estimate that disagrees with a clipped data estimate (what throws
        epsilon particles out); and it is what the compiled kernels (``native_sampler``,
        ``triton_sampler``) integrate, which must give the torch samplers' positions.
        """
        if self.prediction == "velocity":
            return output
        estimate = self.estimate(output, x, t)
        return self.path.velocity(t, estimate.data, estimate.noise)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "schedule": self.path.name,
            "prediction": self.prediction,
            "ot_coupling": self.ot_coupling,
        }


def _clipped(
    x: Tensor, data: Tensor, noise: Tensor, a: Tensor, s: Tensor, refit: Tensor | bool = False
) -> Estimate:
    """``data`` clipped to the domain box, and the noise made to agree with it where the
    clip moved it (or where ``refit``), unless sigma = 0."""
    clipped = data.clamp(-DOMAIN, DOMAIN)  # a data estimate from epsilon or v
    positive = s > 0
    moved = ((clipped != data) | refit) & positive
    consistent = (x - a * clipped) / torch.where(positive, s, 1.0)
    return Estimate(clipped, torch.where(moved, consistent, noise))


def make_objective(name: str, schedule: str | None = None, ot_coupling: bool = False) -> Objective:
    """The objective called ``name`` on the given schedule (default: linear for flow,
    cosine for the VP objectives)."""
    if name == "flow":
        path = make_path(schedule) if schedule else LinearPath()
        return Objective("flow", path, "velocity", ot_coupling)
    if ot_coupling:
        raise ValueError("optimal-transport coupling applies to flow matching only")
    path = make_path(schedule) if schedule else CosinePath()
    if path.name == "linear":
        raise ValueError(f"{name} needs a variance preserving schedule (cosine or linear_beta)")
    if name == "diffusion":
        return Objective("diffusion", path, "epsilon")
    if name == "vpred":
        return Objective("vpred", path, "v")
    raise ValueError(f"unknown objective {name!r}: choose one of {', '.join(OBJECTIVE_NOTES)}")


def objective_from_dict(info: dict) -> Objective:
    """Rebuild an objective from :meth:`Objective.to_dict` output."""
    objective = make_objective(
        info["name"], info.get("schedule"), bool(info.get("ot_coupling", False))
    )
    if objective.prediction != info.get("prediction", objective.prediction):
        raise ValueError(f"objective {info['name']!r} does not predict {info['prediction']!r}")
    return objective
