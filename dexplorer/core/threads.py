"""How many CPU threads torch uses: one place for the policy.

Our matrices are small (2D points through an MLP of 64 or 128 units). torch's intra-op
threads wait for each other at every operation, so with two of them a step stalls whenever
another process (or the app's own renderer) holds a core: beside one busy process a training
step is then slower than with one thread, several times over. One thread cannot collapse
that way, but on an idle machine every core trains about twice as fast.

So the app and sampling use :data:`SINGLE` thread (the renderer keeps a core), and training
outside the app lets a :class:`ThreadTuner` pick, step by step, whichever is faster now.
``benchmarks/bench_train.py --contended`` measures both on an idle and on a busy machine.
"""

from __future__ import annotations

import ctypes
import os
import statistics
import sys

import torch

SINGLE = 1
"""torch's intra-op threads in the app and for sampling."""


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


def use_cpu_threads(threads: int = SINGLE) -> None:
    """Give torch ``threads`` intra-op threads on the CPU, and share glibc's malloc arenas
    (see :data:`MALLOC_ARENAS`); every entry point calls this."""
    torch.set_num_threads(threads)
    share_malloc_arenas()


MALLOC_ARENAS = 2
"""glibc gives each new thread a malloc arena of its own (up to eight per core) and keeps
what is freed in them for reuse by that arena. The app starts a thread for every trajectory,
training run and quality measurement, so over a lesson its memory kept growing; with two
shared arenas it stays flat (``benchmarks/soak.py`` measures it)."""

_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h


def share_malloc_arenas() -> None:
    """Limit glibc's malloc to :data:`MALLOC_ARENAS` arenas for the threads started from
    now on (nothing elsewhere than glibc on Linux)."""
    if not sys.platform.startswith("linux"):
        return
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


class ThreadTuner:
    """Owns torch's thread count while a training loop runs: it times up to ``trial`` steps
    with each choice (one thread, every core) and keeps the faster for ``period`` steps,
    then tries again, so a co-runner that starts or stops midway is followed. A trial step
    three times slower than the best choice ends that choice's trial at once (two threads
    beside a busy process can take seconds a step), and while the choice stays the same the
    period doubles, up to eight times, so the trials cost little.

    Call :meth:`before` ahead of each step and :meth:`after` with its wall time; :meth:`close`
    puts back the thread count it found.
    """

    def __init__(self, trial: int = 12, period: int = 400) -> None:
        self.choices = sorted({SINGLE, cores()})
        self.trial = trial
        self.base_period = period
        self.period = period
        self.chosen = self.choices[0]
        self._previous = torch.get_num_threads()
        self._queue = list(self.choices)
        self._times: dict[int, list[float]] = {}
        self._left = 0

    def before(self) -> None:
        """Set the thread count for the next step."""
        torch.set_num_threads(self._queue[0] if self._queue else self.chosen)

    def after(self, seconds: float) -> None:
        """Record the wall time of the step just taken."""
        if not self._queue:
            self._left -= 1
            if self._left <= 0:
                self._queue, self._times = list(self.choices), {}
            return
        current = self._queue[0]
        times = self._times.setdefault(current, [])
        times.append(seconds)
        others = [statistics.median(t) for c, t in self._times.items() if c != current]
        if len(times) >= self.trial or (others and seconds > 3 * min(others)):
            self._queue.pop(0)
        if not self._queue:
            best = min(self._times, key=lambda c: statistics.median(self._times[c]))
            same = best == self.chosen
            self.period = min(2 * self.period, 8 * self.base_period) if same else self.base_period
            self.chosen, self._left = best, self.period

    def close(self) -> None:
        torch.set_num_threads(self._previous)
