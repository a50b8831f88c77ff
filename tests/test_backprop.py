"""The training step's hand-written backward pass: the same loss and gradients as autograd
for every activation, the time embeddings, class labels (with the null class) and a skip."""

import copy

import pytest
import torch
from torch.nn import functional as F

from dexplorer.core.backprop import MSEBackprop
from dexplorer.core.datasets import Dataset, make_dataset
from dexplorer.core.networks import ACTIVATIONS, NetworkConfig, build_network
from dexplorer.core.training import Trainer, TrainSettings

B = 96


def case(config: NetworkConfig, labelled: bool):
    torch.manual_seed(2)
    net = build_network(config, config.num_classes)
    with torch.no_grad():  # larger weights, so every activation's negative side is used
        for p in net.parameters():
            p.mul_(2.0)
    x, t, target = torch.randn(B, 2), torch.rand(B), torch.randn(B, 2)
    labels = torch.arange(B) % (config.num_classes + 1) if labelled else None
    return net, x, t, labels, 0.3 * x, target


def autograd_gradients(net, x, t, labels, skip, target):
    net.zero_grad(set_to_none=True)
    loss = F.mse_loss(net(x, t, labels) + skip, target)
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in net.named_parameters()}


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("time_embedding", ["fourier", "raw"])
@pytest.mark.parametrize("num_classes", [0, 3])
def test_loss_and_gradients_equal_autograd(activation, time_embedding, num_classes):
    config = NetworkConfig(
        width=24, activation=activation, time_embedding=time_embedding, time_features=8
    )
    net, x, t, labels, skip, target = case(config.with_classes(num_classes), num_classes > 0)
    expected_loss, expected = autograd_gradients(net, x, t, labels, skip, target)
    net.zero_grad(set_to_none=True)
    loss = MSEBackprop(net)(x, t, labels, skip, target)
    assert torch.allclose(loss, expected_loss, rtol=1e-6)
    for name, p in net.named_parameters():
        assert torch.allclose(p.grad, expected[name], rtol=1e-5, atol=1e-6), name


def test_missing_labels_mean_the_null_class():
    net, x, t, _, skip, target = case(NetworkConfig(width=16).with_classes(2), False)
    null = torch.full((B,), net.null_class)
    _, expected = autograd_gradients(net, x, t, null, skip, target)
    MSEBackprop(net)(x, t, None, skip, target)
    assert torch.allclose(net.class_embedding.weight.grad, expected["class_embedding.weight"])
    assert net.class_embedding.weight.grad[:2].abs().max() == 0


def test_a_training_step_moves_the_weights_as_autograd_would():
    """One optimiser step of the trainer against the same step through autograd."""
    data = Dataset.custom(make_dataset("moons", n=2000, seed=0).points)
    trainer = Trainer(data, TrainSettings(batch_size=64))
    reference = copy.deepcopy(trainer.network)
    learning_rate = trainer._learning_rate(0.0)
    generator_state = trainer.generator.get_state()
    x1, noise, t, _ = trainer._batch()
    trainer.generator.set_state(generator_state)
    trainer.run(steps=1)
    xt = trainer.objective.path.sample(x1, noise, t)
    loss = F.mse_loss(reference(xt, t), trainer.objective.target(x1, noise, t))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
    optimizer = torch.optim.AdamW(reference.parameters(), lr=learning_rate, weight_decay=0.0)
    optimizer.step()
    trained = trainer.network.parameters()
    for (name, p), q in zip(reference.named_parameters(), trained, strict=True):
        assert torch.allclose(p, q, atol=1e-6), name
