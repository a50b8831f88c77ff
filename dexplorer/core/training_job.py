"""Training in the background while the app keeps drawing: a trainer, its thread, and the
progress the UI shows (loss curve, preview samples, quality)."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .checkpoints import Checkpoint
from .choices import TrainSettings
from .datasets import Dataset
from .metrics import Quality, QualityError
from .sources import Source
from .training import Progress, Trainer

LOSS_EVERY = 10
PREVIEW_SECONDS = 1.0
"""Fresh preview samples (and their quality) at most this often, in wall time."""
PREVIEW_POINTS = 2000


@dataclass
class JobProgress:
    """What the UI shows; written by the training thread, read by the render loop."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    fraction: float = 0.0
    preview: np.ndarray | None = None
    quality: Quality | None = None
    quality_problem: str = ""
    """Why there is no quality number ('' when there is one)."""
    message: str = ""
    running: bool = False
    finished: int = 0
    """How many runs have ended (budget spent, stopped, diverged or failed)."""
    failed: bool = False
    """The last run ended in an error: its weights are not a model to use."""


def fingerprint(dataset: Dataset) -> str:
    """A hash of what a model learns from a dataset: its points, labels, class names and
    normalisation (two datasets of one name and size, such as two image imports, differ)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(dataset.points.tobytes())
    if dataset.labels is not None:
        digest.update(dataset.labels.tobytes())
    norm = dataset.normalisation
    digest.update(repr((dataset.class_names, norm.centre, norm.scale)).encode())
    return digest.hexdigest()


class TrainingJob:
    """Owns a :class:`~dexplorer.core.training.Trainer` on one dataset and the thread that
    runs it in budgets; :meth:`start` again resumes where the last run ended. The flow
    starts from ``source`` (N(0, I) when ``None``)."""

    def __init__(
        self,
        dataset: Dataset,
        settings: TrainSettings,
        device: torch.device | str = "cpu",
        source: Source | None = None,
    ) -> None:
        self.dataset = dataset
        self.data_key = fingerprint(dataset)
        # Raises TrainingError on bad settings (a diffusion objective from a point source).
        self.trainer = Trainer(dataset, settings, device, source=source)
        self.progress = JobProgress()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_preview = 0.0

    def resumes(
        self, dataset: Dataset, settings: TrainSettings, source: Source | None = None
    ) -> bool:
        """Whether training on ``dataset`` with ``settings`` from ``source`` is this job
        continued (the same data by content, the same settings, the same source)."""
        same_source = (source or Source()).name == self.trainer.source.name
        return (
            self.trainer.settings == settings
            and self.data_key == fingerprint(dataset)
            and same_source
        )

    def start(self, seconds: float | None = None, steps: int | None = None) -> None:
        """Train for a budget in the background (resuming from the current weights)."""
        if self.progress.running:
            return
        self._stop = threading.Event()
        self._last_preview = time.perf_counter()
        self.progress.running = True
        self.progress.failed = False
        self.progress.message = ""
        self._thread = threading.Thread(
            target=self._run, args=(seconds, steps), daemon=True, name="dexplorer-training"
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the run to stop after its current step."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _report(self, progress: Progress) -> None:
        state = self.progress
        state.fraction = progress.fraction
        state.message = progress.warning
        if progress.step % LOSS_EVERY == 0:
            state.steps.append(progress.step)
            state.losses.append(progress.loss)
        if time.perf_counter() - self._last_preview >= PREVIEW_SECONDS:
            self._preview()

    def _preview(self) -> None:
        samples = self.trainer.samples(PREVIEW_POINTS, 32, "heun")
        try:
            self.progress.quality = self.trainer.reference().measure(samples)
            self.progress.quality_problem = ""
        except QualityError as error:
            self.progress.quality, self.progress.quality_problem = None, str(error)
        self.progress.preview = samples
        self._last_preview = time.perf_counter()  # a slow preview never starves training

    def _run(self, seconds: float | None, steps: int | None) -> None:
        try:
            outcome = self.trainer.run(seconds, steps, self._report, 1, self._stop)
            self.progress.message = outcome.message or outcome.warning
            if self.trainer.step:
                self._preview()
        except Exception as error:  # shown in the UI; the app keeps running
            self.progress.failed = True
            self.progress.message = f"training failed: {type(error).__name__}: {error}"
        finally:
            self.progress.fraction = 1.0 if not self._stop.is_set() else self.progress.fraction
            self.progress.running = False
            self.progress.finished += 1

    def checkpoint(self) -> Checkpoint:
        """The EMA weights so far as a model the simulation can use (a copy)."""
        return self.trainer.checkpoint()
