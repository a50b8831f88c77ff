"""The comparison's engine: one simulation per panel, all from the same starting particles;
each panel's energy distance to the data once its trajectories are done; and the quality of
the panels' samplers against their number of steps. Everything slow runs in background
threads, so a frame never waits."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..comparison import Panel
from ..core.fields import Field
from ..core.metrics import Quality, QualityError, measure_quality
from ..core.samplers import SamplerSettings, initial_noise
from ..state import AppState, Settings
from . import backends
from .simulation import Simulation

SWEEP_STEPS = (2, 4, 8, 16, 32, 64)
PANEL_DENSITY = 128
PANEL_GRID = 2
"""Mesh and arrow grids of a panel (they are not drawn in a comparison): the smallest."""


def measure(samples: np.ndarray | torch.Tensor, points: np.ndarray) -> Quality:
    """The quality of ``samples`` against the data ``points`` (see
    :class:`~dexplorer.core.metrics.Quality`); raises QualityError where it has no meaning."""
    return measure_quality(samples, points, seed=1)


def reference_points(simulation: Simulation) -> np.ndarray:
    """What a panel's samples should match: the data, or its chosen class's points."""
    dataset, label = simulation.dataset, simulation.settings.label
    if label is None or dataset.labels is None or simulation.settings.model == "exact":
        return dataset.points
    return dataset.points[dataset.labels == label]


class PanelRun:
    """Owns one panel's :class:`~dexplorer.engine.simulation.Simulation` and the thread that
    measures its final particles when a run is done."""

    def __init__(self, panel: Panel, simulation: Simulation) -> None:
        self.panel = panel
        self.simulation = simulation
        self._result: tuple[int, Quality | str] | None = None
        self._measuring = 0
        self._thread: threading.Thread | None = None

    @property
    def quality(self) -> Quality | None:
        """The current run's quality, once measured."""
        measured = self._measured()
        return measured if isinstance(measured, Quality) else None

    @property
    def quality_problem(self) -> str:
        """Why the current run has no quality number ('' while it has one or is measuring)."""
        measured = self._measured()
        return measured if isinstance(measured, str) else ""

    def _measured(self) -> Quality | str | None:
        result = self._result
        generation = self.simulation.cache.state.generation
        return result[1] if result is not None and result[0] == generation else None

    def poll(self) -> None:
        """Start measuring the current run if it is done and not measured yet."""
        state = self.simulation.cache.state
        if not state.done or self._measuring == state.generation:
            return
        if state.nonfinite == self.simulation.settings.n:
            return  # nothing to measure: the caption says why
        self._measuring = state.generation
        final = self.simulation.cache.particles[-1].float().cpu().numpy()
        points = reference_points(self.simulation)
        self._thread = threading.Thread(
            target=self._measure,
            args=(state.generation, final, points),
            daemon=True,
            name="dexplorer-panel-quality",
        )
        self._thread.start()

    def _measure(self, generation: int, final: np.ndarray, points: np.ndarray) -> None:
        try:
            self._result = (generation, measure(final, points))
        except QualityError as error:
            self._result = (generation, str(error))
        except Exception as error:  # the caption says so; the thread never dies silently
            self._result = (generation, f"no quality number: {type(error).__name__}: {error}")

    def wait(self) -> None:
        """Block until the trajectories are done and measured (headless renders, tests)."""
        self.simulation.cache.wait()
        self.poll()
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        """Stop computing and wait for a measurement under way (a short one)."""
        self.simulation.cache.cancel()
        if self._thread is not None:
            self._thread.join()


@dataclass
class Curve:
    """Quality against steps for one panel's sampler, filled as the sweep goes."""

    title: str
    steps: list[int] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


class QualitySweep:
    """Owns the thread that samples each of the panels' samplers at ``steps`` steps
    (same model, seed and particles as the panel) and measures the result."""

    def __init__(
        self, runs: list[PanelRun], device: torch.device, steps: tuple[int, ...] = SWEEP_STEPS
    ) -> None:
        jobs: dict[Settings, tuple[str, Field, np.ndarray]] = {}
        for run in runs:
            sim = run.simulation
            key = replace(sim.settings, steps=0)
            jobs.setdefault(key, (run.panel.method, sim.field, reference_points(sim)))
        self.curves = [Curve(title) for title, _, _ in jobs.values()]
        self.total = len(jobs) * len(steps)
        self.done = 0
        self.error = ""
        self._cancel = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(list(jobs.items()), steps, device),
            daemon=True,
            name="dexplorer-quality-sweep",
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(
        self,
        jobs: list[tuple[Settings, tuple[str, Field, np.ndarray]]],
        steps: tuple[int, ...],
        device: torch.device,
    ) -> None:
        try:
            for curve, (settings, (_, field_, points)) in zip(self.curves, jobs, strict=True):
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
        self, settings: Settings, field_: Field, steps: int, device: torch.device
    ) -> torch.Tensor | None:
        """The particles at t = 1, or ``None`` when cancelled, by the back-end that
        :func:`~dexplorer.engine.backends.choose` picks (a kernel not built yet: torch)."""
        x0, generator = initial_noise(settings.n, settings.seed, device)
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


class Comparison:
    """Owns the panels' runs and the quality sweep, and follows the state: :meth:`sync`
    (once a frame) starts, restarts or drops runs where the panels changed, measures the
    finished ones and starts or cancels the sweep."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.runs: list[PanelRun] = []
        self.sweep: QualitySweep | None = None
        self._sweep_id = 0
        self._revision = -1

    def sync(self, state: AppState) -> None:
        """Bring the runs to ``state.panels``. A panel that cannot run goes back to what
        still runs, with a message (a comparison that cannot start at all goes back to the
        single view)."""
        stale = state.revision != self._revision
        self._revision = state.revision
        for run in self.runs[len(state.panels) :]:
            run.close()
        del self.runs[len(state.panels) :]
        for index, panel in enumerate(state.panels):
            settings = state.panel_settings(index)
            custom, trained = state.custom, state.trained
            try:
                if index == len(self.runs):
                    simulation = Simulation(
                        settings,
                        self.device,
                        PANEL_DENSITY,
                        PANEL_GRID,
                        PANEL_GRID,
                        custom,
                        trained,
                    )
                    self.runs.append(PanelRun(panel, simulation))
                elif stale or settings != self.runs[index].simulation.settings:
                    self.runs[index].simulation.apply(settings, custom, trained)
                self.runs[index].panel = panel
            except (ValueError, MemoryError, OSError) as error:
                state.message = f"panel {index + 1}: {error}"
                if index < len(self.runs):
                    state.panels[index] = self.runs[index].panel
                else:
                    self.close()
                    state.panels = []
                    return
        for run in self.runs:
            run.poll()
        self._sync_sweep(state)

    def _sync_sweep(self, state: AppState) -> None:
        if state.sweep == self._sweep_id:
            return
        if self.sweep is not None:
            self.sweep.cancel()
        self._sweep_id = state.sweep
        self.sweep = QualitySweep(self.runs, self.device) if state.sweep and self.runs else None

    def wait(self) -> None:
        """Block until every panel is computed and measured."""
        for run in self.runs:
            run.wait()

    def close(self) -> None:
        """Stop every thread and drop the runs."""
        if self.sweep is not None:
            self.sweep.cancel()
        self.sweep, self._sweep_id = None, 0
        for run in self.runs:
            run.close()
        self.runs = []
