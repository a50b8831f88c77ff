"""The Triton kernel's arithmetic emulated in torch (core.triton_sampler.reference): float32
against the eager samplers, and bfloat16's accuracy on a shipped model. Needs no triton."""

import pytest
import torch

from dexplorer.core import triton_sampler, whole_run
from dexplorer.core.checkpoints import load_checkpoint
from dexplorer.core.datasets import make_dataset
from dexplorer.core.fields import NetworkField
from dexplorer.core.metrics import QualityReference
from dexplorer.core.networks import build_network
from dexplorer.core.objectives import make_objective
from dexplorer.core.pretrained import pretrained_path
from dexplorer.core.samplers import initial_noise, sample

N = 200
STEPS = 6


@pytest.mark.parametrize("sampler", whole_run.SAMPLERS)
@pytest.mark.parametrize("preset", ["original", "default"])
def test_float32_matches_the_eager_samplers(preset, sampler):
    torch.manual_seed(1)
    network = build_network(preset).eval().requires_grad_(False)
    field = NetworkField(network, make_objective("flow"))
    x0, _ = initial_noise(N, 3)
    got = triton_sampler.reference(field, x0, STEPS, sampler)
    assert (got - sample(field, N, STEPS, sampler, seed=3)).abs().max() < 1e-5


def test_bf16_keeps_the_samples_of_a_trained_model():
    """bfloat16 hidden layers (float32 sums, positions and outer layers) on the shipped
    checkerboard flow model, Heun, 50 steps: the final positions within 0.05 of float32
    (the data spans 6), half of them within 0.003, and the same quality number."""
    model = load_checkpoint(pretrained_path("checkerboard/flow"))
    x0, _ = initial_noise(2000, 0)
    full, half = (
        triton_sampler.reference(model.field(), x0, 50, "heun", precision)[-1]
        for precision in ("ieee", "bf16")
    )
    distance = (half - full).norm(dim=1)
    assert 0 < distance.max() < 0.05
    assert distance.median() < 0.003
    reference = QualityReference(make_dataset("checkerboard", 2000, 0).points)
    assert reference.measure(half).ratio == pytest.approx(reference.measure(full).ratio, abs=0.02)


def test_says_what_it_cannot_run():
    field = NetworkField(build_network("original"), make_objective("flow"))
    x0, _ = initial_noise(N, 3)
    with pytest.raises(ValueError, match="precision"):
        triton_sampler.reference(field, x0, STEPS, "euler", "fp8")
    with pytest.raises(ValueError, match="sampler"):
        triton_sampler.reference(field, x0, STEPS, "rk4")
