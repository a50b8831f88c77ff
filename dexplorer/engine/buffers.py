"""Arrays shared between the engine (torch) and the renderer (numpy arrays it uploads)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class SharedArray:
    """Owns the float32 numpy arrays that a renderer uploads, and the torch tensor the engine
    writes into.

    On the CPU there is one array and the tensor *is* its memory (no copy). On CUDA the
    engine writes a device tensor and there are two pinned host arrays: :meth:`publish`
    starts a non-blocking copy into the back one, :meth:`sync` waits for it and makes it the
    front one (``array``), so the renderer never reads memory a copy is still filling.

    Parameters
    ----------
    shape : tuple of int
        Shape of a host array, e.g. (n, 2) for point positions.
    device : torch.device
        Where the engine computes.
    copies : bool, optional
        Force the double-buffered copy path (the default on any device but the CPU).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        device: torch.device,
        copies: bool | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.copies = self.device.type != "cpu" if copies is None else copies
        pinned = self.device.type == "cuda"
        count = 2 if self.copies else 1
        self.hosts = [
            torch.zeros(shape, dtype=torch.float32, pin_memory=pinned) for _ in range(count)
        ]
        self.arrays: tuple[np.ndarray, ...] = tuple(host.numpy() for host in self.hosts)
        self.front = 0
        self._pending: int | None = None
        if self.copies:
            self.target: Tensor = torch.zeros(shape, device=self.device)
            self._events = [torch.cuda.Event() if pinned else None for _ in range(count)]
        else:
            self.target = self.hosts[0]

    @property
    def array(self) -> np.ndarray:
        """The host array the renderer should upload now."""
        return self.arrays[self.front]

    def publish(self) -> None:
        """Start copying what the engine wrote into the back array (on the copy path)."""
        if not self.copies:
            return
        back = 1 - self.front
        self.hosts[back].copy_(self.target, non_blocking=True)
        if self._events[back] is not None:
            self._events[back].record()
        self._pending = back

    def sync(self) -> None:
        """Wait for the last :meth:`publish` to land, then make that array the front one."""
        if self._pending is None:
            return
        event = self._events[self._pending]
        if event is not None:
            event.synchronize()
        self.front, self._pending = self._pending, None
