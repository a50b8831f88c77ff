"""The WGSL whole-trajectory sampler: the eager samplers' trajectories on the wgpu device
(lavapipe here), for each sampler and activation, a single class, and the refusals."""

import pytest
import torch
from test_scene import _adapter_problem

from dexplorer.core.fields import NetworkField
from dexplorer.core.networks import NetworkConfig, build_network
from dexplorer.core.objectives import make_objective
from dexplorer.core.samplers import initial_noise, sample

pytestmark = pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())

N, STEPS = 100, 6


@pytest.fixture(scope="module")
def sampler():
    from dexplorer.engine.wgsl_sampler import WgslSampler

    return WgslSampler()


def flow_field(activation="elu", num_classes=0, label=None, guidance=1.0, objective="flow"):
    torch.manual_seed(3)
    config = NetworkConfig(width=16, activation=activation, time_embedding="fourier")
    network = build_network(config, num_classes).eval().requires_grad_(False)
    with torch.no_grad():  # larger weights, so the activations' negative side is used
        for p in network.parameters():
            p.mul_(2.0)
    return NetworkField(network, make_objective(objective), label, guidance)


@pytest.mark.parametrize(
    ("name", "activation"), [("euler", "elu"), ("midpoint", "silu"), ("heun", "relu")]
)
def test_trajectories_equal_the_eager_samplers(sampler, name, activation):
    field = flow_field(activation)
    expected = sample(field, N, STEPS, name, seed=1)
    x0, _ = initial_noise(N, 1)
    got = sampler.sample(field, x0, STEPS, name)
    assert got.shape == (STEPS + 1, N, 2)
    assert torch.equal(got[0], x0)
    assert (got - expected).abs().max() < 1e-5


def test_one_class_for_every_particle(sampler):
    field = flow_field(num_classes=3, label=2)
    x0, _ = initial_noise(N, 1)
    expected = sample(field, N, STEPS, "euler", seed=1)
    assert (sampler.sample(field, x0, STEPS, "euler") - expected).abs().max() < 1e-5


@pytest.mark.parametrize(
    ("field", "name", "reason"),
    [
        (lambda: flow_field(), "ddim", "sampler must be one of"),
        (lambda: flow_field(objective="diffusion"), "euler", "velocity-predicting"),
        (lambda: flow_field(num_classes=3, label=torch.arange(N) % 3), "euler", "one class"),
    ],
)
def test_what_it_cannot_run_is_refused_with_the_reason(sampler, field, name, reason):
    x0, _ = initial_noise(N, 1)
    with pytest.raises(ValueError, match=reason):
        sampler.sample(field(), x0, STEPS, name)


def test_an_output_larger_than_the_device_allows_is_refused(sampler):
    x0 = torch.zeros(1 << 20, 2)
    limit = sampler.device.limits["max-buffer-size"]
    steps = limit // (8 << 20) + 1
    with pytest.raises(ValueError, match="MiB, over the device's"):
        sampler.run(flow_field(), x0, steps, "euler")
