"""The trajectory cache: every particle's position at every step, filled by a background
thread while the renderer shows what is ready; when that does not fit in memory, keyframes
and a ring of steps that follows the time shown (:mod:`~dexplorer.engine.ring`)."""

from __future__ import annotations

import atexit
import dataclasses
import math
import os
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
from ..core.straightness import adds_noise
from . import backends
from .devices import available_memory
from .ring import Layout, Ring, bounded_layout, smallest_bytes

CACHE_SHARE = 0.6
"""A trajectory cache may take at most this share of the free memory (less than a one-shot
request may, :data:`dexplorer.core.limits.MEMORY_SHARE`: the app holds other things beside it)."""
BUDGET_VARIABLE = "DEXPLORER_CACHE_BYTES"
"""An environment variable that sets the bytes a cache may take instead (tests use a small
budget to run bounded caches with few particles)."""
STEP_SNAP = 1e-9
"""A time within this many steps of a step is that step: k / steps * steps is not always k
in floating point, and a step key or a video frame would otherwise show the step before."""


def cache_budget(device: torch.device, released: int = 0) -> float:
    """The bytes a trajectory cache may take on ``device``: :data:`CACHE_SHARE` of the free
    memory with the ``released`` bytes of the run it replaces (on CUDA with what torch
    holds cached but unused, and no more than is free beside the run it replaces),
    unbounded where the free memory is unknown; or :data:`BUDGET_VARIABLE`'s.

    Raises
    ------
    ValueError
        When the variable is set to something else than a number of bytes.
    """
    value = os.environ.get(BUDGET_VARIABLE, "")
    if value:
        try:
            return float(int(value))
        except ValueError:
            problem = f"{BUDGET_VARIABLE} must be a number of bytes, got {value!r}"
            raise ValueError(problem) from None
    free = available_memory(device)
    if free is None:
        return float("inf")
    if device.type != "cuda":
        return CACHE_SHARE * (free + released)
    free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    # The new run is allocated before the old one is let go: beside it, on a GPU.
    return min(CACHE_SHARE * (free + released), float(free))


_LIVE: weakref.WeakSet[TrajectoryCache] = weakref.WeakSet()


@atexit.register
def _cancel_all() -> None:
    """Stop running workers before the interpreter tears torch down under them."""
    for cache in list(_LIVE):
        cache.cancel()


def _size(size: float) -> str:
    """Bytes in GiB, or MiB below one GiB."""
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


class _Run(NamedTuple):
    """One run's spec, arrays and progress, swapped in as a whole."""

    spec: RunSpec | None
    particles: Tensor | None
    extra: Tensor | None
    state: CacheState
    ring: Ring | None = None
    """The keyframes and ring of a bounded run (``particles`` is then ``None``)."""

    @property
    def bytes(self) -> int:
        """The bytes its arrays hold (a bounded run's layout counts its extra points)."""
        if self.ring is not None:
            return self.ring.layout.bytes
        arrays = (self.particles, self.extra)
        return sum(array.nbytes for array in arrays if array is not None)


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
    the steps become ready; the counts go to the run's state before its ``ready`` does.
    ``particles`` and ``extra`` are the run's arrays (their second dimension counts)."""

    def __init__(self, state: CacheState, particles: Tensor, extra: Tensor | None) -> None:
        self.state = state
        self.arrays = [a for a in (particles, extra) if a is not None]
        self.finite = [
            torch.ones(a.shape[1], dtype=torch.bool, device=a.device) for a in self.arrays
        ]
        self.checked = 0

    @property
    def finite_particles(self) -> Tensor:
        return self.finite[0]

    def update(self, ready: int) -> None:
        """Check the rows of the arrays after the last check up to ``ready``."""
        self.add(*(array[self.checked + 1 : ready + 1] for array in self.arrays))
        self.checked = ready

    def add(self, rows: Tensor, extra: Tensor | None = None) -> None:
        """Check the next rows of the particles (and of the extra points)."""
        counts = []
        for block, finite in zip((rows, extra), self.finite, strict=False):
            finite &= finite_particles(block)
            counts.append(int(len(finite) - finite.sum()))
        self.state.nonfinite = counts[0]
        self.state.nonfinite_extra = counts[1] if len(counts) > 1 else 0

    def ready(self, step: int) -> None:
        """The rows up to ``step`` are checked: they are ready."""
        self.state.ready = step


class TrajectoryCache:
    """Owns the trajectory tensors ([steps + 1, n, 2] for particles and for extra points) on
    the torch device, and the worker thread that fills them step by step.

    :meth:`start` cancels any run in progress and begins a new one; the render loop never
    waits: :meth:`interpolate` reads whatever steps are ready. A run whose particles do not
    fit in memory is *bounded*: it keeps keyframes and a ring of steps
    (:class:`~dexplorer.engine.ring.Ring`) that the worker moves to the time shown,
    recomputing the steps it does not hold; the extra points are kept whole.
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
        self._passed = threading.Event()
        self._passed.set()
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
        replaced = self.hidden if hidden else self._current
        particles, extra, ring = self._allocate(spec, 0 if replaced is None else replaced.bytes)
        self.cancel()
        # The starting points are written before anyone can read step 0.
        x, generator = initial_positions(spec.n, spec.seed, self.device, spec.source)
        (ring.keyframes if particles is None else particles)[0] = x
        if extra is not None:
            extra[0] = spec.extra
        with self._lock:
            state = CacheState(generation=self.state.generation + 1)
            # One assignment: a reader never pairs this run's arrays with another's progress.
            run = _Run(spec, particles, extra, state, ring)
            self._passed = threading.Event()
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
        for run in (self._current, self.hidden):
            if run is not None and run.ring is not None:
                run.ring.wake()
        if self._thread is not None and wait:
            self._thread.join()
            self._thread = None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run is done (for tests, scripts and headless renders);
        a bounded run's worker stays on after, to move its ring."""
        self._passed.wait(timeout)
        return self.state.done

    def _allocate(
        self, spec: RunSpec, released: int
    ) -> tuple[Tensor | None, Tensor | None, Ring | None]:
        """The whole trajectory in float32 when it fits in :func:`cache_budget` (with the
        ``released`` bytes of the run it replaces), else in float16, else a bounded run's
        :class:`~dexplorer.engine.ring.Ring` (with the extra points whole, in float32), else
        a MemoryError that says so (nothing is changed then)."""
        points = 0 if spec.extra is None else len(spec.extra)
        values = (spec.steps + 1) * (spec.n + points) * 2
        budget = cache_budget(self.device, released)
        layout = None
        if values * 4 <= budget:
            dtype = torch.float32
        elif values * 2 <= budget:
            dtype = torch.float16
        else:
            dtype = torch.float32
            layout = bounded_layout(spec.n, spec.steps, points, budget)
            if layout is None:
                least = smallest_bytes(spec.n, spec.steps, points)
                raise MemoryError(
                    f"{spec.n:,} particles x {spec.steps} steps need {_size(least)} on "
                    f"{self.device.type} even keeping only keyframes and a ring of steps; "
                    f"the cache may take {_size(budget)}: choose fewer particles or steps"
                )
        try:
            extra = None
            if spec.extra is not None:
                shape = (spec.steps + 1, points, 2)
                extra = torch.empty(shape, dtype=dtype, device=self.device)
            if layout is not None:
                return None, extra, Ring(layout, self.device)
            particles = torch.empty((spec.steps + 1, spec.n, 2), dtype=dtype, device=self.device)
        except (
            RuntimeError,
            MemoryError,
        ) as error:  # CUDA raises OutOfMemoryError (a RuntimeError)
            need = values * dtype.itemsize if layout is None else layout.bytes
            raise MemoryError(
                f"{spec.n:,} particles x {spec.steps} steps need {_size(need)} on "
                f"{self.device.type}, which is not available ({error.__class__.__name__})"
            ) from None
        return particles, extra, None

    def _run(
        self, run: _Run, cancel: threading.Event, x: Tensor, generator: torch.Generator
    ) -> None:
        state = run.state
        start = time.perf_counter()
        passed = self._passed
        try:
            self._integrate(run, cancel, x, generator)
        except Exception as error:  # shown in the UI; the app keeps running
            state.error = f"{type(error).__name__}: {error}"
        state.seconds = time.perf_counter() - start
        state.done = not cancel.is_set() and not state.error
        if self.hidden is run and state.done:
            with self._lock:
                self._current, self.hidden = run, None
        passed.set()
        if run.ring is None:
            return
        try:
            if state.done:
                run.ring.serve(cancel)
        except Exception as error:  # shown in the UI; the app keeps running
            state.error = f"{type(error).__name__}: {error}"
        finally:
            run.ring.close()

    def _integrate(
        self, run: _Run, cancel: threading.Event, x: Tensor, generator: torch.Generator
    ) -> None:
        spec, particles, extra, state, ring = run
        settings = SamplerSettings(spec.eta, spec.noise_scale, generator)
        size = (self.device, spec.n, spec.steps)
        backend = backends.choose(
            spec.field,
            spec.sampler,
            *size,
            dtype=torch.float32 if particles is None else particles.dtype,
            whole_runs=self.whole_runs,
            native=self.native,
            wait=False,  # a kernel not built yet: this run uses torch
        )
        state.skipped = backend.skipped
        state.backend = backend.name
        stepwise = None
        if extra is not None:  # step by step, beside the particles (their noise interleaves)
            extra_field = spec.extra_field or spec.field
            points = (self.device, len(spec.extra), spec.steps)
            stepwise = backends.choose(
                extra_field, spec.sampler, *points, whole_runs=False, native=False
            )
        if ring is not None:
            progress = _FiniteCount(state, ring.keyframes, extra)
            noisy = adds_noise(spec.sampler, spec.eta, spec.noise_scale)
            ring.first_pass(backend, stepwise, settings, extra, progress, cancel, noisy)
            return
        rows = backend.run(x, settings, particles, True)
        mesh = None
        if stepwise is not None:
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
            raise RuntimeError("only a complete run kept whole can be patched")
        run.particles[:, index] = rows.to(run.particles.dtype)
        self._current = run._replace(state=dataclasses.replace(run.state))

    # --- reading ---------------------------------------------------------------------------

    @property
    def spec(self) -> RunSpec | None:
        return self._current.spec

    @property
    def particles(self) -> Tensor | None:
        """The whole trajectory of the particles (``None`` before a run, and for a bounded
        run: read it with :meth:`row`, :meth:`interpolate` and :meth:`paths`)."""
        return self._current.particles

    @property
    def layout(self) -> Layout | None:
        """What a bounded run keeps (``None`` for a run kept whole)."""
        ring = self._current.ring
        return None if ring is None else ring.layout

    @property
    def recomputing(self) -> int | None:
        """The step a bounded run is recomputing from to reach the step asked for
        (``None`` when it holds it)."""
        ring = self._current.ring
        return None if ring is None else ring.recomputing

    @property
    def bounded_straightness(self) -> tuple[float, int] | None:
        """A done bounded run's straightness and the particles measured (summed as its
        steps were computed; ``None`` when no particle stayed finite)."""
        return self._current.ring.straightness

    @property
    def traced(self) -> int:
        """How many particles :meth:`paths` can give: all of them, or a bounded run's
        first ones."""
        run = self._current
        return run.ring.layout.traced if run.ring is not None else run.spec.n

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
        if abs(s - round(s)) < STEP_SNAP:  # (k / steps) * steps may fall just below k
            s = float(round(s))
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
        if run.ring is not None and which == "particles":
            return run.ring.show(i, fraction, out)
        if fraction == 0.0:
            out.copy_(cache[i])
        elif cache.dtype == out.dtype:
            torch.lerp(cache[i], cache[i + 1], fraction, out=out)
        else:
            out.copy_(torch.lerp(cache[i].float(), cache[i + 1].float(), fraction))
        return out

    def shown_position(self, t: float) -> tuple[int, float]:
        """The step and fraction :meth:`interpolate` shows for time t: those of
        :meth:`step_position`, or a bounded run's nearest step held while it recomputes."""
        run = self._current
        position = self.step_position(t, run)
        return position if run.ring is None else run.ring.shown(*position)

    def hold(self, t: float) -> None:
        """Block until :meth:`interpolate` shows time t as asked (a bounded run recomputes
        it; headless renders and videos)."""
        run = self._current
        if run.ring is not None:
            run.ring.hold(*self.step_position(t, run))

    def row(self, step: int) -> Tensor | None:
        """A float32 copy of the particles' positions at ``step`` (ready), or ``None`` while
        a bounded run does not hold it (the first and last steps it always holds)."""
        run = self._current
        if run.ring is not None:
            return run.ring.row(step)
        return run.particles[step].to(torch.float32, copy=True)

    def paths(self, indices: Tensor) -> Tensor:
        """Trajectories of the chosen particles (below :attr:`traced`) over the ready
        steps: (ready + 1, k, 2)."""
        run = self._current
        whole = run.particles if run.ring is None else run.ring.traced
        return whole[: run.state.ready + 1, indices].float()
