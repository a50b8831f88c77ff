"""How long the trajectories being computed will take: the steps done over the last seconds,
measured, not guessed from the particle count (a busy core, a kernel loaded part way, the
exact field's cost growing with the data all show in the measurement)."""

from __future__ import annotations

from collections import deque

WINDOW = 20.0
"""Seconds of progress the rate is measured over (the latest)."""
LEAST = 2.0
"""Seconds of progress measured before the time left is said."""


class Pace:
    """Owns the recent moments of progress (time, steps done) of the steps wanted now; a new
    number wanted, or fewer done than before (another run), starts over."""

    def __init__(self) -> None:
        self._moments: deque[tuple[float, int]] = deque()
        self._wanted = -1
        self._now = 0.0

    def update(self, done: int, wanted: int, now: float) -> None:
        """Note that ``done`` of ``wanted`` steps were computed at ``now`` (seconds)."""
        last = self._moments[-1][1] if self._moments else 0
        if wanted != self._wanted or done < last:
            self._moments.clear()
            self._wanted = wanted
        if not self._moments or done != last:
            self._moments.append((now, done))
        while len(self._moments) > 2 and now - self._moments[1][0] > WINDOW:
            self._moments.popleft()
        self._now = now

    def seconds_left(self) -> float | None:
        """The seconds the steps not done will take at the rate measured, or ``None`` before
        :data:`LEAST` seconds and one step were measured (or when all are done)."""
        if len(self._moments) < 2:
            return None
        (start, first), (_, done) = self._moments[0], self._moments[-1]
        elapsed = self._now - start
        if done >= self._wanted or elapsed < LEAST:
            return None
        return (self._wanted - done) * elapsed / (done - first)
