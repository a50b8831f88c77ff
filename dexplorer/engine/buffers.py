"""Arrays shared between the engine (torch) and the renderer (numpy arrays it uploads)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class SharedArray:
    """Owns the float32 numpy array that a renderer uploads, and the torch tensor the engine
    writes into.

    On the CPU the tensor *is* the array's memory (no copy). On CUDA the engine writes a
    device tensor and the array is pinned host memory: :meth:`publish` starts a
    non-blocking copy into it and :meth:`sync` waits for that copy. The renderer uploads the
    array while it draws (copying it), so one array serves as long as each frame publishes,
    syncs and draws in that order; and the renderer's buffer stays the same object, so its
    pipelines are not rebuilt every frame. Where the device draws the particles from steps
    it holds (:mod:`~dexplorer.engine.rows`), the engine writes the tensor for the density
    alone and nothing is published.

    Parameters
    ----------
    shape : tuple of int
        Shape of the array, e.g. (n, 2) for point positions.
    device : torch.device
        Where the engine computes.
    copies : bool, optional
        Force the copy path (the default on any device but the CPU).
    """

    def __init__(
        self, shape: tuple[int, ...], device: torch.device, copies: bool | None = None
    ) -> None:
        self.device = torch.device(device)
        self.copies = self.device.type != "cpu" if copies is None else copies
        pinned = self.device.type == "cuda"
        self.host = torch.zeros(shape, dtype=torch.float32, pin_memory=pinned)
        self.array: np.ndarray = self.host.numpy()
        """The array the renderer uploads."""
        self.target: Tensor = torch.zeros(shape, device=self.device) if self.copies else self.host
        self._copied = torch.cuda.Event() if pinned else None
        self._pending = False

    def publish(self) -> None:
        """Start copying what the engine wrote into the array (on the copy path)."""
        if not self.copies:
            return
        self.host.copy_(self.target, non_blocking=True)
        if self._copied is not None:
            self._copied.record()
        self._pending = True

    def sync(self) -> None:
        """Wait for the last :meth:`publish` to land in the array."""
        if self._pending and self._copied is not None:
            self._copied.synchronize()
        self._pending = False
