"""The denoiser's guesses of one simulation's particles at the time shown, computed in a
background thread so that a frame never waits for them."""

from __future__ import annotations

import threading
from collections.abc import Hashable

import torch
from torch import Tensor

from ..core.fields import Field
from ..core.guesses import guesses
from .buffers import SharedArray


class Guesses:
    """Owns the (n, 2) array of the guesses x1_hat the renderer draws and the thread that
    fills it: :meth:`ask` hands it the particles at a time (only when that time or those
    particles changed); the thread computes the latest request and :meth:`take` publishes
    it once done. Guesses that are not finite (of finite particles) are counted in
    ``nonfinite`` and written as NaN, which is not drawn; a model that fails leaves none and
    says why in ``problem``."""

    def __init__(self, n: int, device: torch.device) -> None:
        self.array = SharedArray((n, 2), device)
        self.array.target.fill_(float("nan"))
        self.nonfinite = 0
        self.problem = ""
        self.shown: Hashable = None
        """The key of the guesses in the array (``None``: none yet)."""
        self._asked: Hashable = None
        self._pending: tuple[Hashable, Field, Tensor, float] | None = None
        self._done: tuple[Hashable, Tensor, int, str] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def ask(self, key: Hashable, field: Field, positions: Tensor, t: float) -> None:
        """Compute the guesses of the particles at ``positions`` (n, 2, copied) at time t,
        known by ``key``, unless that is what was asked last."""
        if key == self._asked:
            return
        self._asked = key
        with self._lock:
            self._pending = (key, field, positions.clone(), t)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, daemon=True, name="dexplorer-guesses"
                )
                self._thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                job, self._pending = self._pending, None
                if job is None:
                    self._thread = None
                    return
            key, field, x, t = job
            done = _compute(field, x, t)
            with self._lock:
                self._done = (key, *done)

    def take(self) -> bool:
        """Publish the guesses computed last into the array; whether there were new ones."""
        with self._lock:
            done, self._done = self._done, None
        if done is None:
            return False
        self.shown, guessed, self.nonfinite, self.problem = done
        self.array.target.copy_(guessed)
        self.array.publish()
        self.array.sync()
        return True

    def wait(self) -> None:
        """Block until the last request is computed (headless renders, tests)."""
        while True:
            thread = self._thread
            if thread is None:
                return
            thread.join()

    def close(self) -> None:
        """Drop what is pending and wait for the guesses under way."""
        with self._lock:
            self._pending = None
        self.wait()


def _compute(field: Field, x: Tensor, t: float) -> tuple[Tensor, int, str]:
    """The guesses of ``x`` at t with NaN where they are not finite, how many of those are
    guesses of finite particles, and what failed ('' if nothing)."""
    with torch.inference_mode():
        try:
            guessed = guesses(field, x, t)
        except Exception as error:  # said in the notice; the app keeps running
            nan = torch.full(x.shape, float("nan"), device=x.device)
            return nan, 0, f"no guesses: {type(error).__name__}: {error}"
        finite = torch.isfinite(guessed).all(1)
        count = int((~finite & torch.isfinite(x).all(1)).sum())
        return torch.where(finite[:, None], guessed, float("nan")), count, ""
