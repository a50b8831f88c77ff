"""Streaks: tracers carried by the velocity field at the current t, each with a short trail,
for the animated view of the field that wind maps made familiar.

The field is evaluated on a grid (in a thread when t changes, so a frame never waits) and the
tracers move through it by bilinear lookup in numpy, a midpoint step per tick.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from ..core.datasets import DOMAIN
from ..core.fields import Field
from .grids import field_time, grid_points, velocity_grid

TRACERS = 4000
"""Tracers of one panel at most (a panel draws as many as suit its size)."""
TRAIL = 18
"""Positions kept per tracer, the head first: its trail is TRAIL - 1 segments."""
TICK = 1 / 30
"""Seconds of animation per advection step (a 30 fps video takes one step a frame)."""
MAX_TICKS = 3
"""Steps a frame takes at most: a slow frame slows the streaks rather than jumping them."""
LIFE = (45, 90)
"""A tracer's life in ticks (drawn at random): then it starts again elsewhere."""
FADE = 8
"""Ticks over which a tracer fades in after its birth and out before its end."""
GRID = 48
"""Grid points per side on which the field is evaluated."""
SPEED = 0.8
"""World units a second for a tracer at the reference speed (see :data:`REFERENCE`)."""
REFERENCE = 90
"""The percentile of the speed on the grid that moves at :data:`SPEED`: the field is drawn
at one pace at every t, where its raw speed grows without bound near t = 1."""


def bilinear(grid: np.ndarray, extent: float, points: np.ndarray) -> np.ndarray:
    """The vectors ``grid`` (G, G, 2), sampled at :func:`~dexplorer.engine.grids.grid_points`
    over [-extent, extent]^2 (row iy, column ix), interpolated at ``points`` (n, 2); a point
    outside the grid gets the nearest cell's plane continued, a NaN point NaN."""
    count = grid.shape[0]
    u = (points + extent) * ((count - 1) / (2 * extent))
    cell = np.clip(np.floor(np.nan_to_num(u)), 0, count - 2)
    f = u - cell
    fx, fy = f[:, :1], f[:, 1:]
    corner = (cell[:, 1] * count + cell[:, 0]).astype(np.intp)  # the cell's lower left
    flat = grid.reshape(-1, 2)
    low, high = flat[corner], flat[corner + count]
    bottom = low + fx * (flat[corner + 1] - low)
    top = high + fx * (flat[corner + count + 1] - high)
    return bottom + fy * (top - bottom)


def advect(
    points: np.ndarray, grid: np.ndarray, extent: float, dt: float, steps: int = 1
) -> np.ndarray:
    """``points`` (n, 2) after ``steps`` midpoint steps of ``dt`` through the field ``grid``
    (see :func:`bilinear`): x' = x + dt v(x + dt/2 v(x))."""
    for _ in range(steps):
        half = points + 0.5 * dt * bilinear(grid, extent, points)
        points = points + dt * bilinear(grid, extent, half)
    return points


class Streaks:
    """Owns one panel's tracers (their trails, ages and lives), the field's velocity on a
    grid that moves them, and the thread that evaluates that grid when t or the run changes.

    :meth:`follow` once a frame says which field and t to show (the first grid is computed at
    once, later ones in the background), :meth:`advance` moves the tracers by the frame's
    seconds; ``trails`` (count, TRAIL, 2) holds each tracer's positions, the newest first,
    NaN where its trail has not grown yet, and ``fade`` (count,) how visible each tracer is.
    """

    def __init__(
        self,
        count: int = TRACERS,
        extent: float = DOMAIN,
        resolution: int = GRID,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ) -> None:
        self.extent = extent
        self.rng = np.random.default_rng(seed)
        self.points = grid_points(resolution, extent, device)
        self.trails = np.full((count, TRAIL, 2), np.nan, np.float32)
        self.life = self.rng.integers(*LIFE, count)
        self.age = np.zeros(count, np.int64)
        self.grid: np.ndarray | None = None
        self.step_size = 0.0
        """World time of one tick: TICK seconds scaled so the reference speed is SPEED."""
        self.notice = ""
        """What is wrong with the field's grid ('' when nothing)."""
        self.ticks = 0
        """Steps taken so far."""
        self._clock = 0.0
        self._shown: tuple | None = None
        """The (key, t) of the grid the tracers move through."""
        self._result: tuple | None = None
        self._thread: threading.Thread | None = None
        self._respawn(np.arange(count))
        self.age = self.rng.integers(0, self.life)

    @property
    def fade(self) -> np.ndarray:
        """How visible each tracer is, 0 to 1: fading in after birth, out before its end."""
        rise = np.minimum(self.age + 1, FADE) / FADE
        fall = np.minimum(self.life - self.age, FADE) / FADE
        return np.clip(np.minimum(rise, fall), 0.0, 1.0).astype(np.float32)

    def follow(self, field: Field, t: float, key: object) -> None:
        """Show ``field`` at t (``key`` names the field: the same key, the same field). The
        first grid is evaluated now and the tracers run a trail's length through it; a new
        t or key is evaluated in a thread, the tracers moving through the last grid
        meanwhile."""
        wanted = (key, field_time(t))
        if self.grid is None:
            if self._shown != wanted:
                self._take(wanted, self._evaluate(field, wanted[1]))
                for _ in range(TRAIL if self.grid is not None else 0):
                    self._tick()
            return
        self._collect()
        if self._thread is None and self._shown != wanted:
            self._thread = threading.Thread(
                target=self._work,
                args=(field, wanted),
                daemon=True,
                name="dexplorer-streaks",
            )
            self._thread.start()

    def _evaluate(self, field: Field, t: float) -> np.ndarray | str:
        """The field's velocity on the grid at t, (G, G, 2), or why it has none."""
        try:
            velocity = velocity_grid(field, t, self.points).float().cpu().numpy()
        except Exception as error:  # said in the notice; a thread never dies silently
            return f"no streaks: {type(error).__name__}: {error}"
        count = round(len(velocity) ** 0.5)
        return velocity.reshape(count, count, 2)

    def _work(self, field: Field, wanted: tuple) -> None:
        self._result = (wanted, self._evaluate(field, wanted[1]))

    def _collect(self) -> None:
        """Take the thread's grid once it is done."""
        if self._thread is None or self._thread.is_alive():
            return
        self._thread.join()
        self._thread = None
        result, self._result = self._result, None
        self._take(*result)

    def _take(self, wanted: tuple, grid: np.ndarray | str) -> None:
        """Move the tracers by ``grid`` from now on (non-finite vectors leave their cells
        without streaks, and the notice says so); a text keeps the last grid and is the
        notice."""
        self._shown = wanted
        if isinstance(grid, str):
            self.notice = grid
            return
        bad = int((~np.isfinite(grid).all(axis=2)).sum())
        self.notice = (
            f"the velocity is not finite at {bad} of {grid.shape[0] ** 2} grid points: "
            "no streaks there"
            if bad
            else ""
        )
        speed = np.linalg.norm(grid, axis=2)
        speed = speed[np.isfinite(speed)]
        reference = float(np.percentile(speed, REFERENCE)) if len(speed) else 0.0
        self.step_size = SPEED * TICK / reference if reference > 1e-12 else 0.0
        self.grid = grid

    def wait(self) -> None:
        """Block until the grid of the last :meth:`follow` is taken (a video frame)."""
        if self._thread is not None:
            self._thread.join()
            self._collect()

    def advance(self, seconds: float, count: int | None = None) -> bool:
        """Move the first ``count`` tracers (all by default: those drawn) by ``seconds`` of
        animation (in whole ticks, at most MAX_TICKS per call; the rest carries over).
        Returns whether they moved."""
        if self.grid is None:
            return False
        self._clock = min(self._clock + max(seconds, 0.0), MAX_TICKS * TICK)
        ticks = int(self._clock / TICK + 1e-9)  # 1/30 s is one tick, not just under
        self._clock -= ticks * TICK
        for _ in range(ticks):
            self._tick(count)
        return ticks > 0

    def _tick(self, count: int | None = None) -> None:
        """One step of the first ``count`` tracers: their heads move through the grid,
        their trails shift by one, those that left the domain, met a non-finite vector or
        reached their life start anew."""
        trails, age = self.trails[:count], self.age[:count]
        head = advect(trails[:, 0], self.grid, self.extent, self.step_size)
        trails[:, 1:] = trails[:, :-1]
        trails[:, 0] = head
        age += 1
        self.ticks += 1
        inside = (np.abs(head) <= self.extent).all(axis=1)  # False for NaN
        self._respawn(np.flatnonzero(~inside | (age >= self.life[:count])))

    def _respawn(self, index: np.ndarray) -> None:
        """Start the tracers at ``index`` anew at random points of the domain, without trail."""
        self.trails[index] = np.nan
        self.trails[index, 0] = self.rng.uniform(-self.extent, self.extent, (len(index), 2))
        self.age[index] = 0
        self.life[index] = self.rng.integers(*LIFE, len(index))

    def close(self) -> None:
        """Wait for a grid under way (a short one)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
