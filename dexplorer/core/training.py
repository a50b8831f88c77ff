"""Training: AdamW on an objective's regression target, with an EMA of the weights, a time
or step budget, progress callbacks and a stop flag."""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from .backprop import MSEBackprop
from .checkpoints import Checkpoint
from .choices import TrainingError, TrainSettings
from .coupling import ot_pair
from .datasets import Dataset
from .fields import NetworkField, draw_labels
from .metrics import Quality, QualityError, QualityReference
from .networks import MLP, build_network
from .objectives import Objective, make_objective
from .samplers import SamplerSettings, iterate
from .sources import Source, gaussian_only
from .threads import ThreadTuner

CHECK_AT = 0.3
"""The share of a run's budget after which a run that is not learning says so."""
NOT_LEARNING = 3.0
"""A run whose samples are still this many times further from the data than held-out data
at :data:`CHECK_AT`, and not twice closer than at its start, is not learning."""
CHECK_SAMPLES = 1000


@dataclass
class Progress:
    """What a callback sees every ``report_every`` steps."""

    step: int
    loss: float
    seconds: float
    fraction: float
    trainer: Trainer
    warning: str = ""
    """The run's :attr:`Outcome.warning` so far."""

    def preview(self, n: int = 2000, steps: int = 32, sampler: str = "heun") -> np.ndarray:
        """Samples at t = 1 from the current EMA weights."""
        return self.trainer.samples(n, steps, sampler)


@dataclass
class Outcome:
    """How a :meth:`Trainer.run` ended."""

    steps: int
    seconds: float
    loss: float
    stopped: str = "budget"
    message: str = ""
    losses: list[float] = field(default_factory=list)
    warning: str = ""
    """Set when the run is clearly not learning, with the likely fix."""


class Trainer:
    """Owns a network, its EMA copy, the optimiser and the training data; trains in budgets
    that can be run again to resume. ``model`` (the EMA weights) is the result.

    ``network``, when given, is where training starts (a copy of it, e.g. the model that a
    reflow straightens) instead of fresh weights of the settings' preset.
    """

    def __init__(
        self,
        dataset: Dataset,
        settings: TrainSettings,
        device: str | torch.device = "cpu",
        *,
        network: MLP | None = None,
        source: Source | None = None,
    ) -> None:
        settings.validate()
        self.settings = settings
        self.dataset = dataset
        self.device = torch.device(device)
        self.source = source or Source()
        """What the flow starts from: N(0, I), or points (flow matching between shapes)."""
        try:
            self.objective: Objective = make_objective(
                settings.objective, settings.schedule, settings.ot_coupling
            )
        except ValueError as error:
            raise TrainingError(str(error)) from None
        if self.objective.name != "flow":
            problem = gaussian_only(f"the {self.objective.name} objective", self.source.name)
            if problem:
                raise TrainingError(problem)
        torch.manual_seed(settings.seed)
        if network is None:
            network = build_network(settings.preset, dataset.num_classes)
        else:
            network = copy.deepcopy(network).requires_grad_(True)
        self.network: MLP = network.to(self.device)
        self.model: MLP = copy.deepcopy(self.network).requires_grad_(False)
        self.parameters = list(self.network.parameters())
        self.averages = list(self.model.parameters())
        self.optimizer = torch.optim.AdamW(
            self.parameters,
            lr=settings.learning_rate,
            weight_decay=settings.weight_decay,
            fused=self.device.type in ("cpu", "cuda"),
        )
        self.generator = torch.Generator(self.device).manual_seed(settings.seed)
        self.backprop = MSEBackprop(self.network)
        self.points = torch.as_tensor(dataset.points, device=self.device)
        points = self.source.points
        self.source_points = None if points is None else torch.as_tensor(points, device=device)
        labels = dataset.labels
        self.labels = None if labels is None else torch.as_tensor(labels, device=self.device)
        self.class_weights: tuple[float, ...] = ()
        if labels is not None:
            counts = np.bincount(labels, minlength=dataset.num_classes)
            self.class_weights = tuple(float(c) for c in counts / counts.sum())
        self.step = 0
        self.losses: list[float] = []
        self._reference: QualityReference | QualityError | None = None

    def field(self, label: int | Tensor | None = None, guidance: float = 1.0) -> NetworkField:
        """The EMA model as a field for the samplers."""
        return NetworkField(self.model, self.objective, label, guidance)

    def checkpoint(self) -> Checkpoint:
        """The EMA weights so far as a model (a copy: training can go on)."""
        network = copy.deepcopy(self.model).eval().requires_grad_(False)
        return Checkpoint(
            network,
            self.objective,
            self.dataset.name,
            self.dataset.class_names,
            self.class_weights,
            self.step,
            normalisation=self.dataset.normalisation,
            source=self.source.name,
        )

    def samples(self, n: int, steps: int = 32, sampler: str = "heun", seed: int = 0) -> np.ndarray:
        """n samples at t = 1 from the EMA model (of every class, in the data's proportions),
        started from the source."""
        labels = (
            draw_labels(self.class_weights, n, seed, self.device)
            if self.labels is not None
            else None
        )
        x0, generator = self.source.draw(n, seed, self.device)
        settings = SamplerSettings(generator=generator)
        states = iterate(self.field(labels), x0, steps, sampler, settings)
        return deque(states, maxlen=1)[-1].cpu().numpy()

    def reference(self) -> QualityReference:
        """The data's side of the quality number, computed once (raises QualityError where
        the data cannot be judged)."""
        if self._reference is None:
            try:
                self._reference = QualityReference(self.dataset.points, seed=1)
            except QualityError as error:
                self._reference = error
        if isinstance(self._reference, QualityError):
            raise self._reference
        return self._reference

    def _quick_quality(self) -> Quality | None:
        """A rough quality of the EMA model (None where the data is too small to judge)."""
        try:
            reference = self.reference()  # first: data that cannot be judged costs nothing
            return reference.measure(self.samples(CHECK_SAMPLES, 16, "euler", seed=1))
        except QualityError:
            return None

    def _learning_problem(self, at_start: Quality, losses: list[float]) -> str:
        """What to say when the run is not learning ('' when it is)."""
        now = self._quick_quality()
        if now is None or now.ratio < NOT_LEARNING or now.ratio < at_start.ratio / 2:
            return ""
        tenth = max(1, len(losses) // 10)
        falling = np.mean(losses[-tenth:]) < 0.7 * np.mean(losses[:tenth])
        fix = (
            "the loss is still falling: a longer budget may get there"
            if falling
            else f"try a lower learning rate than {self.settings.learning_rate:g}"
        )
        return (
            f"training is not learning: after {CHECK_AT:.0%} of the budget the samples are "
            f"{now.ratio:.1f}x further from the data than held-out data ({at_start.ratio:.1f}x "
            f"at the start); {fix}"
        )

    def _batch(self) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        size = self.settings.batch_size
        index = torch.randint(
            len(self.points), (size,), generator=self.generator, device=self.device
        )
        x1 = self.points[index]
        noise = self._noise(index, x1)
        classes = None if self.labels is None else self.labels[index]
        if self.objective.ot_coupling:
            noise = ot_pair(noise, x1, self.generator, classes)
        t = torch.rand(size, generator=self.generator, device=self.device)
        labels = None
        if classes is not None:
            labels = classes.clone()
            drop = torch.rand(size, generator=self.generator, device=self.device)
            labels[drop < self.settings.cond_dropout] = self.network.null_class
        return x1, noise, t, labels

    def _noise(self, index: Tensor, x1: Tensor) -> Tensor:
        """The noise paired with the data rows ``index``: fresh draws of the source,
        independent of them."""
        return self._source_batch(len(index))

    def _source_batch(self, size: int) -> Tensor:
        """A batch of the source: N(0, I), or source points each spread by the source's
        Gaussian."""
        noise = torch.randn((size, 2), generator=self.generator, device=self.device)
        if self.source_points is None:
            return noise
        index = torch.randint(
            len(self.source_points), (size,), generator=self.generator, device=self.device
        )
        return self.source_points[index] + self.source.spread * noise

    def _learning_rate(self, fraction: float) -> float:
        """Linear warm-up, then cosine decay to a tenth over the budget."""
        base = self.settings.learning_rate
        warm = min(1.0, (self.step + 1) / max(1, self.settings.warmup_steps))
        return base * warm * (0.1 + 0.45 * (1 + math.cos(math.pi * min(fraction, 1.0))))

    def _train_step(self, fraction: float) -> float:
        """One optimiser step; returns the loss, or raises TrainingError if it is not finite."""
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate(fraction)
        x1, noise, t, labels = self._batch()
        xt = self.objective.path.sample(x1, noise, t)
        target = self.objective.target(x1, noise, t)
        loss = self.backprop(xt, t, labels, self.objective.skip(xt, t), target)
        value = float(loss)
        if not math.isfinite(value):
            raise TrainingError(f"the loss became {value}")
        # Only weights whose loss came out finite enter the average.
        decay = min(self.settings.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            torch._foreach_lerp_(self.averages, self.parameters, 1 - decay)
            gradients = [p.grad for p in self.parameters]
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(gradients)))
            if not torch.isfinite(norm):
                raise TrainingError("the gradient became infinite")
            torch._foreach_mul_(gradients, torch.clamp(1.0 / (norm + 1e-6), max=1.0))
        self.optimizer.step()
        self.step += 1
        return value

    def run(
        self,
        seconds: float | None = None,
        steps: int | None = None,
        callback: Callable[[Progress], None] | None = None,
        report_every: int = 100,
        stop: threading.Event | None = None,
        tune_threads: bool = False,
    ) -> Outcome:
        """Train until the time or step budget is spent or ``stop`` is set.

        ``tune_threads`` lets a :class:`~dexplorer.core.threads.ThreadTuner` choose torch's
        CPU threads step by step (for a process that has the machine to itself, not the
        app, whose renderer needs a core).

        A non-finite loss or gradient ends the run with ``stopped="diverged"`` and a message;
        ``model`` then keeps the last good EMA weights.
        """
        if seconds is None and steps is None:
            raise TrainingError("give a budget: seconds or steps")
        if (seconds is not None and seconds <= 0) or (steps is not None and steps < 1):
            raise TrainingError("the budget must be positive")
        at_start = self._quick_quality()
        checked = at_start is None
        start, first = time.perf_counter(), self.step
        outcome = Outcome(0, 0.0, math.nan)
        tuner = ThreadTuner() if tune_threads and self.device.type == "cpu" else None
        self.network.train()
        while True:
            elapsed = time.perf_counter() - start
            done = self.step - first
            fraction = max(done / steps if steps else 0.0, elapsed / seconds if seconds else 0.0)
            if fraction >= 1.0 or (stop is not None and stop.is_set()):
                outcome.stopped = "budget" if fraction >= 1.0 else "stopped"
                break
            try:
                if tuner is not None:
                    tuner.before()
                    began = time.perf_counter()
                loss = self._train_step(fraction)
                if tuner is not None:
                    tuner.after(time.perf_counter() - began)
            except TrainingError as error:
                outcome.stopped = "diverged"
                outcome.message = (
                    f"training stopped at step {self.step}: {error} (try a lower learning rate "
                    f"than {self.settings.learning_rate:g}); the last good weights are kept"
                )
                break
            outcome.losses.append(loss)
            outcome.loss = loss
            if not checked and fraction >= CHECK_AT:
                checked = True
                outcome.warning = self._learning_problem(at_start, outcome.losses)
            if callback is not None and self.step % report_every == 0:
                callback(Progress(self.step, loss, elapsed, fraction, self, outcome.warning))
        if tuner is not None:
            tuner.close()
        self.losses.extend(outcome.losses)
        outcome.steps = self.step - first
        outcome.seconds = time.perf_counter() - start
        return outcome
