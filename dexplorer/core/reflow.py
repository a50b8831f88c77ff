"""Reflow (rectified flow, Liu et al. 2022): straighten a flow model's paths by training a
new flow model on the pairs (noise z, endpoint x1 = ODE(z)) that the model itself joins.

Flow matching on independent pairs learns paths that bend: where the straight lines from
many noise points to many data points cross, the learned velocity averages them. The pairs
that one flow joins never cross (an ODE's paths cannot), so a flow trained on straight
lines between them has nothing to average: its paths are straighter, and a few Euler steps
land where many did before. The new model starts from the original's weights (it already
knows where the data are) and learns the straight lines.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from .checkpoints import Checkpoint
from .choices import ReflowSettings, TrainingError, TrainSettings
from .datasets import DOMAIN, Dataset
from .metrics import Quality, QualityReference
from .samplers import SamplerSettings, finite_particles, initial_noise, iterate, sample
from .sources import GAUSSIAN
from .straightness import Straightness, straightness
from .training import Outcome, Progress, Trainer
from .training_job import LOSS_EVERY, JobProgress

SAMPLER = ("rk4", 16)
"""The sampler and steps that find each noise point's endpoint: fourth order, so the pairs
are what the original model's ODE joins, not what a coarse sampler would make of it."""
CHUNK = 4096
"""Pairs sampled at once (a stop is seen between chunks)."""
EULER_STEPS = (1, 2, 4)
"""The Euler step counts whose quality :class:`Straightening` reports."""


class ReflowError(ValueError):
    """A model that cannot be reflowed, or settings out of range: says which and why."""


def reflow_problem(model: object) -> str:
    """What keeps ``model`` from being reflowed ('' when nothing): it must be a flow model
    (flow matching objective) given as a checkpoint."""
    if not isinstance(model, Checkpoint):
        return "reflow needs a flow model: a shipped flow model, or a trained or loaded one"
    if model.objective.name != "flow":
        return (
            f"reflow needs a flow model; this one is a {model.objective.name} model "
            "(train one with the flow objective)"
        )
    if model.source != GAUSSIAN:
        return (
            f"reflow starts from N(0, I); this model was trained from the source {model.source!r}"
        )
    return ""


@dataclass(frozen=True)
class Pairs:
    """Noise points, the endpoints the original model carries them to, and the class each
    was sampled with (``None`` for an unconditional model), all in the model's domain."""

    noise: Tensor
    endpoints: Tensor
    labels: Tensor | None = None

    def __len__(self) -> int:
        return len(self.noise)


def couple(
    original: Checkpoint,
    count: int,
    seed: int = 0,
    device: str | torch.device = "cpu",
    stop: threading.Event | None = None,
) -> Pairs | None:
    """Sample ``count`` pairs (z, ODE(z)) from ``original`` with :data:`SAMPLER`; each
    particle of a conditional model keeps a class drawn in its training proportions.

    Pairs whose endpoint is not finite or leaves the domain are dropped. ``None`` when
    ``stop`` was set.

    Raises
    ------
    ReflowError
        When ``original`` is not a flow model, or no endpoint stayed finite.
    """
    problem = reflow_problem(original)
    if problem:
        raise ReflowError(problem)
    device = torch.device(device)
    if next(original.network.parameters()).device != device:  # a copy: others use it there
        original = replace(original, network=copy.deepcopy(original.network).to(device))
    noise, _ = initial_noise(count, seed, device)
    labels = original.particle_labels(count, seed, device) if original.conditional else None
    sampler, steps = SAMPLER
    ends = []
    for start in range(0, count, CHUNK):
        if stop is not None and stop.is_set():
            return None
        part = slice(start, start + CHUNK)
        field_ = original.field(None if labels is None else labels[part])
        states = iterate(field_, noise[part], steps, sampler, SamplerSettings())
        ends.append(deque(states, maxlen=1)[-1].clone())
    endpoints = torch.cat(ends)
    keep = finite_particles(endpoints) & (endpoints.abs() <= DOMAIN).all(dim=1)
    if not keep.any():
        raise ReflowError("no endpoint of the original model stayed finite: nothing to reflow")
    return Pairs(noise[keep], endpoints[keep], None if labels is None else labels[keep])


class PairedTrainer(Trainer):
    """A :class:`~dexplorer.core.training.Trainer` on fixed pairs: each batch row's noise is
    its pair's, not fresh noise, so flow matching learns the straight line from z to the x1
    it is paired with. Starts from the original model's weights."""

    def __init__(
        self,
        original: Checkpoint,
        pairs: Pairs,
        settings: TrainSettings,
        device: str | torch.device = "cpu",
    ) -> None:
        problem = reflow_problem(original)
        if problem:
            raise ReflowError(problem)
        if settings.objective != "flow" or settings.ot_coupling:
            raise ReflowError("a reflow trains flow matching on its own pairs (no OT coupling)")
        labels = None if pairs.labels is None else pairs.labels.cpu().numpy().astype(np.int64)
        dataset = Dataset(
            original.dataset or "custom",
            "reflow pairs",
            np.ascontiguousarray(pairs.endpoints.float().cpu().numpy()),
            labels,
            original.class_names if labels is not None else (),
            original.normalisation,
        )
        super().__init__(dataset, settings, device, network=original.network)
        self.noise = pairs.noise.to(self.device, torch.float32)

    def _noise(self, index: Tensor, x1: Tensor) -> Tensor:
        return self.noise[index]


def reflow(
    original: Checkpoint,
    settings: ReflowSettings | None = None,
    device: str | torch.device = "cpu",
    callback: Callable[[Progress], None] | None = None,
) -> tuple[Checkpoint, Outcome]:
    """One reflow of ``original``: its pairs, then ``settings.steps`` optimiser steps on
    them. Returns the reflowed model and how its training ended.

    Raises
    ------
    ReflowError
        When ``original`` is not a flow model or the settings are out of range.
    TrainingError
        When training diverged before its first step.
    """
    settings = settings or ReflowSettings()
    problem = settings.problem()
    if problem:
        raise ReflowError(problem)
    pairs = couple(original, settings.pairs, settings.seed, device)
    trainer = PairedTrainer(original, pairs, replace(settings.train, seed=settings.seed), device)
    outcome = trainer.run(steps=settings.steps, callback=callback, report_every=50)
    if outcome.stopped == "diverged" and trainer.step == 0:
        raise TrainingError(outcome.message)
    return trainer.checkpoint(), outcome


@dataclass(frozen=True)
class Straightening:
    """How straight a flow model's paths are and what that buys: the straightness of its
    paths (integrated with :data:`SAMPLER`) and its quality number with 1, 2 and 4 Euler
    steps (:data:`EULER_STEPS`)."""

    straightness: Straightness
    euler: dict[int, Quality]

    @property
    def text(self) -> str:
        ratios = ", ".join(f"{self.euler[k].ratio:.2f}" for k in EULER_STEPS)
        steps = "/".join(str(k) for k in EULER_STEPS)
        return f"{self.straightness.text}; Euler {steps} steps: ED {ratios}x held-out"


def straightening(
    model: Checkpoint,
    reference: QualityReference,
    n: int = 2000,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> Straightening:
    """Measure ``model``'s :class:`Straightening` on ``n`` particles against the data of
    ``reference`` (a conditional model samples every class in its proportions).

    Raises
    ------
    QualityError
        When the samples cannot be measured (none finite).
    """
    labels = model.particle_labels(n, seed, device) if model.conditional else None
    field_ = model.field(labels)
    sampler, steps = SAMPLER
    measured = straightness(sample(field_, n, steps, sampler, seed=seed, device=device))
    if measured is None:
        raise ReflowError("no path of the model stayed finite: no straightness")
    euler = {
        k: reference.measure(sample(field_, n, k, "euler", seed=seed, device=device, record=False))
        for k in EULER_STEPS
    }
    return Straightening(measured, euler)


class ReflowJob:
    """Owns one reflow in the background while the app keeps drawing: the thread that first
    samples the pairs from the original model, then trains on them, and the progress the UI
    shows (the :class:`~dexplorer.core.training_job.JobProgress` of training jobs).

    ``original`` is the model reflowed; :meth:`checkpoint` the result once it has trained.
    """

    def __init__(
        self, original: Checkpoint, settings: ReflowSettings, device: torch.device | str = "cpu"
    ) -> None:
        problem = reflow_problem(original) or settings.problem()
        if problem:
            raise ReflowError(problem)
        self.original = original
        self.settings = settings
        self.device = torch.device(device)
        self.progress = JobProgress()
        self.trainer: PairedTrainer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Sample the pairs and train on them, in the background."""
        if self.progress.running or self._thread is not None:
            return
        self.progress.running = True
        self.progress.message = f"sampling {self.settings.pairs:,} pairs from the model..."
        self._thread = threading.Thread(target=self._run, daemon=True, name="dexplorer-reflow")
        self._thread.start()

    def stop(self) -> None:
        """Ask the reflow to stop: while sampling pairs nothing is kept; while training the
        weights so far are the reflowed model."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def trained(self) -> bool:
        """Whether the job ended with a model to show (it trained at least one step)."""
        done = not self.progress.running and not self.progress.failed
        return done and self.trainer is not None and self.trainer.step > 0

    def checkpoint(self) -> Checkpoint:
        """The reflowed model so far (a copy)."""
        if self.trainer is None:
            raise ReflowError("the reflow has not started training yet")
        return self.trainer.checkpoint()

    def _report(self, progress: Progress) -> None:
        state = self.progress
        state.fraction = progress.fraction
        if progress.step % LOSS_EVERY == 0:
            state.steps.append(progress.step)
            state.losses.append(progress.loss)

    def _run(self) -> None:
        settings, state = self.settings, self.progress
        try:
            pairs = couple(self.original, settings.pairs, settings.seed, self.device, self._stop)
            if pairs is None:
                state.message = "reflow stopped while sampling pairs: nothing was trained"
                return
            train = replace(settings.train, seed=settings.seed)
            self.trainer = PairedTrainer(self.original, pairs, train, self.device)
            state.message = f"training on {len(pairs):,} pairs..."
            outcome = self.trainer.run(None, settings.steps, self._report, 1, self._stop)
            state.message = outcome.message or f"reflowed in {outcome.steps:,} steps"
            state.failed = self.trainer.step == 0
        except Exception as error:  # shown in the UI; the app keeps running
            state.failed = True
            state.message = f"reflow failed: {type(error).__name__}: {error}"
        finally:
            state.fraction = 1.0 if not self._stop.is_set() else state.fraction
            state.running = False
            state.finished += 1
