"""Fast network evaluation for the samplers: the MLP run over chunks of particles small
enough for their activations to stay in cache, with the time (and class) features folded
into the first layer's bias once per call, written into preallocated buffers with in-place
activations. Optionally a ``torch.compile``'d chunk kernel, which falls back to the eager
kernel when it cannot be built."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from .networks import MLP

CPU_CHUNK_VALUES = 1 << 18
"""Activations per chunk on a CPU (4096 particles of a width-64 network, 2048 of width
128): the two layers' buffers, 2 MiB of float32, stay in the cores' L2 caches."""
GPU_CHUNK_VALUES = 1 << 27
"""Activations per chunk on a GPU (512 MiB of float32 per layer buffer): chunks large
enough that kernel launches are a small share of the time."""

log = logging.getLogger(__name__)


def _elu(h: Tensor, scratch: Tensor) -> None:
    """ELU in place as max(h, 0) + exp(min(h, 0)) - 1: exp is about twice as fast as the
    expm1 that torch's ELU calls, at an absolute error below 1e-7 in float32."""
    torch.clamp_max(h, 0, out=scratch).exp_()
    h.clamp_min_(0).add_(scratch).sub_(1)


INPLACE_ACTIVATIONS: dict[str, Callable[[Tensor, Tensor], object]] = {
    "silu": lambda h, _: F.silu(h, inplace=True),
    "elu": _elu,
    "relu": lambda h, _: h.relu_(),
    "gelu": lambda h, _: h.copy_(F.gelu(h)),
}
"""Each activation applied to its first argument in place; the second is a scratch buffer
of the same shape."""


class ChunkedMLP:
    """Evaluates an :class:`~dexplorer.core.networks.MLP` at one time t for many particles.

    Owns only the evaluation plan (chunk size, the compiled kernel if any): the weights are
    read from the network at every call, so a network that is still training is evaluated
    as it is now. Buffers are allocated per call, so two threads may share one instance.

    Parameters
    ----------
    network : MLP
        The network to evaluate.
    chunk : int, optional
        Particles per chunk; by default ``CPU_CHUNK_VALUES / width`` on a CPU and
        ``GPU_CHUNK_VALUES / width`` on a GPU.
    compile : str, optional
        A ``torch.compile`` mode (``"default"``, ``"reduce-overhead"``, ...) to run each
        chunk through a compiled kernel; when compiling fails the eager kernel is used from
        then on and a warning is logged. ``None``: eager only.
    """

    def __init__(self, network: MLP, chunk: int | None = None, compile: str | None = None) -> None:
        if chunk is not None and chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {chunk}")
        self.network = network
        self.chunk = chunk
        self.activation = INPLACE_ACTIVATIONS[network.config.activation]
        self.compiled: Callable[..., Tensor] | None = None
        if compile is not None:
            self.compiled = torch.compile(_pure_chunk, mode=compile, dynamic=False, fullgraph=True)

    def applies(self, x: Tensor, t: Tensor) -> bool:
        """Whether :meth:`__call__` can evaluate this input (one shared time, no autograd)."""
        if t.dim():
            return False
        if not torch.is_grad_enabled():
            return True
        return not x.requires_grad and not any(p.requires_grad for p in self.network.parameters())

    def first_bias(self, t: Tensor, labels: Tensor | int | None) -> tuple[Tensor, Tensor | None]:
        """The first layer's bias at time t: (shared part (width,), per-particle class rows
        (n, width) or None)."""
        net = self.network
        first = net.hidden[0]
        time_dim = net.config.time_dim
        bias = F.linear(net.time_features(t), first.weight[:, 2 : 2 + time_dim], first.bias)
        if not net.config.num_classes:
            return bias, None
        table = F.linear(net.class_embedding.weight, first.weight[:, 2 + time_dim :])
        if labels is None:
            labels = net.null_class
        if isinstance(labels, Tensor) and labels.dim():
            return bias, table.index_select(0, labels.to(table.device))
        return bias + table[int(labels)], None

    def __call__(self, x: Tensor, t: Tensor, labels: Tensor | int | None = None) -> Tensor:
        """``network(x, t, labels)`` for a 0-d ``t``, chunk by chunk.

        Parameters
        ----------
        x : Tensor
            Positions, shape (N, 2).
        t : Tensor
            One time for all particles (0-d).
        labels : Tensor or int, optional
            One class, one per particle (N,), or ``None`` (the null class).
        """
        with torch.no_grad():
            bias, rows = self.first_bias(t, labels)
            n = x.shape[0]
            values = CPU_CHUNK_VALUES if x.device.type == "cpu" else GPU_CHUNK_VALUES
            chunk = self.chunk or max(256, values // self.network.config.width)
            size = min(n, chunk)
            out = torch.empty((n, 2), dtype=x.dtype, device=x.device)
            if self.compiled is not None and rows is None:
                try:
                    return self._compiled_chunks(x, bias, out, size)
                except Exception as error:  # no compiler, an unsupported device: run eagerly
                    log.warning("compiled sampling kernel unavailable, using eager: %s", error)
                    self.compiled = None
            return self._eager_chunks(x, bias, rows, out, size)

    def _eager_chunks(
        self, x: Tensor, bias: Tensor, rows: Tensor | None, out: Tensor, size: int
    ) -> Tensor:
        h = torch.empty((size, self.network.config.width), dtype=x.dtype, device=x.device)
        g = torch.empty_like(h)
        scratch = torch.empty_like(h)
        row_bias = None if rows is None else torch.empty_like(h)
        for start in range(0, x.shape[0], size):
            stop = min(start + size, x.shape[0])
            m = stop - start
            chunk_bias = bias
            if rows is not None:
                chunk_bias = torch.add(rows[start:stop], bias, out=row_bias[:m])
            parts = h[:m], g[:m], scratch[:m]
            self._eager_chunk(x[start:stop], chunk_bias, out[start:stop], *parts)
        return out

    def _eager_chunk(
        self, x: Tensor, bias: Tensor, out: Tensor, h: Tensor, g: Tensor, scratch: Tensor
    ) -> None:
        first, *rest = self.network.hidden
        torch.addmm(bias, x, first.weight[:, :2].t(), out=h)
        self.activation(h, scratch)
        for layer in rest:
            torch.addmm(layer.bias, h, layer.weight.t(), out=g)
            self.activation(g, scratch)
            h, g = g, h
        output = self.network.output
        torch.addmm(output.bias, h, output.weight.t(), out=out)

    def _compiled_chunks(self, x: Tensor, bias: Tensor, out: Tensor, size: int) -> Tensor:
        """Run the compiled kernel over chunks of exactly ``size`` rows (the last one padded),
        so the kernel is built once per chunk size."""
        net = self.network
        weights = [net.hidden[0].weight[:, :2]] + [layer.weight for layer in net.hidden[1:]]
        biases = [bias] + [layer.bias for layer in net.hidden[1:]]
        padded = torch.zeros((size, 2), dtype=x.dtype, device=x.device)
        for start in range(0, x.shape[0], size):
            stop = min(start + size, x.shape[0])
            part = x[start:stop]
            if stop - start < size:
                padded[: stop - start] = part
                part = padded
            y = self.compiled(
                part, weights, biases, net.output.weight, net.output.bias, net.config.activation
            )
            out[start:stop] = y[: stop - start]
        return out


def _pure_chunk(
    x: Tensor,
    weights: list[Tensor],
    biases: list[Tensor],
    w_out: Tensor,
    b_out: Tensor,
    activation: str,
) -> Tensor:
    """The MLP on one chunk as a pure function, for ``torch.compile`` to fuse."""
    act = {"silu": F.silu, "elu": F.elu, "relu": F.relu, "gelu": F.gelu}[activation]
    h = x
    for w, b in zip(weights, biases, strict=True):
        h = act(F.linear(h, w, b))
    return F.linear(h, w_out, b_out)
