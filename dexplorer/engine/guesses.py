"""The denoiser's guesses of one simulation's particles at the time shown: computed in a
background thread at the cached steps around that time (each step once, kept while memory
allows) and interpolated between them as the positions are, so that a frame never waits for
them and a run played again costs nothing."""

from __future__ import annotations

import atexit
import threading
import weakref
from collections import OrderedDict

import torch
from torch import Tensor

from ..core.fields import Field
from ..core.guesses import guesses
from .backends import with_chunks
from .buffers import SharedArray
from .trajectory import TrajectoryCache

CACHE_BYTES = 64 << 20
"""The guesses of at most this many bytes of steps are kept (the steps used longest ago go
first)."""

_LIVE: weakref.WeakSet[Guesses] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Let the threads finish before the interpreter tears torch down under them."""
    for made in list(_LIVE):
        made.close()


class Guesses:
    """Owns the (n, 2) array of the guesses x1_hat the renderer draws, the guesses of the
    cached steps of one run, and the thread that computes the steps asked for.

    :meth:`show` writes the guesses at a time into the array when the steps around it are
    computed, else asks the thread for them (and keeps what the array holds). Guesses
    that are not finite (of finite particles) are counted in ``nonfinite`` and are NaN,
    which is not drawn; a model that fails leaves none and says why in ``problem``.
    """

    def __init__(self, n: int, device: torch.device) -> None:
        self.array = SharedArray((n, 2), device)
        self.array.target.fill_(float("nan"))
        self.shown: object = None
        """The key of the guesses in the array (``None``: none yet)."""
        self.nonfinite = 0
        self.problem = ""
        self._run: object = None
        self._field: Field | None = None
        self._steps: OrderedDict[int, tuple[Tensor, Tensor]] = OrderedDict()
        self._keep = max(2, CACHE_BYTES // (8 * n))
        self._pending: list[tuple[int, Tensor, float]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        _LIVE.add(self)

    def show(self, run: object, field: Field, cache: TrajectoryCache, t: float) -> bool:
        """Bring the array to the guesses of ``cache``'s particles at time t (``run`` names
        the run: another one forgets the steps computed); whether the array changed."""
        if run != self._run:  # nothing of another run is shown
            with self._lock:
                self._run, self._field = run, with_chunks(field)
                self._steps.clear()
                self._pending = []
            self.array.target.fill_(float("nan"))
            self.array.publish()
            self.array.sync()
            self.shown, self.nonfinite, self.problem = None, 0, ""
        step, fraction = cache.step_position(t)
        key = (run, step, fraction)
        if key == self.shown:
            return False
        wanted = [step, step + 1] if fraction else [step]
        with self._lock:
            found = [self._steps.get(k) for k in wanted]
            for k in wanted:
                if k in self._steps:
                    self._steps.move_to_end(k)
        if any(item is None for item in found):
            self._ask(cache, [k for k, item in zip(wanted, found, strict=True) if item is None])
            return False
        self._write(found, fraction)
        self.shown = key
        return True

    def _write(self, found: list[tuple[Tensor, Tensor]], fraction: float) -> None:
        target = self.array.target
        if len(found) == 1:
            target.copy_(found[0][0])
        else:  # a guess that is NaN at either step stays NaN
            torch.lerp(found[0][0], found[1][0], fraction, out=target)
        lost = found[0][1] if len(found) == 1 else found[0][1] | found[1][1]
        self.nonfinite = int(lost.sum())
        self.array.publish()
        self.array.sync()

    def _ask(self, cache: TrajectoryCache, steps: list[int]) -> None:
        """Have the thread compute ``steps`` of the cached particles (replacing what it
        was asked before and has not started)."""
        total = cache.spec.steps
        rows = [cache.row(k) for k in steps]
        if any(row is None for row in rows):
            return  # a bounded run brings the steps back; asked again at the next frame
        jobs = [(k, row, k / total) for k, row in zip(steps, rows, strict=True)]
        with self._lock:
            self._pending = jobs
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, daemon=True, name="dexplorer-guesses"
                )
                self._thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
                step, x, t = self._pending.pop(0)
                run, field = self._run, self._field
            guessed, lost, problem = _compute(field, x, t)
            with self._lock:
                if run != self._run:
                    continue
                self.problem = problem
                self._steps[step] = (guessed, lost)
                while len(self._steps) > self._keep:
                    self._steps.popitem(last=False)

    def wait(self) -> None:
        """Block until the steps asked for are computed (headless renders, tests)."""
        while True:
            thread = self._thread
            if thread is None:
                return
            thread.join()

    def close(self) -> None:
        """Drop what is pending and wait for the step under way."""
        with self._lock:
            self._pending = []
        self.wait()


def _compute(field: Field, x: Tensor, t: float) -> tuple[Tensor, Tensor, str]:
    """The guesses of ``x`` at t with NaN where they are not finite, which of those are
    guesses of finite particles, and what failed ('' if nothing)."""
    with torch.inference_mode():
        try:
            guessed = guesses(field, x, t)
        except Exception as error:  # said in the notice; the app keeps running
            nan = torch.full(x.shape, float("nan"), device=x.device)
            none = torch.zeros(len(x), dtype=torch.bool, device=x.device)
            return nan, none, f"no guesses: {type(error).__name__}: {error}"
        finite = torch.isfinite(guessed).all(1)
        lost = ~finite & torch.isfinite(x).all(1)
        return torch.where(finite[:, None], guessed, float("nan")), lost, ""
