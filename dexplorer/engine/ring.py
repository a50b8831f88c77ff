"""A bounded trajectory: what a run keeps of its particles' steps when they do not all fit
(see :class:`~dexplorer.engine.trajectory.TrajectoryCache`), and how it brings back the
steps the time bar asks for.

A first pass computes every step once, keeping the positions at a keyframe every ``every``
steps (and at the last step), the generator's state there (so that a stochastic sampler's
noise comes again the same), the whole paths of the first ``traced`` particles, the sums
that give the straightness, and a ring of the latest ``ring`` steps. Afterwards the same
thread keeps the ring around the step shown: playing forward computes on into the ring,
and a step not held is recomputed from the keyframe before it. Every part of a run is
computed over the same ranges of steps, so recomputed steps are those of the first pass
bit for bit (a kernel reads the network's weights for the steps of each call).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from ..core.samplers import SamplerSettings
from .backends import TRITON_SPAN, Backend

TRACED = 1024
"""Particles whose whole paths a bounded run keeps, at most (and at most a 32nd of its
particles): the first ones, a random sample since the particles are independent draws."""
SPARE_ROWS = TRITON_SPAN + 1 + 4
"""Rows of float32 positions counted beyond the ring and keyframes: the Triton kernel's
part (one more row than its steps) and the float64 temporaries of the straightness sums."""
STRAIGHTNESS_BYTES = 24
"""Bytes per particle of the straightness sums (three float64)."""


@dataclass(frozen=True)
class Layout:
    """How a bounded run of ``steps`` steps of ``n`` particles (and ``extra`` mesh points,
    kept whole) is kept: a keyframe every ``every`` steps and at the last step, a ring of
    ``ring`` steps (a multiple of ``every``), the paths of the first ``traced`` particles."""

    n: int
    steps: int
    extra: int
    every: int
    ring: int

    @property
    def traced(self) -> int:
        return traced(self.n)

    @property
    def keyframes(self) -> list[int]:
        """The steps kept as keyframes."""
        steps = list(range(0, self.steps + 1, self.every))
        return steps if steps[-1] == self.steps else [*steps, self.steps]

    @property
    def bytes(self) -> int:
        return _bytes(self.n, self.steps, self.extra, self.every, self.ring)


def traced(n: int) -> int:
    """How many of ``n`` particles a bounded run traces (see :data:`TRACED`)."""
    return min(TRACED, -(-n // 32))


def _bytes(n: int, steps: int, extra: int, every: int, ring: int) -> int:
    keyframes = -(-steps // every) + 1
    rows = (keyframes + ring + SPARE_ROWS) * n * 8
    whole = (steps + 1) * (traced(n) + extra) * 8
    return rows + whole + n * (STRAIGHTNESS_BYTES + 1)


def bounded_layout(n: int, steps: int, extra: int, budget: float) -> Layout | None:
    """The layout that fits ``budget`` bytes with keyframes closest together (the shortest
    recomputation of a backward scrub) and a ring of at least two keyframe intervals, the
    ring then as long as the budget allows; ``None`` when none fits."""
    for every in range(1, steps + 1):
        if _bytes(n, steps, extra, every, 2 * every) <= budget:
            room = (budget - _bytes(n, steps, extra, every, 0)) // (n * 8)
            ring = min(room, steps + every) // every * every
            return Layout(n, steps, extra, every, int(ring))
    return None


def smallest_bytes(n: int, steps: int, extra: int) -> int:
    """The least memory a bounded run takes (for the message when even that does not fit)."""
    return min(_bytes(n, steps, extra, every, 2 * every) for every in range(1, steps + 1))


class Progress(Protocol):
    """Where a first pass reports what it computed (the cache's finite count and state)."""

    finite_particles: Tensor
    """Which particles stayed finite at every step checked."""

    def add(self, rows: Tensor, extra: Tensor | None) -> None:
        """Check the particles' (and extra points') next steps for non-finite positions."""

    def ready(self, step: int) -> None:
        """The steps up to ``step`` are computed and checked."""


class StraightnessSums:
    """The sums that give a run's straightness
    (:func:`~dexplorer.core.straightness.straightness`) without its steps: per particle,
    over the inner steps k with t_k = k / K, A = sum |x_k - (1 - t_k) x_0|^2 and
    B = sum t_k (x_k - (1 - t_k) x_0), so that its squared gaps to the chord sum to
    A - 2 B.x_1 + C |x_1|^2 with C = sum t_k^2 (in float64)."""

    def __init__(self, x0: Tensor, steps: int) -> None:
        self.x0 = x0
        self.steps = steps
        self.a = torch.zeros(len(x0), dtype=torch.float64, device=x0.device)
        self.b = torch.zeros((len(x0), 2), dtype=torch.float64, device=x0.device)
        self.c = sum((k / steps) ** 2 for k in range(1, steps))

    def add(self, rows: Tensor, first: int) -> None:
        """Add ``rows``, the positions at steps ``first``, ``first + 1``, ..."""
        for k, row in enumerate(rows, start=first):
            if 0 < k < self.steps:
                t = k / self.steps
                gap = row.double().sub_(self.x0, alpha=1 - t)
                self.a += gap.square().sum(1)
                self.b.add_(gap, alpha=t)

    def result(self, final: Tensor, finite: Tensor) -> tuple[float, int] | None:
        """(the straightness, the particles measured) of the ``finite`` particles ending at
        ``final``; ``None`` when none is finite."""
        count = int(finite.sum())
        if not count:
            return None
        x1 = final.double()
        gaps = self.a - 2 * (self.b * x1).sum(1) + self.c * x1.square().sum(1)
        total = float(torch.where(finite, gaps, 0.0).sum())
        return (max(total, 0.0) / (count * self.steps) if self.steps > 1 else 0.0), count


class Ring:
    """Owns a bounded run's tensors (keyframes, the generator's states there, the ring, the
    traced paths), its straightness summed in the first pass, and which steps the ring
    holds; computes them in the cache's worker thread (:meth:`first_pass`, then
    :meth:`serve`) and reads them in the render thread (:meth:`show`). A lock guards which
    steps are held: a reader copies a step under it, and the worker gives a step up under
    it before writing over it."""

    def __init__(self, layout: Layout, device: torch.device) -> None:
        self.layout = layout
        n, steps = layout.n, layout.steps
        self.keyframes = torch.empty((len(layout.keyframes), n, 2), device=device)
        self.ring = torch.empty((layout.ring, n, 2), device=device)
        self.traced = torch.empty((steps + 1, layout.traced, 2), device=device)
        self.states: dict[int, Tensor] = {}
        self.straightness: tuple[float, int] | None = None
        """(straightness, particles measured) once the first pass is done (``None``
        before, and when no particle stayed finite)."""
        self.recomputing: int | None = None
        """The step a recomputation of a step asked for began from (``None``: none)."""
        self.lo, self.hi = 1, 0
        """The steps the ring holds: lo to hi (none when lo > hi)."""
        self.front = 0
        """The last step computed; the generator is in its state after it."""
        self.keyed = 0
        """The keyframes up to this step are written."""
        self.want = (0, 0.0)
        """The step and fraction last asked for."""
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._span = 1
        self._backend: Backend | None = None
        self._mesh: Backend | None = None
        self._settings: SamplerSettings | None = None
        self._extra: Tensor | None = None
        self._closed = False
        self._noisy = False

    # --- computing (the worker thread) -----------------------------------------------------

    def first_pass(
        self,
        backend: Backend,
        mesh: Backend | None,
        settings: SamplerSettings,
        extra: Tensor | None,
        progress: Progress,
        cancel: threading.Event,
        noisy: bool,
    ) -> bool:
        """Compute every step from keyframe 0 (written before), keeping what the layout
        says; ``progress`` is told of each part computed; ``noisy``: the sampler draws
        noise (the mesh's steps, which draw theirs after the particles', are then
        recomputed with them). Whether it went to the end."""
        every = self.layout.every
        self._span = max(d for d in range(1, every + 1) if every % d == 0 and d <= backend.span)
        self._backend, self._mesh, self._settings, self._extra = backend, mesh, settings, extra
        self._noisy = noisy
        self.traced[0] = self.keyframes[0, : self.layout.traced]
        if settings.generator is not None:
            self.states[0] = settings.generator.get_state()
        sums = StraightnessSums(self.keyframes[0], self.layout.steps)
        step = 0
        while step < self.layout.steps:
            if cancel.is_set():
                return False
            step = self._part(step, first=True, sums=sums, progress=progress)
        self.straightness = sums.result(self.keyframes[-1], progress.finite_particles)
        return True

    def serve(self, cancel: threading.Event) -> None:
        """Keep the ring around the step asked for until ``cancel`` is set."""
        generator = self._settings.generator
        while not cancel.is_set():
            self._wake.clear()
            if cancel.is_set():  # set before the wake that the clear may have undone
                return
            with self._lock:
                plan = self._plan()
            if plan is None:
                self._wake.wait()
                continue
            start, restart = plan
            if restart:
                if start in self.states and generator is not None:
                    generator.set_state(self.states[start])
                with self._lock:
                    self.lo, self.hi, self.front, self.recomputing = start + 1, start, start, start
            self._part(start, first=False)

    def wake(self) -> None:
        """Have :meth:`serve` look again (a new step asked for, or the run cancelled)."""
        self._wake.set()

    def _plan(self) -> tuple[int, bool] | None:
        """Where to compute from next (and whether that is a restart from a keyframe), or
        ``None`` when the ring holds what is asked for and needs not move on."""
        step, fraction = self.want
        layout = self.layout
        needed = [step, step + 1] if fraction and step < layout.steps else [step]
        missing = [k for k in needed if self._row(k) is None]
        if missing:
            first = missing[0]
            keyframe = (first - 1) // layout.every * layout.every
            if keyframe <= self.front < first:
                if self.recomputing is None:
                    self.recomputing = self.front
                return self.front, False
            return keyframe, True
        self.recomputing = None
        ahead = min(self.front + self._span, layout.steps)
        behind = max(1, layout.ring // 4)
        around = self.lo <= step <= self.hi == self.front < layout.steps
        if around and ahead - layout.ring + 1 <= step - behind:  # step stays, with some behind
            return self.front, False
        return None

    def _part(
        self,
        start: int,
        first: bool,
        sums: StraightnessSums | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Compute the steps after ``start`` (the front) to the end of its part into the
        ring; returns the last step computed."""
        layout = self.layout
        stop = min(start + self._span, layout.steps)
        slot = start % layout.ring  # step k lives in slot (k - 1) % ring
        rows = self.ring[slot : slot + stop - start]
        with self._lock:
            x = self._row(start)
            self.lo = max(self.lo, stop - layout.ring + 1)  # the slots written over
        self._backend.advance(x, self._settings, start, rows)
        if self._mesh is not None and (first or self._noisy):
            extra = self._extra
            out = extra[start + 1 : stop + 1] if first else torch.empty_like(extra[start:stop])
            self._mesh.advance(extra[start], self._settings, start, out)  # the same noise
        if rows.device.type == "cuda":
            torch.cuda.current_stream(rows.device).synchronize()
        if first:
            self.traced[start + 1 : stop + 1] = rows[:, : layout.traced]
            sums.add(rows, start + 1)
            for k in range(start + 1, stop + 1):
                if k % layout.every == 0 or k == layout.steps:
                    self.keyframes[layout.keyframes.index(k)] = rows[k - start - 1]
            if stop % layout.every == 0 and self._settings.generator is not None:
                self.states[stop] = self._settings.generator.get_state()
            progress.add(rows, None if self._extra is None else self._extra[start + 1 : stop + 1])
        with self._lock:
            self.hi = self.front = stop
            if first:
                self.keyed = stop
            self._changed.notify_all()
        if first:
            progress.ready(stop)
        return stop

    # --- reading (any thread) --------------------------------------------------------------

    def _row(self, step: int) -> Tensor | None:
        """The positions at ``step`` if held (call under the lock)."""
        if self.lo <= step <= self.hi:
            return self.ring[(step - 1) % self.layout.ring]
        if step <= self.keyed and (step % self.layout.every == 0 or step == self.layout.steps):
            return self.keyframes[self.layout.keyframes.index(step)]
        return None

    def _shown(self, step: int, fraction: float) -> tuple[int, float]:
        """The step and fraction shown for those asked: themselves when held, else the
        nearest step held (call under the lock)."""
        if self._row(step) is not None and (not fraction or self._row(step + 1) is not None):
            return step, fraction
        where = step + fraction
        every = self.layout.every
        candidates = [min(round(where / every) * every, self.keyed // every * every)]
        if self.keyed == self.layout.steps:
            candidates.append(self.layout.steps)
        if self.lo <= self.hi:
            candidates.append(min(max(round(where), self.lo), self.hi))
        return min(candidates, key=lambda k: abs(k - where)), 0.0

    def ask(self, step: int, fraction: float) -> None:
        """Ask for the positions at ``step`` + ``fraction`` (the ring moves there)."""
        with self._lock:
            changed = (step, fraction) != self.want
            self.want = (step, fraction)
        if changed:
            self._wake.set()

    def shown(self, step: int, fraction: float) -> tuple[int, float]:
        """What :meth:`show` would show for ``step`` + ``fraction`` now."""
        with self._lock:
            return self._shown(step, fraction)

    def show(self, step: int, fraction: float, out: Tensor) -> Tensor:
        """Ask for ``step`` + ``fraction`` and write the positions shown for it into
        ``out``: those asked when held, else the nearest step held (never positions of
        another time as if they were these)."""
        self.ask(step, fraction)
        with self._lock:
            step, fraction = self._shown(step, fraction)
            if fraction:
                torch.lerp(self._row(step), self._row(step + 1), fraction, out=out)
            else:
                out.copy_(self._row(step))
        return out

    def row(self, step: int) -> Tensor | None:
        """A copy of the positions at ``step`` if held, else ``None``."""
        with self._lock:
            row = self._row(step)
            return None if row is None else row.clone()

    def hold(self, step: int, fraction: float) -> None:
        """Block until ``step`` + ``fraction`` is shown as asked (or the worker stopped)."""
        self.ask(step, fraction)
        with self._changed:
            while self._shown(step, fraction) != (step, fraction) and not self._closed:
                self._changed.wait()

    def close(self) -> None:
        """The worker stopped: nothing more will be computed (a wait ends)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def held(self) -> int:
        """How many steps the ring holds."""
        return max(0, self.hi - self.lo + 1)
