"""Whole trajectories in one Triton kernel launch: every step of an Euler, midpoint or Heun
sampler, network evaluations included, for a flow (velocity-predicting) network field.

Each GPU program owns a block of particles for the whole run: it loads the network's
weights once, keeps positions and activations in registers, and writes the positions after
every step into the trajectory. The time (and a single class) enters as the first layer's
bias, precomputed for every evaluation with :meth:`ChunkedMLP.first_bias
<dexplorer.core.fused.ChunkedMLP.first_bias>`, so any time embedding works.

Triton is imported only when a trajectory is sampled (never on the app's CPU paths).
Without a GPU the kernel runs in Triton's interpreter on CPU tensors when the environment
sets ``TRITON_INTERPRET=1`` before triton is first imported (slow; for tests).

Precisions (the two hidden layers' matrix products; everything else is float32):
``"tf32"`` tensor-core tf32, ``"bf16"`` bfloat16 inputs with float32 accumulation,
``"ieee"`` exact float32 (for checks: a hundred times slower than tf32 on an H100, and
about half a minute to compile). In bf16 the positions, the first and output layers (2
inputs, 2 outputs: CUDA-core work) and the sums stay float32: positions held in bfloat16
moved the final samples an order of magnitude further from float32's, and bfloat16 outer
layers several times further, for no tensor-core work saved (``bench_sampling.py``'s bf16
section measures it). :func:`reference` computes the same arithmetic in torch.

On an H100 (original preset, midpoint, 4M particles x 50 steps, blocks of 64 particles and
4 warps) tf32 ran 3.6e9 particle-steps/s and bf16 4.8e9, against 2.8e8 for the eager
sampler; their final positions were within 3e-4 (tf32) and 7e-4 (bf16) of the eager ones.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

import torch
from torch import Tensor

from .choices import PRECISIONS
from .fields import NetworkField
from .networks import ACTIVATIONS
from .whole_run import (
    ACTIVATION_CODES,
    SAMPLER_CODES,
    check_range,
    evaluation_times,
    field_unsupported,
    kernel_weights,
    trajectory_problem,
)


def interpreted() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def triton_installed() -> bool:
    """Whether the ``triton`` package can be imported (without importing it)."""
    return importlib.util.find_spec("triton") is not None


def unsupported(field: NetworkField, sampler: str, device: torch.device | str) -> str | None:
    """Why :func:`sample` cannot run this field, sampler and device, or ``None`` if it can:
    the field and sampler as :func:`~dexplorer.core.whole_run.field_unsupported` asks, on
    CUDA, or on the CPU under Triton's interpreter."""
    device = torch.device(device)
    if not triton_installed():
        return "triton is not installed"
    if device.type != "cuda" and not (device.type == "cpu" and interpreted()):
        return "needs a CUDA device (or TRITON_INTERPRET=1 on the CPU)"
    return field_unsupported(field, sampler)


def available(field: NetworkField, sampler: str, device: torch.device | str) -> bool:
    """Whether :func:`sample` can run this field, sampler and device."""
    return unsupported(field, sampler, device) is None


def reference(
    field: NetworkField, x0: Tensor, steps: int, sampler: str = "midpoint", precision: str = "ieee"
) -> Tensor:
    """The kernel's arithmetic in torch, on any device: the trajectory :func:`sample` computes,
    up to the order of its sums. ``"bf16"`` rounds the hidden layers' inputs and weights to
    bfloat16 and sums in float32 as the tensor cores do; ``"ieee"`` and ``"tf32"`` run float32
    (tf32's rounding is left out). What the tests check the kernel against, and how the
    benchmark shows bf16's accuracy where no GPU is.

    Raises
    ------
    ValueError
        As :func:`sample` does, except that any device will do.
    """
    _refuse(field_unsupported(field, sampler), precision, x0, steps, None)
    times, lengths = evaluation_times(steps, sampler)
    w = kernel_weights(field, times, x0.device)
    activate = ACTIVATIONS[field.network.config.activation]

    def rounded(t: Tensor) -> Tensor:
        return t.to(torch.bfloat16).float() if precision == "bf16" else t

    hidden = [rounded(layer) for layer in w.hidden]

    def velocity(x: Tensor, evaluation: int) -> Tensor:
        h = activate(x[:, :1] * w.first[:, 0] + x[:, 1:] * w.first[:, 1] + w.bias[evaluation])
        for weight, bias in zip(hidden, w.hidden_bias, strict=True):
            h = activate(rounded(h) @ weight.T + bias)
        return h @ w.output.T + w.output_bias

    out = torch.empty((steps + 1, *x0.shape), dtype=torch.float32, device=x0.device)
    out[0] = x0
    x = x0
    per_step = 1 if sampler == "euler" else 2
    with torch.no_grad():
        for step, dt in enumerate(lengths):
            e = step * per_step
            v = velocity(x, e)
            if sampler == "euler":
                x = x + dt * v
            elif sampler == "midpoint":
                x = x + dt * velocity(x + 0.5 * dt * v, e + 1)
            else:
                x = x + 0.5 * dt * (v + velocity(x + dt * v, e + 1))
            out[step + 1] = x
    return out


def _kernels() -> ModuleType:
    return importlib.import_module("dexplorer.core._triton_kernels")


def sample(
    field: NetworkField,
    x0: Tensor,
    steps: int,
    sampler: str = "midpoint",
    out: Tensor | None = None,
    precision: str = "tf32",
    block: int = 64,
    num_warps: int = 4,
) -> Tensor:
    """Integrate ``x0`` from t = 0 to t = 1 in one kernel launch and return the trajectory.

    Parameters
    ----------
    field : NetworkField
        A field that :func:`unsupported` accepts.
    x0 : Tensor
        Positions at t = 0, shape (N, 2), float32.
    steps : int
        Steps on the uniform time grid.
    sampler : str
        ``"euler"``, ``"midpoint"`` or ``"heun"``.
    out : Tensor, optional
        Where to write the trajectory, shape (steps + 1, N, 2), float32, contiguous.
    precision : str
        The hidden layers' matrix products: ``"tf32"``, ``"bf16"`` or ``"ieee"``.
    block : int
        Particles per program (a power of two, at least 16).
    num_warps : int
        Warps per program.

    Returns
    -------
    Tensor
        Shape (steps + 1, N, 2): ``out`` when given, else a new tensor. Row 0 is ``x0``.

    Raises
    ------
    ValueError
        For an unsupported field, sampler, device, precision or shape.
    """
    _refuse(unsupported(field, sampler, x0.device), precision, x0, steps, out)
    times, lengths = evaluation_times(steps, sampler)
    if out is None:
        out = torch.empty((steps + 1, x0.shape[0], 2), dtype=torch.float32, device=x0.device)
    _launch(field, x0, out, sampler, times, lengths, precision, block, num_warps)
    return out


def sample_range(
    field: NetworkField,
    x: Tensor,
    out: Tensor,
    sampler: str,
    start: int,
    steps: int,
    precision: str = "tf32",
) -> None:
    """Write the positions after steps ``start + 1`` to ``start + len(out)`` of a run of
    ``steps`` steps into ``out`` ((k, N, 2) float32), from ``x`` ((N, 2) float32), the
    positions at step ``start``: a part of a trajectory kept apart from the rest (a bounded
    cache's ring), in one launch. The first layer's bias is computed for these steps only,
    so a part recomputed over the same range is the same bit for bit.

    Raises
    ------
    ValueError
        As :func:`sample`, or for steps outside the run.
    """
    stop = start + out.shape[0]
    check_range(start, stop, steps)
    _refuse(unsupported(field, sampler, x.device), precision, x, stop - start, None)
    if start == stop:
        return
    times, lengths = evaluation_times(steps, sampler)
    evaluations = len(times) // steps
    part = torch.empty((stop - start + 1, *x.shape), dtype=torch.float32, device=x.device)
    part_times = times[start * evaluations : stop * evaluations]
    _launch(field, x, part, sampler, part_times, lengths[start:stop], precision, 64, 4)
    out.copy_(part[1:])


def _refuse(reason: str | None, precision: str, x0: Tensor, steps: int, out: Tensor | None) -> None:
    """Raise the ValueError that says why the kernel cannot run: ``reason`` (the field,
    sampler or device), else the precision, else the shapes."""
    if reason is None and precision not in PRECISIONS:
        reason = f"precision must be one of {PRECISIONS}"
    if reason is None:
        reason = trajectory_problem(x0, steps, out)
    if reason is not None:
        raise ValueError(f"the Triton sampler cannot run this: {reason}")


def _launch(
    field: NetworkField,
    x0: Tensor,
    out: Tensor,
    sampler: str,
    times: list[float],
    lengths: list[float],
    precision: str,
    block: int,
    num_warps: int,
) -> None:
    """Run the kernel from ``x0`` over the steps of ``lengths`` (network evaluations at
    ``times``) into ``out`` (len(lengths) + 1, N, 2)."""
    n, steps = x0.shape[0], len(lengths)
    network = field.network
    weights = kernel_weights(field, times, x0.device)
    hidden = weights.hidden.transpose(1, 2)
    kernels = _kernels()
    with torch.no_grad():
        kernels.sample_kernel[(-(-n // block),)](
            x0.contiguous(),
            out,
            weights.bias,
            torch.tensor(lengths, dtype=torch.float32, device=x0.device),
            weights.first.t().contiguous(),
            hidden.to(torch.bfloat16 if precision == "bf16" else torch.float32).contiguous(),
            weights.hidden_bias,
            weights.output,
            weights.output_bias,
            n,
            steps,
            WIDTH=network.config.width,
            BLOCK=block,
            SAMPLER=SAMPLER_CODES[sampler],
            ACTIVATION=ACTIVATION_CODES[network.config.activation],
            PRECISION=precision,
            num_warps=num_warps,
        )
