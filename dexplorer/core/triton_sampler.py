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
about half a minute to compile).

On an H100 (original preset, midpoint, 4M particles x 50 steps, blocks of 64 particles and
4 warps) tf32 ran 3.6e9 particle-steps/s and bf16 4.8e9, against 2.8e8 for the eager
sampler; their final positions were within 3e-4 (tf32) and 7e-4 (bf16) of the eager ones.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from itertools import pairwise
from types import ModuleType

import torch
from torch import Tensor

from .fields import NetworkField
from .fused import ChunkedMLP
from .samplers import time_grid

SAMPLERS = ("euler", "midpoint", "heun")
PRECISIONS = ("tf32", "bf16", "ieee")
ACTIVATIONS = ("elu", "silu", "relu")
WIDTHS = (16, 32, 64, 128)
DEPTH = 3


def interpreted() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def triton_installed() -> bool:
    """Whether the ``triton`` package can be imported (without importing it)."""
    return importlib.util.find_spec("triton") is not None


def unsupported(field: NetworkField, sampler: str, device: torch.device | str) -> str | None:
    """Why :func:`sample` cannot run this field, sampler and device, or ``None`` if it can.

    Parameters
    ----------
    field : NetworkField
        The field to integrate: a velocity-predicting objective (flow matching), an MLP of
        depth 3 and a width in ``WIDTHS``, an activation in ``ACTIVATIONS``, and no class,
        one class for every particle, or guidance 0 (the null class).
    sampler : str
        One of ``SAMPLERS``.
    device : torch.device or str
        Where the particles are: CUDA, or the CPU under Triton's interpreter.
    """
    device = torch.device(device)
    config = field.network.config
    reasons = {
        "triton is not installed": not triton_installed(),
        "needs a CUDA device (or TRITON_INTERPRET=1 on the CPU)": (
            device.type != "cuda" and not (device.type == "cpu" and interpreted())
        ),
        f"sampler must be one of {SAMPLERS}": sampler not in SAMPLERS,
        "needs a velocity-predicting (flow) objective": field.objective.prediction != "velocity",
        f"needs a network of depth {DEPTH}": config.depth != DEPTH,
        f"network width must be one of {WIDTHS}": config.width not in WIDTHS,
        f"activation must be one of {ACTIVATIONS}": config.activation not in ACTIVATIONS,
        "needs one class for all particles": isinstance(field.label, Tensor)
        and field.label.dim() > 0,
        "needs guidance 0 or 1": field.label is not None and field.guidance not in (0.0, 1.0),
    }
    return next((reason for reason, applies in reasons.items() if applies), None)


def available(field: NetworkField, sampler: str, device: torch.device | str) -> bool:
    """Whether :func:`sample` can run this field, sampler and device."""
    return unsupported(field, sampler, device) is None


def _kernels() -> ModuleType:
    return importlib.import_module("dexplorer.core._triton_kernels")


def evaluation_times(steps: int, sampler: str) -> tuple[list[float], list[float]]:
    """The time of each network evaluation (in order) and the length of each step, on the
    samplers' uniform grid, computed as the eager samplers compute them."""
    times: list[float] = []
    lengths: list[float] = []
    for t, t_next in pairwise(time_grid(steps)):
        dt = t_next - t
        lengths.append(dt)
        times.append(t)
        if sampler == "midpoint":
            times.append(t + 0.5 * dt)
        elif sampler == "heun":
            times.append(t_next)
    return times, lengths


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
    reason = unsupported(field, sampler, x0.device)
    if reason is None and precision not in PRECISIONS:
        reason = f"precision must be one of {PRECISIONS}"
    if reason is None and (x0.dim() != 2 or x0.shape[1] != 2 or x0.dtype != torch.float32):
        reason = f"x0 must be float32 of shape (N, 2), got {x0.dtype} {tuple(x0.shape)}"
    if reason is not None:
        raise ValueError(f"the Triton sampler cannot run this: {reason}")
    times, lengths = evaluation_times(steps, sampler)
    n = x0.shape[0]
    shape = (steps + 1, n, 2)
    if out is None:
        out = torch.empty(shape, dtype=torch.float32, device=x0.device)
    elif out.shape != shape or out.dtype != torch.float32 or not out.is_contiguous():
        raise ValueError(f"out must be contiguous float32 of shape {shape}")
    network = field.network
    width = network.config.width
    label = field.label if field.guidance == 1.0 else network.null_class
    kernels = _kernels()
    with torch.no_grad():
        as_float = {"dtype": torch.float32, "device": x0.device}
        bias, _ = ChunkedMLP(network).first_bias(torch.tensor(times, **as_float), label)
        first, *hidden = network.hidden
        weights = torch.stack([layer.weight.t() for layer in hidden])
        weights = weights.to(torch.bfloat16 if precision == "bf16" else torch.float32)
        kernels.sample_kernel[(-(-n // block),)](
            x0.contiguous(),
            out,
            bias.contiguous(),
            torch.tensor(lengths, **as_float),
            first.weight[:, :2].t().contiguous(),
            weights.contiguous(),
            torch.stack([layer.bias for layer in hidden]).contiguous(),
            network.output.weight.contiguous(),
            network.output.bias.contiguous(),
            n,
            steps,
            WIDTH=width,
            BLOCK=block,
            SAMPLER=kernels.SAMPLER_CODES[sampler],
            ACTIVATION=kernels.ACTIVATION_CODES[network.config.activation],
            PRECISION=precision,
            num_warps=num_warps,
        )
    return out
