"""Start-up moments for benchmarks: with ``DEXPLORER_TIMINGS=path`` in the environment, the
app appends a line "<moment> <unix time>" to that file the first time each moment happens
(``first_frame``: the first frame drawn; ``loaded``: torch and the engine, loaded after it,
taken by the app; ``trajectory``: the first frame drawn with every run's trajectories
complete). ``benchmarks/bench_startup.py`` reads them."""

from __future__ import annotations

import os
import time

VARIABLE = "DEXPLORER_TIMINGS"


class Timings:
    """Owns the file the moments go to (none when the variable is not set) and which
    moments were written."""

    def __init__(self, path: str | None = None) -> None:
        self.path = os.environ.get(VARIABLE, "") if path is None else path
        self.written: set[str] = set()

    def note(self, moment: str) -> None:
        """Write ``moment`` with the time now, once."""
        if not self.path or moment in self.written:
            return
        self.written.add(moment)
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(f"{moment} {time.time():.6f}\n")
