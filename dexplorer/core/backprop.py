"""The training step's network pass without autograd: the MLP's forward and backward written
out as matrix products, so a small network's step spends its time in arithmetic rather than
in building and walking a graph (on two CPU cores that bookkeeping is half of a step)."""

from __future__ import annotations

import torch
from torch import Tensor

from .networks import MLP


def _activation_backward(name: str, grad: Tensor, z: Tensor) -> Tensor:
    """The gradient through ``activation(z)``."""
    if name == "silu":
        return torch.ops.aten.silu_backward(grad, z)
    if name == "elu":
        return torch.ops.aten.elu_backward(grad, 1.0, 1, 1.0, False, z)
    if name == "relu":
        return torch.ops.aten.threshold_backward(grad, z, 0.0)
    return torch.ops.aten.gelu_backward(grad, z)


class MSEBackprop:
    """Computes an MLP's mean squared error against a target and writes every parameter's
    ``.grad``, with the forward and backward pass written out instead of autograd's.

    Owns nothing but the network reference: the weights are read at every call, so the
    optimiser's updates are seen. The result equals autograd's (a test compares them).
    """

    def __init__(self, network: MLP) -> None:
        self.network = network
        self.activation = network.config.activation

    def __call__(
        self, x: Tensor, t: Tensor, labels: Tensor | None, skip: Tensor | float, target: Tensor
    ) -> Tensor:
        """The loss ``mean((network(x, t, labels) + skip - target)^2)``; sets the gradients.

        Parameters
        ----------
        x, t, labels
            The network's input: positions (B, 2), times (B,), class labels (B,) or ``None``.
        skip : Tensor or float
            The part of the prediction that does not come from the network.
        target : Tensor
            What the prediction should be, (B, 2).
        """
        network = self.network
        with torch.no_grad():
            parts = [x, network.time_features(t)]
            if network.config.num_classes:
                if labels is None:
                    labels = torch.full_like(t, network.null_class, dtype=torch.long)
                parts.append(network.class_embedding.weight[labels])
            inputs = [torch.cat(parts, dim=1)]
            before = []
            activate = network.activation
            for layer in network.hidden:
                z = torch.addmm(layer.bias, inputs[-1], layer.weight.t())
                before.append(z)
                inputs.append(activate(z))
            output = network.output
            residual = torch.addmm(output.bias, inputs[-1], output.weight.t())
            residual += skip
            residual -= target
            loss = residual.square().mean()
            grad = residual.mul_(2.0 / residual.numel())
            layers = [*network.hidden, output]
            for index in range(len(layers) - 1, -1, -1):
                layer = layers[index]
                layer.weight.grad = grad.t().mm(inputs[index])
                layer.bias.grad = grad.sum(0)
                if index == 0 and not network.config.num_classes:
                    break
                grad = grad.mm(layer.weight)
                if index:
                    grad = _activation_backward(self.activation, grad, before[index - 1])
            if network.config.num_classes:
                embedding = network.class_embedding.weight
                features = embedding.shape[1]  # the class embedding's columns come last
                embedding.grad = torch.zeros_like(embedding).index_add_(
                    0, labels, grad[:, -features:]
                )
        return loss
