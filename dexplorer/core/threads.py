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

import os
import statistics

import torch

SINGLE = 1
"""torch's intra-op threads in the app and for sampling."""


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


def use_cpu_threads(threads: int = SINGLE) -> None:
    """Give torch ``threads`` intra-op threads on the CPU (every entry point calls this)."""
    torch.set_num_threads(threads)


class ThreadTuner:
    """Owns torch's thread count while a training loop runs: it times ``trial`` steps with
    each choice (one thread, every core), keeps the faster for ``period`` steps, then tries
    again, so a co-runner that starts or stops midway is followed within a period.

    Call :meth:`before` ahead of each step and :meth:`after` with its wall time; :meth:`close`
    puts back the thread count it found.
    """

    def __init__(self, trial: int = 12, period: int = 400) -> None:
        self.choices = sorted({SINGLE, cores()})
        self.trial = trial
        self.period = period
        self.chosen = self.choices[0]
        self._previous = torch.get_num_threads()
        self._times: dict[int, list[float]] = {}
        self._steps = 0

    def before(self) -> None:
        """Set the thread count for the next step."""
        torch.set_num_threads(self._current())

    def after(self, seconds: float) -> None:
        """Record the wall time of the step just taken."""
        current = self._current()
        in_trial = self._steps % (self.period + self.trial * len(self.choices))
        if in_trial < self.trial * len(self.choices):
            self._times.setdefault(current, []).append(seconds)
            if in_trial == self.trial * len(self.choices) - 1:
                self.chosen = min(self._times, key=lambda c: statistics.median(self._times[c]))
                self._times.clear()
        self._steps += 1

    def close(self) -> None:
        torch.set_num_threads(self._previous)

    def _current(self) -> int:
        """The count for the step about to be taken: each choice in turn during a trial."""
        in_trial = self._steps % (self.period + self.trial * len(self.choices))
        if in_trial < self.trial * len(self.choices):
            return self.choices[in_trial // self.trial]
        return self.chosen
