"""Which steps of the particles' trajectory the renderer's device holds.

Drawn from the shared array (:mod:`~dexplorer.engine.buffers`), every frame on a GPU brings
the positions at t down to the host and uploads them again: 16 bytes a particle, the whole of
a frame's work at millions of particles. Drawn from rows, the splat reads the two steps around
t from buffers already on the device (numbered slots the scene owns) and interpolates between
them itself, so a frame moves no positions at all once the steps it shows are there. Each
step crosses once, when first shown, or ahead of the time shown while there is room.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .devices import available_memory
from .trajectory import CacheState, TrajectoryCache

ROW_SHARE = 0.25
"""The rows of a CUDA run may take this share of the device's free memory (the run's own
cache, on the same device, takes :data:`~dexplorer.engine.trajectory.CACHE_SHARE`)."""
ROW_BYTES = 1 << 30
"""The rows' bytes at most where the run is not on CUDA (wgpu does not say how much its
adapter has; a software adapter's buffers are in the host's memory, of which they take
:data:`ROW_SHARE` of the free at most)."""
POINT_BYTES = 8


def row_budget(device: torch.device) -> int:
    """The bytes the rows of a run computed on ``device`` may take on the renderer's."""
    free = available_memory(device)
    if free is None:
        return ROW_BYTES
    share = int(ROW_SHARE * free)
    return share if device.type == "cuda" else min(ROW_BYTES, share)


def _distance(s: int, step: int) -> int:
    """How far step ``s`` is from the ``step`` shown: a step behind counts twice (time is
    played forward more often than back)."""
    return s - step if s >= step else 2 * (step - s)


class Upload(NamedTuple):
    """A row (n x 2 float32) to write into a slot before the frame is drawn."""

    slot: int
    row: np.ndarray


class Rows(NamedTuple):
    """What a frame draws: the uploads first, then the positions ``fraction`` of the way from
    the slot ``first`` to the slot ``second``."""

    uploads: list[Upload]
    first: int
    second: int
    fraction: float


class DeviceRows:
    """Owns the record of which step of a run each slot on the renderer's device holds (at
    most :attr:`capacity` slots, two at least, within the bytes of ``budget``), and the bytes
    handed over for upload so far (:attr:`uploaded`).

    When the run changes (another :class:`~dexplorer.engine.trajectory.CacheState`: a new
    run, or a live edit's patch), every step is forgotten and the slots are used again. The
    slots belong to one set of buffers: a new set needs a new object.
    """

    def __init__(self, n: int, budget: int) -> None:
        self.n = n
        self.capacity = max(2, budget // (n * POINT_BYTES))
        """Slots at most."""
        self.uploaded = 0
        """Bytes handed over for upload since this object was made."""
        self._held: dict[int, int] = {}  # step -> slot
        self._free: list[int] = []
        self._slots = 0
        self._state: CacheState | None = None

    @property
    def held(self) -> list[int]:
        """The steps held, in order."""
        return sorted(self._held)

    def show(self, cache: TrajectoryCache, step: int, fraction: float) -> Rows | None:
        """The slots of ``cache``'s run at ``step`` and the next one, and the fraction between
        them to draw (the next is the same slot when ``fraction`` is 0), with the uploads of
        those not held; when none is needed, the upload of one more step near ``step``
        (:func:`_distance`) if there is room. ``None`` when the run does not hold a step asked for
        (a bounded run that moved on)."""
        if cache.state is not self._state:
            self._state = cache.state
            self._free.extend(self._held.values())
            self._held.clear()
        wanted = [step, step + 1] if fraction else [step]
        missing = [s for s in wanted if s not in self._held]
        rows = [cache.row(s) for s in missing]
        if any(row is None for row in rows):
            return None  # nothing placed: a slot never holds what was not uploaded
        placed = zip(missing, rows, strict=True)
        uploads = [self._place(s, row, step, wanted) for s, row in placed]
        if not uploads:
            uploads = self._load_near(cache, step, wanted)
        return Rows(uploads, self._held[step], self._held[wanted[-1]], float(fraction))

    def _load_near(self, cache: TrajectoryCache, step: int, wanted: list[int]) -> list[Upload]:
        """The upload of the step nearest ``step`` (see :func:`_distance`) not held that the
        run holds, if there is a free slot or it is nearer than the farthest step held."""
        last = cache.state.ready
        for distance in range(1, 2 * last + 1):
            for s in (step + distance, step - distance // 2 if distance % 2 == 0 else -1):
                if 0 <= s <= last and s not in self._held:
                    if len(self._held) >= self.capacity:
                        farthest = max(self._held, key=lambda h: _distance(h, step))
                        if _distance(farthest, step) <= distance:
                            return []
                    row = cache.row(s)
                    if row is not None:
                        return [self._place(s, row, step, wanted)]
        return []

    def _place(self, s: int, row: torch.Tensor, step: int, wanted: list[int]) -> Upload:
        """The upload of ``row``, step ``s``, into a free slot, or into the slot of the step
        farthest from ``step`` (:func:`_distance`) that is not ``wanted``."""
        if self._free:
            slot = self._free.pop()
        elif self._slots < self.capacity:
            slot, self._slots = self._slots, self._slots + 1
        else:
            spare = [h for h in self._held if h not in wanted]
            slot = self._held.pop(max(spare, key=lambda h: _distance(h, step)))
        self._held[s] = slot
        self.uploaded += self.n * POINT_BYTES
        return Upload(slot, row.cpu().numpy())
