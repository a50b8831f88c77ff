"""The exact field of a point source in a compiled C kernel (``coupling_field.c``): the data
estimate of :class:`~dexplorer.core.fields.CouplingField` for float32 particles on the CPU,
each particle's logits over the data points computed, read from the log-density table and
turned into a softmax in one pass through the core's cache, the particles shared by the
cores. Torch builds an (N, M, 2) tensor of source samples for the same work and reads them
with ``grid_sample``; ``benchmarks/bench_exact.py`` compares the two.

A field uses the kernel for its whole life if the kernel was loaded when the field was made
(:meth:`CouplingKernel.of`), so that a run is computed one way throughout; the set-up builds
it ahead, else the first field starts building it in the background and uses torch, as does
every field without a C compiler (:mod:`dexplorer.core.native_build`).
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from .native_build import in_pieces, load
from .threads import cores

LANES = 8
"""Points a vector in the kernel: the points' coordinates are padded to a multiple of it."""
PIECES_PER_THREAD = 4
"""The particles are cut into this many pieces per thread, taken in turn by the threads."""

_ARGUMENTS = (
    ctypes.c_void_p,  # x
    ctypes.c_int64,  # particles
    *[ctypes.c_void_p] * 2,  # the points' first and second coordinates
    ctypes.c_int64,  # points
    ctypes.c_void_p,  # log q
    ctypes.c_int,  # grid
    *[ctypes.c_float] * 4,  # domain, spread, t, s
    *[ctypes.c_void_p] * 2,  # scratch, out
)


class CouplingKernel:
    """Owns what the kernel reads of one field: the data points' coordinates padded to whole
    vectors of :data:`LANES` (zero beyond the points), and the (G, G) table of log q."""

    def __init__(
        self,
        kernel: ctypes._CFuncPtr,
        points: Tensor,
        log_q: Tensor,
        domain: float,
        spread: float,
    ) -> None:
        self.kernel = kernel
        self.count = len(points)
        padded = -(-self.count // LANES) * LANES
        self.points = torch.zeros(2, padded, dtype=torch.float32)
        self.points[:, : self.count] = points.T.float()
        self.log_q = log_q.reshape(log_q.shape[-2:]).float().contiguous()
        self.domain, self.spread = float(domain), float(spread)

    @classmethod
    def of(
        cls, points: Tensor, log_q: Tensor, domain: float, spread: float
    ) -> CouplingKernel | None:
        """The kernel's view of these points and table if the kernel is loaded now (a
        kernel not yet built starts building in the background), else ``None``."""
        build = load("coupling_field", wait=False)
        if build.library is None:
            return None
        function = build.library.dx_coupling_estimate
        function.argtypes, function.restype = _ARGUMENTS, None
        return cls(function, points, log_q, domain, spread)

    def data(self, x: Tensor, t: Tensor, s: Tensor) -> Tensor | None:
        """E[y | x_t = x] for the particles ``x`` (N, 2) at the time ``t``, with ``s`` =
        1 - t floored; ``None`` where the kernel does not apply (not float32 particles on
        the CPU without gradients, or not one time for all)."""
        if (
            x.device.type != "cpu"
            or x.dtype != torch.float32
            or x.requires_grad
            or t.numel() != 1
            or len(x) == 0
        ):
            return None
        x = x.contiguous()
        out = torch.empty_like(x)
        threads = max(1, min(cores(), len(x)))
        width = self.points.shape[1]
        scratch = torch.empty(threads, width, dtype=torch.float32)
        xs, ys = self.points[0].data_ptr(), self.points[1].data_ptr()
        grid = self.log_q.shape[0]
        constants = (self.log_q.data_ptr(), grid, self.domain, self.spread, float(t), float(s))

        def work(begin: int, end: int, worker: int) -> None:
            at = x[begin:].data_ptr(), end - begin
            self.kernel(
                *at,
                xs,
                ys,
                self.count,
                *constants,
                scratch[worker].data_ptr(),
                out[begin:].data_ptr(),
            )

        in_pieces(len(x), min(len(x), PIECES_PER_THREAD * threads), threads, work)
        return out
