"""Arrays shared between the engine (torch) and the renderer (numpy arrays it uploads)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class SharedArray:
    """Owns a float32 numpy array that a renderer uploads, and the torch tensor the engine
    writes into.

    On the CPU the tensor *is* the array's memory (no copy). On CUDA the engine writes a
    device tensor; :meth:`publish` starts a non-blocking copy into pinned host memory that
    backs the array, and :meth:`sync` waits for it before the renderer reads.

    Parameters
    ----------
    shape : tuple of int
        Shape of the host array, e.g. (n, 3) for point positions.
    device : torch.device
        Where the engine computes.
    columns : slice
        Which trailing columns the engine writes (e.g. x and y of (x, y, z) positions).
    """

    def __init__(
        self, shape: tuple[int, ...], device: torch.device, columns: slice = slice(None)
    ) -> None:
        self.device = torch.device(device)
        pinned = self.device.type == "cuda"
        host = torch.zeros(shape, dtype=torch.float32, pin_memory=pinned)
        self.host = host
        self.array: np.ndarray = host.numpy()
        self.columns = columns
        if pinned:
            self.target: Tensor = torch.zeros(host[..., columns].shape, device=self.device)
            self._event = torch.cuda.Event()
        else:
            self.target = host[..., columns]
            self._event = None

    def publish(self) -> None:
        """Make what the engine wrote visible to the renderer (a copy only on CUDA)."""
        if self._event is not None:
            self.host[..., self.columns].copy_(self.target, non_blocking=True)
            self._event.record()

    def sync(self) -> None:
        """Wait until the last :meth:`publish` has landed in the host array."""
        if self._event is not None:
            self._event.synchronize()
