"""Whole trajectories on the CPU in a compiled C kernel (``mlp_sampler.c``): every step of an
Euler, midpoint or Heun sampler, network evaluations included, for a flow network field.

The particles are cut into pieces that the threads take in turn; a thread runs its piece 24
particles at a time through every step, with the activations in the core's L1 cache and the
positions in registers. The time (and a single class) enters as the first layer's bias, as
for the Triton kernel (:func:`~dexplorer.core.whole_run.kernel_weights`). The kernel is built
on first use (:mod:`dexplorer.core.native_build`); without a C compiler :func:`unsupported`
says so and the callers use torch.

On the 2-core AMD EPYC (Zen 3) development machine, ``original`` preset, midpoint, 50k
particles x 200 steps, 2 threads: 3.5e6 to 3.9e6 particle-steps/s, or 120-132 GFLOP/s of
the 190 GFLOP/s that the two cores' FMA units reach in a tight loop. That is 2.5-2.9x
:class:`~dexplorer.core.fused.ChunkedMLP` and 4.5-6.5x the plain module, with positions
within 1e-6 of torch's.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import torch
from torch import Tensor

from .fields import NetworkField
from .native_build import in_pieces, load
from .threads import cores
from .whole_run import (
    ACTIVATION_CODES,
    SAMPLER_CODES,
    check_range,
    evaluation_times,
    field_unsupported,
    kernel_weights,
    trajectory_problem,
)

TILE = 24
"""Particles per tile in the kernel: the pieces the threads take are multiples of it."""
ROWS = 4
"""Output units per block in the kernel: the hidden weights are packed in groups of it."""
PIECES_PER_THREAD = 8
"""The particles are cut into this many pieces per thread, taken in turn by the threads."""


ARGUMENT_TYPES = (
    *[ctypes.c_int] * 3,  # width, activation, sampler
    *[ctypes.c_void_p] * 9,  # bias, lengths, first, hidden, hidden bias, output, its bias, x, out
    *[ctypes.c_int64] * 2,  # particles, row stride
    ctypes.c_int,  # steps
)
"""The C signature of ``dx_sample_mlp``."""


def _kernel(wait: bool = True) -> Callable[..., int] | str:
    """The kernel's entry point, or why it cannot be had (see :func:`native_build.load
    <dexplorer.core.native_build.load>` for ``wait``)."""
    build = load("mlp_sampler", wait)
    if build.library is None:
        return f"the native sampler is not built: {build.reason}"
    function = build.library.dx_sample_mlp
    function.argtypes = ARGUMENT_TYPES
    function.restype = ctypes.c_int
    return function


def unsupported(
    field: NetworkField, sampler: str, device: torch.device | str, wait: bool = True
) -> str | None:
    """Why :func:`sample` cannot run this field, sampler and device, or ``None`` if it can:
    the field and sampler as :func:`~dexplorer.core.whole_run.field_unsupported` asks, on
    the CPU, with the kernel built. With ``wait=False`` a kernel not yet built is built in
    the background, and meanwhile the answer is that it is being built."""
    if torch.device(device).type != "cpu":
        return "runs on the CPU only"
    reason = field_unsupported(field, sampler)
    if reason is not None:
        return reason
    kernel = _kernel(wait)
    return kernel if isinstance(kernel, str) else None


def available(field: NetworkField, sampler: str, device: torch.device | str) -> bool:
    """Whether :func:`sample` can run this field, sampler and device."""
    return unsupported(field, sampler, device) is None


def sample(
    field: NetworkField,
    x0: Tensor,
    steps: int,
    sampler: str = "midpoint",
    out: Tensor | None = None,
    threads: int | None = None,
) -> Tensor:
    """Integrate ``x0`` from t = 0 to t = 1 and return the trajectory.

    Parameters
    ----------
    field : NetworkField
        A field that :func:`unsupported` accepts.
    x0 : Tensor
        Positions at t = 0, shape (N, 2), float32, on the CPU.
    steps : int
        Steps on the uniform time grid.
    sampler : str
        ``"euler"``, ``"midpoint"`` or ``"heun"``.
    out : Tensor, optional
        Where to write the trajectory, shape (steps + 1, N, 2), float32, contiguous.
    threads : int, optional
        Threads to share the particles (default: one per core this process may use).

    Returns
    -------
    Tensor
        Shape (steps + 1, N, 2): ``out`` when given, else a new tensor. Row 0 is ``x0``.

    Raises
    ------
    ValueError
        For an unsupported field, sampler, device or shape.
    """
    reason = trajectory_problem(x0, steps, out)
    if reason is not None:
        raise ValueError(f"the native sampler cannot run this: {reason}")
    if out is None:
        out = torch.empty((steps + 1, *x0.shape), dtype=torch.float32)
    _check(field, sampler, out, steps)
    out[0] = x0
    sample_steps(field, out, sampler, 0, steps, threads)
    return out


def sample_steps(
    field: NetworkField,
    out: Tensor,
    sampler: str,
    start: int,
    stop: int,
    threads: int | None = None,
) -> None:
    """Fill rows ``start + 1`` to ``stop`` of the trajectory ``out`` from row ``start``: a run
    computed a few steps at a time, so that its caller can show the steps done and stop
    between calls. The network's weights are read at each call.

    Parameters
    ----------
    field : NetworkField
        A field that :func:`unsupported` accepts.
    out : Tensor
        The trajectory, shape (steps + 1, N, 2), float32, contiguous, on the CPU; its
        length sets the time grid.
    sampler : str
        ``"euler"``, ``"midpoint"`` or ``"heun"``.
    start, stop : int
        The steps to compute, 0 <= start <= stop <= steps.
    threads : int, optional
        Threads to share the particles (default: one per core this process may use).

    Raises
    ------
    ValueError
        For an unsupported field, sampler or trajectory, or steps outside it.
    """
    steps = out.shape[0] - 1
    _check(field, sampler, out, steps)
    check_range(start, stop, steps)
    sample_range(field, out[start], out[start + 1 : stop + 1], sampler, start, steps, threads)


def sample_range(
    field: NetworkField,
    x: Tensor,
    out: Tensor,
    sampler: str,
    start: int,
    steps: int,
    threads: int | None = None,
) -> None:
    """Write the positions after steps ``start + 1`` to ``start + len(out)`` of a run of
    ``steps`` steps into ``out``, from ``x``, the positions at step ``start``: a part of a
    trajectory kept apart from the rest (a bounded cache's ring). The network's weights are
    read for these steps only, so a part recomputed over the same range is the same bit for
    bit.

    Parameters
    ----------
    field : NetworkField
        A field that :func:`unsupported` accepts.
    x : Tensor
        Positions at step ``start``, shape (N, 2), float32, contiguous, on the CPU.
    out : Tensor
        Shape (k, N, 2), float32, contiguous, on the CPU, with ``start + k <= steps``.
    sampler : str
        ``"euler"``, ``"midpoint"`` or ``"heun"``.
    start, steps : int
        The step ``x`` is at, and the steps of the whole run (they set the time grid).
    threads : int, optional
        Threads to share the particles (default: one per core this process may use).

    Raises
    ------
    ValueError
        For an unsupported field, sampler or shape, or steps outside the run.
    """
    _check(field, sampler, out, steps)
    stop = start + out.shape[0]
    check_range(start, stop, steps)
    if x.shape != out.shape[1:] or x.dtype != torch.float32 or not x.is_contiguous():
        raise ValueError(
            f"the native sampler cannot run this: x must be contiguous float32 of shape "
            f"{tuple(out.shape[1:])}, got {x.dtype} {tuple(x.shape)}"
        )
    if start == stop:
        return
    times, lengths = evaluation_times(steps, sampler)
    evaluations = len(times) // steps
    weights = kernel_weights(field, times[start * evaluations : stop * evaluations], out.device)
    width = field.network.config.width
    packed = weights.hidden.view(2, width // ROWS, ROWS, width).transpose(2, 3).contiguous()
    step_lengths = torch.tensor(lengths[start:stop], dtype=torch.float32)
    n = out.shape[1]
    tiles = -(-n // TILE)
    threads = max(1, min(threads or cores(), tiles))
    pieces = min(tiles, PIECES_PER_THREAD * threads)
    kernel = _kernel()
    constants = (
        width,
        ACTIVATION_CODES[field.network.config.activation],
        SAMPLER_CODES[sampler],
        *(
            tensor.data_ptr()
            for tensor in (
                weights.bias,
                step_lengths,
                weights.first,
                packed,
                weights.hidden_bias,
                weights.output,
                weights.output_bias,
            )
        ),
    )

    def work(first: int, last: int, _: int) -> None:
        begin, end = first * TILE, min(last * TILE, n)
        rows = x[begin:].data_ptr(), out[0, begin:].data_ptr()
        if kernel(*constants, *rows, end - begin, 2 * n, stop - start) != 0:
            raise ValueError("the native sampler refused the network's shape")

    in_pieces(tiles, pieces, threads, work)


def _check(field: NetworkField, sampler: str, out: Tensor, steps: int) -> None:
    reason = unsupported(field, sampler, out.device)
    if reason is None and (
        out.dim() != 3
        or out.shape[2] != 2
        or out.dtype != torch.float32
        or not out.is_contiguous()
        or steps < 1
    ):
        reason = (
            "the trajectory must be contiguous float32 of shape (steps + 1, N, 2) with at "
            f"least 1 step, got {out.dtype} {tuple(out.shape)}"
        )
    if reason is not None:
        raise ValueError(f"the native sampler cannot run this: {reason}")
