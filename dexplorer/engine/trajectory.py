"""The trajectory cache: every particle's position at every step, filled by a background
thread while the renderer shows what is ready."""

from __future__ import annotations

import atexit
import dataclasses
import math
import threading
import time
import weakref
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from ..core.fields import Field
from ..core.samplers import (
    SamplerSettings,
    finite_particles,
    get_sampler,
    time_grid,
)
from ..core.sources import Source, initial_positions
from . import backends
from .devices import available_memory

CACHE_SHARE = 0.6
"""A trajectory cache may take at most this share of the free memory (less than a one-shot
request may, :data:`dexplorer.core.limits.MEMORY_SHARE`: the app holds other things beside it)."""


_LIVE: weakref.WeakSet[TrajectoryCache] = weakref.WeakSet()


@atexit.register
def _cancel_all() -> None:
    """Stop running workers before the interpreter tears torch down under them."""
    for cache in list(_LIVE):
        cache.cancel()


class _Run(NamedTuple):
    """One run's spec, arrays and progress, swapped in as a whole."""

    spec: RunSpec | None
    particles: Tensor | None
    extra: Tensor | None
    state: CacheState


@dataclass(frozen=True)
class RunSpec:
    """What to compute: a field, a sampler and its settings, and the particles.

    ``extra`` are starting points integrated after the particles with the same sampler
    (the warped mesh); ``extra_field`` is the field they use, when it must differ (a field
    with one class per particle). The particles start from ``source`` (N(0, I) when
    ``None``).
    """

    field: Field
    sampler: str = "heun"
    steps: int = 100
    n: int = 20000
    seed: int = 0
    eta: float = 0.0
    noise_scale: float = 1.0
    extra: Tensor | None = None
    extra_field: Field | None = None
    source: Source | None = None

    def __post_init__(self) -> None:
        get_sampler(self.sampler)
        time_grid(self.steps)
        SamplerSettings(eta=self.eta, noise_scale=self.noise_scale)
        if self.n < 1:
            raise ValueError(f"the number of particles must be at least 1, got {self.n}")


@dataclass
class CacheState:
    """Progress of one run, read by the render thread without locking."""

    ready: int = 0
    """Steps computed and safe to read (0 means only the starting noise)."""
    nonfinite: int = 0
    """Particles that became inf or nan in the steps ready. They are kept as computed: the
    renderer skips them from that step on, and the simulation reports how many."""
    nonfinite_extra: int = 0
    """The same for the extra points (the warped mesh)."""
    done: bool = False
    error: str = ""
    seconds: float = 0.0
    generation: int = 0
    backend: str = ""
    """The sampling back-end that computes the particles (:mod:`dexplorer.engine.backends`)."""
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    """Why each other back-end was not chosen."""


class _FiniteCount:
    """Which particles (and extra points) of a run are still finite, checked row by row as
    the steps become ready; the counts go to the run's state before its ``ready`` does."""

    def __init__(self, state: CacheState, particles: Tensor, extra: Tensor | None) -> None:
        self.state = state
        self.arrays = [a for a in (particles, extra) if a is not None]
        self.finite = [
            torch.ones(a.shape[1], dtype=torch.bool, device=a.device) for a in self.arrays
        ]
        self.checked = 0

    def update(self, ready: int) -> None:
        """Check the rows after the last check up to ``ready``."""
        counts = []
        for array, finite in zip(self.arrays, self.finite, strict=True):
            finite &= finite_particles(array[self.checked + 1 : ready + 1])
            counts.append(int(len(finite) - finite.sum()))
        self.checked = ready
        self.state.nonfinite = counts[0]
        self.state.nonfinite_extra = counts[1] if len(counts) > 1 else 0


class TrajectoryCache:
    """Owns the trajectory tensors ([steps + 1, n, 2] for particles and for extra points) on
    the torch device, and the worker thread that fills them step by step.

    :meth:`start` cancels any run in progress and begins a new one; the render loop never
    waits: :meth:`interpolate` reads whatever steps are ready.
    """

    def __init__(
        self,
        device: torch.device | str = "cpu",
        batch_steps: int = 4,
        whole_runs: bool | None = None,
        native: bool = True,
    ) -> None:
        self.device = torch.device(device)
        self.batch_steps = batch_steps
        self.whole_runs = whole_runs
        """Whether runs the Triton kernel supports are computed in one launch (``None``: on
        a GPU; on the CPU only when ``True``, under Triton's interpreter, for tests)."""
        self.native = native
        """Whether runs on the CPU that the compiled kernel supports are computed by it."""
        self._current = _Run(None, None, None, CacheState())
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.hidden: _Run | None = None
        """The run computed behind the one shown (see :meth:`start`), until it is shown."""
        _LIVE.add(self)

    # --- running ---------------------------------------------------------------------------

    def start(self, spec: RunSpec, hidden: bool = False) -> None:
        """Cancel the current run and start computing ``spec`` in the background. With
        ``hidden`` the run shown stays shown until the new one is done, which then replaces
        it whole (a live edit's full recompute, :mod:`~dexplorer.engine.live_edit`).

        Raises
        ------
        MemoryError
            When the cache for ``spec`` cannot be allocated; the previous run is kept.
        """
        particles, extra = self._allocate(spec)
        self.cancel()
        # The starting points are written before anyone can read step 0.
        x, generator = initial_positions(spec.n, spec.seed, self.device, spec.source)
        particles[0] = x
        if extra is not None:
            extra[0] = spec.extra
        with self._lock:
            state = CacheState(generation=self.state.generation + 1)
            # One assignment: a reader never pairs this run's arrays with another's progress.
            run = _Run(spec, particles, extra, state)
            self.hidden = run if hidden else None
            if not hidden:
                self._current = run
            self._cancel = threading.Event()
            self._thread = threading.Thread(
                target=self._run,
                args=(run, self._cancel, x, generator),
                daemon=True,
                name="dexplorer-trajectory",
            )
            self._thread.start()

    def cancel(self, wait: bool = True) -> None:
        """Stop the current run (if any) and wait for its thread to finish its step (unless
        not ``wait``: it ends by itself after that step)."""
        self._cancel.set()
        if self._thread is not None and wait:
            self._thread.join()
            self._thread = None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run is done (for tests, scripts and headless renders)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state.done

    def _allocate(self, spec: RunSpec) -> tuple[Tensor, Tensor | None]:
        """float32 when it fits in CACHE_SHARE of the free memory, else float16, else a
        MemoryError that says so (nothing is changed then)."""
        values = (spec.steps + 1) * (spec.n + (0 if spec.extra is None else len(spec.extra))) * 2
        free = available_memory(self.device)
        budget = float("inf") if free is None else CACHE_SHARE * free
        if values * 4 <= budget:
            dtype = torch.float32
        elif values * 2 <= budget:
            dtype = torch.float16
        else:
            raise MemoryError(
                f"{spec.n:,} particles x {spec.steps} steps need {values * 2 / 2**30:.1f} GiB "
                f"(in float16) on {self.device.type}; only {free / 2**30:.1f} GiB are free: "
                "choose fewer particles or steps"
            )
        try:
            particles = torch.empty((spec.steps + 1, spec.n, 2), dtype=dtype, device=self.device)
            extra = None
            if spec.extra is not None:
                shape = (spec.steps + 1, len(spec.extra), 2)
                extra = torch.empty(shape, dtype=dtype, device=self.device)
        except (
            RuntimeError,
            MemoryError,
        ) as error:  # CUDA raises OutOfMemoryError (a RuntimeError)
            gib = values * dtype.itemsize / 2**30
            raise MemoryError(
                f"{spec.n:,} particles x {spec.steps} steps need {gib:.1f} GiB on "
                f"{self.device.type}, which is not available ({error.__class__.__name__})"
            ) from None
        return particles, extra

    def _run(
        self, run: _Run, cancel: threading.Event, x: Tensor, generator: torch.Generator
    ) -> None:
        state = run.state
        start = time.perf_counter()
        try:
            self._integrate(run, cancel, x, generator)
        except Exception as error:  # shown in the UI; the app keeps running
            state.error = f"{type(error).__name__}: {error}"
        state.seconds = time.perf_counter() - start
        state.done = not cancel.is_set() and not state.error
        if self.hidden is run and state.done:
            with self._lock:
                self._current, self.hidden = run, None

    def _integrate(
        self, run: _Run, cancel: threading.Event, x: Tensor, generator: torch.Generator
    ) -> None:
        spec, particles, extra, state = run
        settings = SamplerSettings(spec.eta, spec.noise_scale, generator)
        size = (self.device, spec.n, spec.steps)
        backend = backends.choose(
            spec.field,
            spec.sampler,
            *size,
            dtype=particles.dtype,
            whole_runs=self.whole_runs,
            native=self.native,
            wait=False,  # a kernel not built yet: this run uses torch
        )
        state.skipped = backend.skipped
        state.backend = backend.name
        rows = backend.run(x, settings, particles, True)
        mesh = None
        if extra is not None:  # step by step, beside the particles (their noise interleaves)
            extra_field = spec.extra_field or spec.field
            points = (self.device, len(spec.extra), spec.steps)
            stepwise = backends.choose(
                extra_field, spec.sampler, *points, whole_runs=False, native=False
            )
            mesh = stepwise.run(spec.extra.to(self.device, torch.float32), settings, extra, True)
        finite = _FiniteCount(state, particles, extra)
        computed = 0
        with torch.inference_mode():
            for i in range(1, spec.steps + 1):
                if cancel.is_set():
                    return
                if computed < i:
                    computed, _ = next(rows)
                if mesh is not None:
                    next(mesh)
                if self.device.type == "cuda" and i % self.batch_steps:
                    continue
                if self.device.type == "cuda":
                    torch.cuda.current_stream(self.device).synchronize()
                finite.update(i)
                state.ready = i
            finite.update(spec.steps)
        state.ready = spec.steps

    def patch(self, index: Tensor, rows: Tensor) -> None:
        """Replace the trajectories of the particles ``index`` of the run shown, which must be
        complete, by ``rows`` (steps + 1, k, 2), and show them: its state becomes a new object
        (so a paused frame redraws) with the same generation (colours and measurements stay:
        the patch is the preview of a live edit, not a new run)."""
        run = self._current
        if run.particles is None or not run.state.done:
            raise RuntimeError("only a complete run can be patched")
        run.particles[:, index] = rows.to(run.particles.dtype)
        self._current = run._replace(state=dataclasses.replace(run.state))

    # --- reading ---------------------------------------------------------------------------

    @property
    def spec(self) -> RunSpec | None:
        return self._current.spec

    @property
    def particles(self) -> Tensor | None:
        return self._current.particles

    @property
    def extra(self) -> Tensor | None:
        return self._current.extra

    @property
    def state(self) -> CacheState:
        return self._current.state

    def step_position(self, t: float, run: _Run | None = None) -> tuple[int, float]:
        """The cached step at or below time t and the fraction towards the next one, clamped
        to the steps that are ready."""
        run = run or self._current
        if run.spec is None:
            raise RuntimeError("nothing computed yet: call start() first")
        s = min(max(t, 0.0), 1.0) * run.spec.steps
        i = min(math.floor(s), run.spec.steps)
        ready = run.state.ready
        if i >= ready:
            return ready, 0.0
        return i, s - i

    def interpolate(self, t: float, out: Tensor, which: str = "particles") -> Tensor:
        """Write the positions at time t (linear between cached steps) into ``out`` (n, 2),
        which may be a strided view of a renderer's array. Returns ``out``."""
        run = self._current
        cache = run.particles if which == "particles" else run.extra
        i, fraction = self.step_position(t, run)
        if fraction == 0.0:
            out.copy_(cache[i])
        elif cache.dtype == out.dtype:
            torch.lerp(cache[i], cache[i + 1], fraction, out=out)
        else:
            out.copy_(torch.lerp(cache[i].float(), cache[i + 1].float(), fraction))
        return out

    def paths(self, indices: Tensor) -> Tensor:
        """Trajectories of the chosen particles over the ready steps: (ready + 1, k, 2)."""
        run = self._current
        return run.particles[: run.state.ready + 1, indices].float()
