"""The model's own density for the renderer: log p_t on a grid, computed in a thread for
the times asked, and the NLL of held-out data, once per run."""

from __future__ import annotations

import threading

import numpy as np
import torch

from ..core.datasets import DOMAIN
from ..core.fields import Field
from ..core.likelihood import (
    LikelihoodError,
    density_time,
    log_density_grid,
    negative_log_likelihood,
)
from ..core.sources import Source

RESOLUTION = 48
"""Cells on a side of the shown grid (a network's grid costs RESOLUTION^2 ODE solves)."""
STEPS = 16
"""RK4 steps of the shown grid (the CLI and the NLL take the accurate default)."""
TIMES = 100
"""The grid is computed at t rounded to 1 / TIMES, each time once (replays are free)."""
NLL_POINTS = 1000
HELD_OUT_SEED = 1
"""Seed of the fresh points of a bundled dataset whose NLL is measured (its points in the
app and the shipped models' training points are drawn with seed 0)."""


def nll_text(nll: float, t: float) -> str:
    """'NLL 2.31 nats', with the time when the density is taken before t = 1."""
    at = "" if t == 1.0 else f" at t = {t:g}"
    return f"NLL {nll:.2f} nats{at}"


class ModelDensity:
    """Owns the model density of one run: a worker thread (while there is work) computing
    log p_t on a :data:`RESOLUTION` grid for the latest time asked (keeping every grid), the
    array the layer draws (p_t / max p_t, row 0 at y = -DOMAIN) and the NLL of
    ``points`` (the data, held out where it can be). Nothing is computed before the first
    :meth:`request`."""

    def __init__(
        self,
        field: Field,
        points: np.ndarray,
        device: torch.device,
        source: Source | None = None,
    ) -> None:
        self.field = field
        self.source = source
        """Where the field's ODE starts (N(0, I) when ``None``): its density at t = 0."""
        self.points = points
        self.device = device
        self.array = np.zeros((RESOLUTION, RESOLUTION), np.float32)
        """What the layer draws: the density of the last grid shown, scaled to max 1."""
        self.shown: float | None = None
        """The time of the grid in :attr:`array` (None before the first)."""
        self.note = ""
        """What the grid shown leaves out (cells whose density is not finite), or ''."""
        self.nll = ""
        """'NLL 2.31 nats' once measured, or why there is none ('' while measuring)."""
        self.problem = ""
        """Why the grid cannot be computed ('' when it can)."""
        self._grids: dict[int, tuple[np.ndarray, str]] = {}
        self._wanted: int | None = None
        self._condition = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def request(self, t: float) -> None:
        """Ask for the grid at t (rounded to 1 / TIMES); starts a worker when none runs."""
        key = round(t * TIMES)
        with self._condition:
            if self._wanted == key:
                return
            self._wanted = key
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._work, daemon=True, name="dexplorer-likelihood"
                )
                self._thread.start()

    def poll(self) -> bool:
        """Copy the newest grid for the time asked into :attr:`array`; whether it changed."""
        with self._condition:
            key = self._wanted
            grid = self._grids.get(key) if key is not None else None
        if grid is None or self.shown == key / TIMES:
            return False
        self.array[...], self.note = grid
        self.shown = key / TIMES
        return True

    def wait(self) -> None:
        """Block until the grid asked for (and the NLL) are computed or failed."""
        with self._condition:
            self._condition.wait_for(self._idle)

    def _idle(self) -> bool:
        return self._thread is None

    def close(self, wait: bool = True) -> None:
        """Stop the worker after what it is computing (and with ``wait``, wait for that)."""
        with self._condition:
            self._closed = True
            thread = self._thread
        if wait and thread is not None:
            thread.join()

    def _work(self) -> None:
        """Compute what is asked until nothing is left (then the thread ends; the next
        :meth:`request` starts another)."""
        while True:
            with self._condition:
                self._condition.notify_all()
                grid_wanted = self._wanted not in self._grids and not self.problem
                if self._closed or not (grid_wanted or not self.nll):
                    self._thread = None
                    return
                key = self._wanted
            if grid_wanted:
                self._compute_grid(key)
            else:
                self._measure()

    def _compute_grid(self, key: int) -> None:
        try:
            _, _, logp = log_density_grid(
                self.field, key / TIMES, RESOLUTION, DOMAIN, STEPS, self.device, self.source
            )
        except LikelihoodError as error:
            self.problem = str(error)
            return
        except Exception as error:  # the status says so; the thread never dies silently
            self.problem = f"no model density: {type(error).__name__}: {error}"
            return
        finite = np.isfinite(logp)
        bad = int((~finite).sum())
        note = f"model density not finite at {bad:,} of {logp.size:,} cells: not drawn"
        peak = logp[finite].max() if finite.any() else 0.0
        image = np.where(finite, np.exp(logp - peak), 0.0).T  # rows along y, as drawn
        with self._condition:
            self._grids[key] = (image.astype(np.float32), note if bad else "")

    def _measure(self) -> None:
        points = torch.as_tensor(self.points, dtype=torch.float32, device=self.device)
        try:
            nll = negative_log_likelihood(self.field, points, source=self.source)
            text = nll_text(nll, density_time(self.field, 1.0))
        except LikelihoodError as error:
            text = str(error)
        except Exception as error:
            text = f"no NLL: {type(error).__name__}: {error}"
        with self._condition:
            self.nll = text
