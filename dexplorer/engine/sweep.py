"""The quality of the compared runs' samplers against their number of steps, measured in a
background thread so that a frame never waits."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import torch

from ..core.fields import Field
from ..core.metrics import QualityError
from ..core.samplers import SamplerSettings
from ..core.sources import Source, initial_positions
from . import backends
from .simulation import Simulation, measure

SWEEP_STEPS = (2, 4, 8, 16, 32, 64)


class Sampling(NamedTuple):
    """How a sweep samples one run at each number of steps."""

    sampler: str
    eta: float
    noise_scale: float
    n: int
    seed: int
    source: Source | None = None


@dataclass
class Curve:
    """Quality against steps for one panel's sampler, filled as the sweep goes."""

    title: str
    steps: list[int] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


class QualitySweep:
    """Owns the thread that samples each of the simulations' samplers at ``steps`` steps
    (same model, seed and particles as the simulation) and measures the result."""

    def __init__(
        self,
        simulations: list[Simulation],
        device: torch.device,
        steps: tuple[int, ...] = SWEEP_STEPS,
    ) -> None:
        jobs: dict[tuple, tuple[str, Field, np.ndarray, Sampling]] = {}
        for sim in simulations:
            key = (sim.data, replace(sim.run, steps=0), sim.n)
            run = sim.run
            sampling = Sampling(
                run.sampler, run.eta, run.noise_scale, sim.n, sim.data.seed, sim.source
            )
            jobs.setdefault(key, (run.method, sim.field, sim.reference_points(), sampling))
        self.curves = [Curve(title) for title, _, _, _ in jobs.values()]
        self.total = len(jobs) * len(steps)
        self.done = 0
        self.error = ""
        self._cancel = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(list(jobs.values()), steps, device),
            daemon=True,
            name="dexplorer-quality-sweep",
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(
        self,
        jobs: list[tuple[str, Field, np.ndarray, Sampling]],
        steps: tuple[int, ...],
        device: torch.device,
    ) -> None:
        try:
            for curve, (_, field_, points, settings) in zip(self.curves, jobs, strict=True):
                for count in steps:
                    final = self._sample(settings, field_, count, device)
                    if final is None:
                        return
                    curve.ratios.append(measure(final, points).ratio)
                    curve.steps.append(count)
                    self.done += 1
        except QualityError as error:
            self.error = str(error)
        except Exception as error:  # shown in the UI; the app keeps running
            self.error = f"{type(error).__name__}: {error}"

    def _sample(
        self, settings: Sampling, field_: Field, steps: int, device: torch.device
    ) -> torch.Tensor | None:
        """The particles at t = 1, or ``None`` when cancelled, by the back-end that
        :func:`~dexplorer.engine.backends.choose` picks (a kernel not built yet: torch)."""
        x0, generator = initial_positions(settings.n, settings.seed, device, settings.source)
        sampler = SamplerSettings(settings.eta, settings.noise_scale, generator)
        backend = backends.choose(field_, settings.sampler, device, settings.n, steps, wait=False)
        return backends.final_positions(backend, x0, steps, sampler, self._cancel)

    def cancel(self) -> None:
        """Stop after the current step and wait for the thread."""
        self._cancel.set()
        self._thread.join()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the sweep ends; returns whether it measured everything."""
        self._thread.join(timeout)
        return self.done == self.total
