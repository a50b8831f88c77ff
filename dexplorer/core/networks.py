"""Small MLPs over (x, t[, class]) that the objectives train and the samplers call."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from itertools import pairwise

import torch
from torch import Tensor, nn
from torch.nn import functional as F

ACTIVATIONS = {"silu": F.silu, "elu": F.elu, "relu": F.relu, "gelu": F.gelu}
TIME_EMBEDDINGS = ("fourier", "raw")


@dataclass(frozen=True)
class NetworkConfig:
    """The shape of an :class:`MLP`: everything needed to rebuild it from a checkpoint.

    Parameters
    ----------
    width, depth : int
        Hidden layer size and number of hidden layers.
    activation : str
        One of ``ACTIVATIONS``.
    time_embedding : str
        ``"fourier"`` (sin/cos features of t at geometric frequencies) or ``"raw"`` (t itself).
    time_features : int
        Number of Fourier features (sin and cos pairs count twice); ignored for ``"raw"``.
    num_classes : int
        0 for an unconditional network; otherwise labels 0..num_classes-1 plus a null class.
    class_features : int
        Size of the learned class embedding.
    """

    width: int = 128
    depth: int = 3
    activation: str = "silu"
    time_embedding: str = "fourier"
    time_features: int = 32
    num_classes: int = 0
    class_features: int = 16

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}")
        if self.time_embedding not in TIME_EMBEDDINGS:
            raise ValueError(f"time_embedding must be one of {TIME_EMBEDDINGS}")
        for field in ("width", "depth", "time_features", "class_features"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1")
        if self.time_embedding == "fourier" and self.time_features % 2:
            raise ValueError("time_features must be even (sin and cos pairs)")
        if self.num_classes < 0:
            raise ValueError("num_classes must be non-negative")

    @property
    def time_dim(self) -> int:
        return 1 if self.time_embedding == "raw" else self.time_features

    @property
    def class_dim(self) -> int:
        return self.class_features if self.num_classes else 0

    def to_dict(self) -> dict:
        return asdict(self)

    def with_classes(self, num_classes: int) -> NetworkConfig:
        return replace(self, num_classes=num_classes)


PRESETS: dict[str, NetworkConfig] = {
    "default": NetworkConfig(),
    # The original Diffusion Explorer's network: 3 hidden layers of 64, ELU, raw t next to x.
    "original": NetworkConfig(width=64, depth=3, activation="elu", time_embedding="raw"),
}


class MLP(nn.Module):
    """A multilayer perceptron f(x, t, class) -> R^2, owning its layers and time features.

    The first layer's weight is split into the columns for x and for the (time, class)
    features, so a call with one scalar t (every particle at the same time, as in sampling)
    computes the time features once and adds them as a bias.
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        in_features = 2 + config.time_dim + config.class_dim
        widths = [in_features] + [config.width] * config.depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(widths))
        self.output = nn.Linear(config.width, 2)
        self.activation = ACTIVATIONS[config.activation]
        if config.num_classes:
            self.class_embedding = nn.Embedding(config.num_classes + 1, config.class_features)
        if config.time_embedding == "fourier":
            half = config.time_features // 2
            frequencies = torch.logspace(0, math.log10(200.0), half) * math.pi
            self.register_buffer("frequencies", frequencies, persistent=False)

    @property
    def null_class(self) -> int:
        """The label meaning "no class" (for classifier-free guidance)."""
        return self.config.num_classes

    def time_features(self, t: Tensor) -> Tensor:
        """Features of t with shape ``t.shape + (time_dim,)``."""
        if self.config.time_embedding == "raw":
            return t.unsqueeze(-1)
        angles = t.unsqueeze(-1) * self.frequencies
        return torch.cat([angles.sin(), angles.cos()], dim=-1)

    def forward(self, x: Tensor, t: Tensor | float, labels: Tensor | int | None = None) -> Tensor:
        """Evaluate the network.

        Parameters
        ----------
        x : Tensor
            Positions, shape (N, 2).
        t : Tensor or float
            Time in [0, 1]: a scalar for all particles, or shape (N,).
        labels : Tensor or int, optional
            Class labels, scalar or (N,); ``None`` or ``null_class`` means unconditional.
            Ignored by unconditional networks.
        """
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        features = self.time_features(t)
        if self.config.num_classes:
            if labels is None:
                labels = self.null_class
            labels = torch.as_tensor(labels, dtype=torch.long, device=x.device)
            embedded = self.class_embedding(labels)
            features, embedded = _match_batch(features, embedded)
            features = torch.cat([features, embedded], dim=-1)
        first = self.hidden[0]
        bias = F.linear(features, first.weight[:, 2:], first.bias)
        h = self.activation(F.linear(x, first.weight[:, :2]) + bias)
        for layer in self.hidden[1:]:
            h = self.activation(layer(h))
        return self.output(h)


def _match_batch(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Expand one of two feature tensors (shapes (F,) or (N, F)) to the other's batch."""
    if a.dim() < b.dim():
        a = a.expand(b.shape[0], -1)
    elif b.dim() < a.dim():
        b = b.expand(a.shape[0], -1)
    return a, b


def parameter_shapes(config: NetworkConfig) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of ``MLP(config)``, known without allocating it (so a model
    file can be checked before its network is built)."""
    widths = [2 + config.time_dim + config.class_dim] + [config.width] * config.depth
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (a, b) in enumerate(pairwise(widths)):
        shapes[f"hidden.{i}.weight"] = (b, a)
        shapes[f"hidden.{i}.bias"] = (b,)
    shapes["output.weight"] = (2, config.width)
    shapes["output.bias"] = (2,)
    if config.num_classes:
        shapes["class_embedding.weight"] = (config.num_classes + 1, config.class_features)
    return shapes


def build_network(preset: str | NetworkConfig = "default", num_classes: int | None = None) -> MLP:
    """Build an MLP from a preset name or a config; ``num_classes`` overrides its classes."""
    config = PRESETS[preset] if isinstance(preset, str) else preset
    return MLP(config if num_classes is None else config.with_classes(num_classes))


def count_parameters(network: nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())
