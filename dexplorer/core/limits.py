"""The ranges of the numbers a user gives (the same rule for an option wherever it is taken)
and the memory budget a request is checked against before anything is allocated."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from .datasets import MAX_CLASSES

MAX_STEPS = 1000
MAX_PARTICLES = 10_000_000
MEMORY_SHARE = 0.8  # of the memory available when a request is checked


class LimitError(ValueError):
    """A number out of its range, or a request that would not fit in memory."""


@dataclass(frozen=True)
class Range:
    """The values one kind of number may take: integers or finite floats from ``low`` to
    ``high``, ``low`` itself excluded when ``open_low``."""

    low: float
    high: float
    integer: bool = False
    open_low: bool = False

    def describe(self) -> str:
        """The rule in words, e.g. 'an integer from 1 to 1,000'."""
        kind = "an integer" if self.integer else "a number"
        if self.open_low:
            return f"{kind} above {_number(self.low)} and at most {_number(self.high)}"
        return f"{kind} from {_number(self.low)} to {_number(self.high)}"

    def contains(self, value: float) -> bool:
        if not math.isfinite(value) or value > self.high:
            return False
        return value > self.low if self.open_low else value >= self.low

    def parse(self, text: str, name: str = "") -> int | float:
        """``text`` as a number of this range (``name`` starts the message, when given).

        Raises
        ------
        LimitError
            Saying what was expected, for text that is not such a number or one outside.
        """
        try:
            value: int | float = int(text) if self.integer else float(text)
        except ValueError:
            value = math.nan
        if not self.contains(value):
            raise LimitError(f"{name}: {self._expected(text)}" if name else self._expected(text))
        return value

    def problem(self, name: str, value: float) -> str:
        """What is wrong with ``value`` as the ``name`` of a run or its data ('' when
        nothing), in the words :meth:`parse` uses."""
        wrong = self.integer and not isinstance(value, int)
        if not wrong and self.contains(value):
            return ""
        shown = value if isinstance(value, int) else f"{value:g}"
        return f"{name}: {self._expected(shown)}"

    def _expected(self, shown: object) -> str:
        return f"expected {self.describe()}, got {shown}"


PARTICLES = Range(1, MAX_PARTICLES, integer=True)
STEPS = Range(1, MAX_STEPS, integer=True)
SEED = Range(0, 2**32 - 1, integer=True)
CLASS = Range(0, MAX_CLASSES - 1, integer=True)
TIME = Range(0, 1)
ETA = Range(0, 1)
NOISE_SCALE = Range(0, 10)
GUIDANCE = Range(0, 10)
TRAIN_STEPS = Range(1, 1_000_000, integer=True)
TRAIN_SECONDS = Range(0, 86_400, open_low=True)
LEARNING_RATE = Range(0, 1, open_low=True)
BATCH_SIZE = Range(2, 65_536, integer=True)
VIDEO_SECONDS = Range(0, 600, open_low=True)
FPS = Range(1, 60, integer=True)
DENSITY_GRID = Range(8, 512, integer=True)
"""Cells on a side of a grid of the model's density."""
PORT = Range(0, 65_535, integer=True)
"""A TCP port to listen on (0: any free one)."""
MAX_FRAMES = 18_000


def available_memory() -> int:
    """Bytes of memory that can be used without swapping: MemAvailable of /proc/meminfo, or
    the free physical pages where there is none."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(request: str, needed: int) -> None:
    """Refuse ``request`` (what the user asked for, in words) when the ``needed`` bytes it
    would allocate are more than :data:`MEMORY_SHARE` of the memory available now.

    Raises
    ------
    LimitError
        Naming the request, the estimate and the limit.
    """
    limit = int(MEMORY_SHARE * available_memory())
    if needed > limit:
        raise LimitError(
            f"{request} would need about {format_bytes(needed)} of memory; "
            f"{format_bytes(limit)} can be used here ({MEMORY_SHARE:.0%} of what is available)"
        )


def format_bytes(count: float) -> str:
    """1536 -> '1.5 KB' (powers of 1024)."""
    units = ("bytes", "KB", "MB", "GB", "TB")
    power = 0
    while count >= 1024 and power < len(units) - 1:
        count /= 1024
        power += 1
    return f"{count:.0f} bytes" if power == 0 else f"{count:.1f} {units[power]}"


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"
