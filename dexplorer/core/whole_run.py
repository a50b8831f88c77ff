"""What the whole-trajectory kernels share (the Triton one on CUDA, the WGSL one on any
GPU): the fields and samplers they can run, the time of every network evaluation, and the
network's weights laid out for a kernel, with the time (and a single class) folded into
the first layer's bias of each evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import Tensor

from .fields import NetworkField
from .fused import ChunkedMLP
from .samplers import time_grid

SAMPLERS = ("euler", "midpoint", "heun")
ACTIVATIONS = ("elu", "silu", "relu")
WIDTHS = (16, 32, 64, 128)
DEPTH = 3
SAMPLER_CODES = {name: code for code, name in enumerate(SAMPLERS)}
ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
"""The codes the kernels take for a sampler and an activation (the C kernel's enums, the
Triton kernel's and the WGSL shader's constants)."""


def field_unsupported(field: NetworkField, sampler: str) -> str | None:
    """Why a whole-trajectory kernel cannot integrate this field with this sampler, or
    ``None`` if it can: it needs a velocity-predicting objective (flow matching), an MLP of
    depth 3 and a width in ``WIDTHS``, an activation in ``ACTIVATIONS``, and no class, one
    class for every particle, or guidance 0 (the null class)."""
    config = field.network.config
    reasons = {
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


def check_range(start: int, stop: int, steps: int) -> None:
    """Raise a ValueError unless steps ``start`` to ``stop`` lie within a run of ``steps``."""
    if not 0 <= start <= stop <= steps:
        raise ValueError(f"steps {start} to {stop} are not within the {steps} of the trajectory")


def trajectory_problem(x0: Tensor, steps: int, out: Tensor | None) -> str | None:
    """What is wrong with the starting positions ``x0`` ((N, 2) float32) or with ``out``,
    the trajectory to fill from them ((steps + 1, N, 2), contiguous float32; ``None``: a new
    one), or ``None`` when nothing is."""
    if x0.dim() != 2 or x0.shape[1] != 2 or x0.dtype != torch.float32:
        return f"x0 must be float32 of shape (N, 2), got {x0.dtype} {tuple(x0.shape)}"
    shape = (steps + 1, x0.shape[0], 2)
    if out is not None and (
        out.shape != shape or out.dtype != torch.float32 or not out.is_contiguous()
    ):
        return (
            f"out must have shape {shape}, contiguous float32, got {out.dtype} {tuple(out.shape)}"
        )
    return None


@dataclass(frozen=True)
class KernelWeights:
    """A depth-3 MLP's float32 weights for a kernel: ``bias`` (evaluations, width) is the
    first layer's bias with each evaluation's time and class features folded in; the
    others are the layers as the network holds them (out, in)."""

    bias: Tensor
    first: Tensor
    """(width, 2): the first layer's weights for x."""
    hidden: Tensor
    """(2, width, width)."""
    hidden_bias: Tensor
    """(2, width)."""
    output: Tensor
    """(2, width)."""
    output_bias: Tensor
    """(2,)."""


def kernel_weights(field: NetworkField, times: list[float], device: torch.device) -> KernelWeights:
    """The weights of ``field``'s network for a kernel evaluating it at ``times``."""
    network = field.network
    label = field.label if field.guidance == 1.0 else network.null_class
    with torch.no_grad():
        moments = torch.tensor(times, dtype=torch.float32, device=device)
        bias, _ = ChunkedMLP(network).first_bias(moments, label)
        first, *hidden = network.hidden
        return KernelWeights(
            bias=bias.float().contiguous(),
            first=first.weight[:, :2].float().contiguous(),
            hidden=torch.stack([layer.weight for layer in hidden]).float().contiguous(),
            hidden_bias=torch.stack([layer.bias for layer in hidden]).float().contiguous(),
            output=network.output.weight.float().contiguous(),
            output_bias=network.output.bias.float().contiguous(),
        )
