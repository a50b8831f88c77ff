"""The simulation: from the data and a run to the arrays the renderer draws. Owns the
field, the trajectory cache, the shared arrays and the measurement of the final particles;
knows nothing of ImGui, pygfx or the app state."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import torch

from ..core import models
from ..core.checkpoints import Checkpoint
from ..core.datasets import DOMAIN, Dataset, make_dataset
from ..core.editing import Edit
from ..core.fields import Field
from ..core.metrics import Quality, QualityError, measure_quality
from ..core.runs import Data, Run
from ..core.samplers import nonfinite_message
from ..core.sources import Source, make_source
from ..core.straightness import Straightness, adds_noise, straightness
from ..core.user_models import UserModel
from .buffers import SharedArray
from .grids import DensityGrid, field_time, grid_points, velocity_grid
from .guesses import Guesses
from .likelihood import HELD_OUT_SEED, NLL_POINTS, ModelDensity
from .live_edit import LiveEdit
from .start import MAX_EXACT_POINTS, shown_dataset
from .streaks import Streaks
from .trajectory import RunSpec, TrajectoryCache


def density_blur(n: int, resolution: int) -> float:
    """Blur in grid cells for n particles: a kernel of 0.9 n^(-1/6) world units (Silverman's
    rule for unit spread), wide enough to keep few particles from looking like noise."""
    return 0.9 * n ** (-1 / 6) * resolution / (2 * DOMAIN)


def measure(samples: np.ndarray | torch.Tensor, points: np.ndarray) -> Quality:
    """The quality of ``samples`` against the data ``points`` (see
    :class:`~dexplorer.core.metrics.Quality`); raises QualityError where it has no meaning."""
    return measure_quality(samples, points, seed=1)


class Simulation:
    """Turns the data and a :class:`~dexplorer.core.runs.Run` into trajectories and, for
    any time t, writes the particle positions, their density, the warped mesh, the velocity
    arrows and the selected paths into arrays that the renderer uploads as they are. With
    ``measure``, it also measures the final particles against the data once a run is done
    (in a thread, so a frame never waits).
    """

    def __init__(
        self,
        data: Data,
        run: Run,
        n: int | None = None,
        device: torch.device | str = "cpu",
        density_resolution: int = 256,
        mesh_count: int = 15,
        vector_count: int = 21,
        custom: Dataset | None = None,
        trained: Checkpoint | None = None,
        measure: bool = False,
        yours: UserModel | None = None,
        reflowed: Checkpoint | None = None,
        custom_source: Dataset | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.mesh_count = mesh_count
        self.vector_count = vector_count
        self.measuring = measure
        self.cache = TrajectoryCache(self.device)
        self.density_resolution = density_resolution
        self.density = SharedArray((density_resolution, density_resolution), self.device)
        self.mesh_start = grid_points(mesh_count, 3.0, self.device)
        self.vector_points = grid_points(vector_count, 3.0, self.device)
        self.positions: SharedArray | None = None
        self.data: Data | None = None
        self.run: Run | None = None
        self.n = 0
        self.labels: np.ndarray | None = None
        self.source: Source | None = None
        """What the particles start from (:mod:`~dexplorer.core.sources`)."""
        self._custom_source: Dataset | None = None
        self._result: tuple[int, Quality | str] | None = None
        self._measuring = 0
        self._thread: threading.Thread | None = None
        self.guesses: Guesses | None = None
        """The denoiser's guesses of the particles, made when first asked for."""
        self.live: LiveEdit | None = None
        """The live edit being recomputed, if any."""
        self._straightness: tuple[int, Straightness | None] | None = None
        self._straightening = 0
        self._bend_thread: threading.Thread | None = None
        self._model_density: ModelDensity | None = None
        self._retired: list[ModelDensity] = []
        """Model densities of runs before, stopping (joined on :meth:`close`)."""
        self._streaks: Streaks | None = None
        self._patches = 0
        """Live edits' changes to the paths of the run shown (its guesses are recomputed)."""
        self.apply(data, run, n, custom, trained, yours, reflowed, custom_source)

    # --- settings ---------------------------------------------------------------------------

    def apply(
        self,
        data: Data,
        run: Run,
        n: int | None = None,
        custom: Dataset | None = None,
        trained: Checkpoint | None = None,
        yours: UserModel | None = None,
        reflowed: Checkpoint | None = None,
        custom_source: Dataset | None = None,
    ) -> None:
        """Start computing ``run`` on ``data`` with ``n`` particles (the data's by default;
        the previous run is cancelled); ``custom``, ``trained``, ``yours``, ``reflowed`` and
        ``custom_source`` are the custom dataset, the trained model, the user's model, the
        reflowed model and the custom source they may name.

        Raises
        ------
        ValueError, MemoryError, CheckpointError
            When the run cannot run; nothing changes then.
        """
        n = data.n if n is None else n
        dataset = shown_dataset(data, custom)
        source = self._source(data.source, custom_source)
        found = models.checkpoint(run.model, data.dataset, trained, self.device, yours, reflowed)
        problem = models.source_problem(found, run, data)
        if problem:
            raise ValueError(problem)
        field, labels = models.run_field(
            found, run, dataset.points, n, data.seed, self.device, None, dataset.labels, source
        )
        spec = RunSpec(
            field=field,
            sampler=run.sampler,
            steps=run.steps,
            n=n,
            seed=data.seed,
            eta=run.eta,
            noise_scale=run.noise_scale,
            extra=self.mesh_start,
            extra_field=models.grid_field(field, run),
            source=source,
        )
        self.cache.start(spec)  # checks memory first: raises before changing anything
        self._stop_live()
        self.density_grid = DensityGrid(
            self.density_resolution,
            DOMAIN,
            density_blur(n, self.density_resolution),
            self.device,
        )
        if self.positions is None or self.positions.array.shape[0] != n:
            self.positions = SharedArray((n, 2), self.device)
        self.data, self.run, self.n = data, run, n
        self.dataset = dataset
        self.source = source
        self.field = field
        self.labels = None if labels is None else labels.cpu().numpy()
        self._drop_model_density()

    def follow(
        self,
        edit: Edit,
        custom: Dataset,
        trained: Checkpoint | None = None,
        yours: UserModel | None = None,
        reflowed: Checkpoint | None = None,
        custom_source: Dataset | None = None,
    ) -> None:
        """The custom data changed by ``edit`` (and the edits before it): an exact-field run
        whose trajectories are complete recomputes progressively, from the particles near
        the edit out (:mod:`~dexplorer.engine.live_edit`); any other run starts again.

        Raises
        ------
        ValueError, MemoryError
            As :meth:`apply`, when the run cannot run.
        """
        change = edit.since(self.dataset)
        state = self.cache.state
        live = self.run.model == "exact" and change is not None and state.done
        live = live and self.cache.layout is None  # a bounded run has no whole paths to patch
        if not live or len(custom) > MAX_EXACT_POINTS:
            self.apply(self.data, self.run, self.n, custom, trained, yours, reflowed, custom_source)
            return
        self._stop_live()
        self.cache.cancel(wait=False)  # an earlier edit's full recompute, behind the run shown
        field, _ = models.run_field(
            None,
            self.run,
            custom.points,
            self.n,
            self.data.seed,
            self.device,
            labels=custom.labels,
            source=self.source,
        )
        spec = replace(self.cache.spec, field=field, extra_field=models.grid_field(field, self.run))
        before = self.dataset.points
        self.live = LiveEdit(self.cache, spec, before, custom.points, *change)
        self._patches += 1
        self.dataset, self.field = custom, field
        self._drop_model_density()  # the exact field's density is of the data as edited

    def _stop_live(self) -> None:
        if self.live is not None:
            self.live.cancel()
            self.live = None

    def _source(self, name: str, custom_source: Dataset | None) -> Source:
        """The source called ``name``: the one this simulation holds when it is the same
        (the side views and the panel redraw it only when it changes)."""
        held = self.source
        if held is not None and held.name == name and self._custom_source is custom_source:
            return held
        self._custom_source = custom_source
        return make_source(name, custom_source)

    # --- per frame -----------------------------------------------------------------------------

    @property
    def progress(self) -> tuple[int, int]:
        """(steps computed, steps wanted): a run that failed wants no more."""
        state = self.cache.state
        return state.ready, state.ready if state.error else self.run.steps

    @property
    def memory_note(self) -> str:
        """What a bounded run keeps and what that turns off, for the controls ('' for a run
        kept whole)."""
        layout = self.cache.layout
        if layout is None:
            return ""
        return (
            f"memory: the steps do not all fit; kept {len(layout.keyframes)} keyframes (every "
            f"{layout.every} steps) and a ring of {layout.ring} steps, the others recomputed "
            f"when shown. Paths: the first {layout.traced:,} particles only (a click picks "
            "the nearest of them); a live edit restarts the run."
        )

    @property
    def recompute_note(self) -> str:
        """Which step a bounded run recomputes from to show the time asked for ('' while
        it shows it)."""
        step = self.cache.recomputing
        return "" if step is None else f"recomputing from step {step}"

    @property
    def selectable(self) -> int:
        """How many particles can be selected (their paths drawn): the first ones."""
        return self.cache.traced

    @property
    def live_note(self) -> str:
        """What a live edit has recomputed so far ('' when none is under way)."""
        return "" if self.live is None else self.live.note

    @property
    def notice(self) -> str:
        """What is wrong with the current run, for the status ('' if nothing): the worker's
        error, or how many particles (and mesh points) became inf or nan: those are not
        drawn from that step on."""
        state = self.cache.state
        if state.error:
            return state.error
        notes = []
        if state.nonfinite:
            notes.append(f"{nonfinite_message(state.nonfinite, self.n)}: not drawn")
        if state.nonfinite_extra:
            count, total = state.nonfinite_extra, len(self.mesh_start)
            notes.append(f"{count} of {total} mesh points became non-finite: not drawn")
        if self.guess_notice:
            notes.append(self.guess_notice)
        return "; ".join(notes)

    @property
    def guess_notice(self) -> str:
        """What is wrong with the guesses shown ('' if nothing)."""
        guesses = self.guesses
        if guesses is None or guesses.shown is None:
            return ""
        if guesses.problem:
            return guesses.problem
        if guesses.nonfinite:
            count, total = guesses.nonfinite, self.n
            return f"{count:,} of {total:,} guesses x1_hat were non-finite (inf or nan): not drawn"
        return ""

    def update_positions(self, t: float, publish: bool = True) -> None:
        """Write the particles' positions at t into the shared positions array (into its
        tensor alone, for the density, without ``publish``: the renderer draws them from
        rows on its device)."""
        self.cache.interpolate(t, self.positions.target)
        if publish:
            self.positions.publish()

    def positions_of(self, indices: list[int]) -> np.ndarray:
        """The positions last written of the particles ``indices``, (k, 2)."""
        return self.positions.target[indices].cpu().numpy()

    def update_density(self) -> None:
        """Density of the current positions into the shared density array."""
        current = self.positions.target
        self.density_grid.compute(current, self.density.target)
        self.density.publish()

    def update_guesses(self, t: float) -> bool:
        """Bring ``guesses.array`` to the denoiser's guesses x1_hat of the particles at t
        when the steps around t are computed, else ask for them (in the background);
        whether the array changed."""
        if self.guesses is None or self.guesses.array.array.shape[0] != self.n:
            self.drop_guesses()
            self.guesses = Guesses(self.n, self.device)
        run = (self.cache.state.generation, self._patches)
        return self.guesses.show(run, self.field, self.cache, t)

    def drop_guesses(self) -> None:
        """Forget the guesses (their layer is off): nothing is computed until asked again."""
        if self.guesses is not None:
            self.guesses.close()
        self.guesses = None

    def mesh(self, t: float) -> np.ndarray:
        """The warped grid at t, (K*K, 2)."""
        out = torch.empty((len(self.mesh_start), 2), device=self.device)
        return self.cache.interpolate(t, out, "extra").cpu().numpy()

    def vectors(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Grid points and the model's velocity there at t (clamped inside (0, 1) where the
        field is singular at the ends)."""
        t = field_time(t)
        velocity = velocity_grid(self.field_for_grid, t, self.vector_points)
        return self.vector_points.cpu().numpy(), velocity.cpu().numpy()

    def streaks(self, t: float) -> Streaks:
        """The tracers of the streaks layer, following the field at t (made when first asked
        for: a run whose streaks are not shown computes nothing for them)."""
        if self._streaks is None:
            self._streaks = Streaks(device=self.device)
        self._streaks.follow(self.field_for_grid, t, (self.field, self.run))
        return self._streaks

    @property
    def field_for_grid(self) -> Field:
        return models.grid_field(self.field, self.run)

    def paths(self, selected: list[int]) -> np.ndarray:
        """Paths of the selected particles (below :attr:`selectable`) over the ready steps,
        (ready + 1, k, 2)."""
        index = torch.as_tensor(selected, dtype=torch.long, device=self.device)
        return self.cache.paths(index).cpu().numpy()

    def nearest(self, x: float, y: float) -> int:
        """Index of the particle nearest to world point (x, y) at the current positions,
        among those :attr:`selectable`."""
        current = self.positions.target[: self.selectable]
        distance = (current - torch.tensor([x, y], device=self.device)).square().sum(1)
        return int(distance.nan_to_num(torch.inf).argmin())  # never a non-finite particle

    def data_density(self) -> np.ndarray:
        """Density of the dataset's points on the grid (for the data panel)."""
        out = torch.empty_like(self.density.target)
        points = torch.as_tensor(self.dataset.points, device=self.device)
        return self.density_grid.compute(points, out).cpu().numpy()

    # --- the model's density ---------------------------------------------------------------

    def model_density(self) -> ModelDensity:
        """The run's model density and NLL (made on first use: nothing is computed for it
        while its layer is off)."""
        if self._model_density is None:
            self._model_density = ModelDensity(
                self.field_for_grid, self.nll_points(), self.device, self.source
            )
        return self._model_density

    def _drop_model_density(self) -> None:
        """Forget the model density of a field no longer shown (its worker stops aside)."""
        if self._model_density is not None:
            self._model_density.close(wait=False)
            self._retired.append(self._model_density)
            self._model_density = None

    def nll_points(self) -> np.ndarray:
        """The points whose NLL is measured: fresh points of a bundled dataset (held out),
        a fixed subsample of custom data (its own points), of the run's class if it has one."""
        if self.data.dataset == "custom":
            dataset = self.dataset.subset(NLL_POINTS, HELD_OUT_SEED)
        else:
            dataset = make_dataset(self.data.dataset, n=NLL_POINTS, seed=HELD_OUT_SEED)
        return self._of_class(dataset)

    # --- quality ----------------------------------------------------------------------------

    def reference_points(self) -> np.ndarray:
        """What the samples should match: the data, or its chosen class's points."""
        return self._of_class(self.dataset)

    def _of_class(self, dataset: Dataset) -> np.ndarray:
        """The points of ``dataset``, or of the run's class when it has one."""
        label = self.run.label
        if label is None or dataset.labels is None:
            return dataset.points
        return dataset.points[dataset.labels == label]

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
        generation = self.cache.state.generation
        return result[1] if result is not None and result[0] == generation else None

    def poll(self) -> None:
        """Move a live edit on, and start measuring the current run if it is done and not
        measured yet (its straightness always, its quality with ``measuring`` on)."""
        if self.live is not None:
            stage = self.live.stage
            if self.live.poll():
                self.live = None
            if self.live is None or self.live.stage != stage:
                self._patches += 1  # the paths shown changed within the run
        self._poll_straightness()
        state = self.cache.state
        if not self.measuring or not state.done or self._measuring == state.generation:
            return
        if state.nonfinite == self.n:
            return  # nothing to measure: the caption says why
        self._measuring = state.generation
        final = self.cache.row(self.run.steps).cpu().numpy()  # a bounded run's last keyframe
        self._thread = threading.Thread(
            target=self._measure,
            args=(state.generation, final, self.reference_points()),
            daemon=True,
            name="dexplorer-quality",
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
        if self.live is not None:
            self.live.wait()
            self.live = None
            self._patches += 1
        self.cache.wait()
        self.poll()
        for thread in (self._thread, self._bend_thread):
            if thread is not None:
                thread.join()
        if self._model_density is not None:
            self._model_density.wait()

    def close(self) -> None:
        """Stop computing and wait for a measurement under way (a short one)."""
        self._stop_live()
        self.cache.cancel()
        self.drop_guesses()
        for thread in (self._thread, self._bend_thread):
            if thread is not None:
                thread.join()
        for density in (*self._retired, self._model_density):
            if density is not None:
                density.close()
        self._retired.clear()
        if self._streaks is not None:
            self._streaks.close()

    # --- straightness ----------------------------------------------------------------------

    @property
    def straightness(self) -> Straightness | None:
        """The current run's straightness (:func:`~dexplorer.core.straightness.straightness`
        of its cached trajectory, or a bounded run's sums of it), once the trajectory is
        complete and measured; ``None`` before, or when no particle stayed finite."""
        result = self._straightness
        generation = self.cache.state.generation
        return result[1] if result is not None and result[0] == generation else None

    def _poll_straightness(self) -> None:
        """Measure the straightness of a complete trajectory not measured yet, in a thread
        (it reads every step of the cache)."""
        state = self.cache.state
        if not state.done or self._straightening == state.generation:
            return
        self._straightening = state.generation
        run = self.run
        noisy = adds_noise(run.sampler, run.eta, run.noise_scale)
        if self.cache.layout is not None:  # summed as the steps were computed
            summed = self.cache.bounded_straightness
            measured = None if summed is None else Straightness(*summed, noisy)
            self._straightness = (state.generation, measured)
            return
        self._bend_thread = threading.Thread(
            target=self._measure_straightness,
            args=(state.generation, self.cache.particles, noisy),
            daemon=True,
            name="dexplorer-straightness",
        )
        self._bend_thread.start()

    def _measure_straightness(self, generation: int, particles: torch.Tensor, noisy: bool) -> None:
        with torch.inference_mode():
            self._straightness = (generation, straightness(particles, noisy))
