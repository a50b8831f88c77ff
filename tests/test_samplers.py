"""Samplers on exact fields of a small Gaussian mixture, where the answer is known."""

import numpy as np
import pytest
import torch

from dexplorer.core.fields import ExactField
from dexplorer.core.metrics import energy_distance
from dexplorer.core.paths import CosinePath, LinearPath
from dexplorer.core.samplers import SAMPLERS, sample

CENTRES = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.0]])
SPREAD = 0.5


def mixture_field(path):
    return ExactField(CENTRES, path, spread=SPREAD)


def mixture_draw(n, seed):
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(0, 3, (n,), generator=g)
    return CENTRES[which] + SPREAD * torch.randn(n, 2, generator=g)


def final_error(field, sampler, steps, reference, n=400):
    return float((sample(field, n, steps, sampler, seed=0)[-1] - reference).norm(dim=1).mean())


@pytest.fixture(scope="module")
def references():
    """Float64 RK4 solutions with 1000 steps, one per path."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    solutions = {
        path.name: sample(mixture_field(path), 400, 1000, "rk4", seed=0)[-1]
        for path in (LinearPath(), CosinePath())
    }
    torch.set_default_dtype(previous)
    return solutions


@pytest.mark.parametrize("path", [LinearPath(), CosinePath()], ids=lambda p: p.name)
def test_ode_samplers_agree_at_many_steps(path):
    field = mixture_field(path)
    finals = {name: sample(field, 400, 400, name, seed=3)[-1] for name in ("euler", "heun", "rk4")}
    assert float((finals["heun"] - finals["rk4"]).abs().max()) < 1e-3
    assert float((finals["euler"] - finals["rk4"]).norm(dim=1).mean()) < 5e-3


@pytest.mark.parametrize("path", [LinearPath(), CosinePath()], ids=lambda p: p.name)
@pytest.mark.parametrize(
    ("sampler", "low", "high"),
    [
        ("euler", 1.7, 2.3),
        ("midpoint", 3.2, 4.8),
        ("heun", 3.2, 4.8),
        ("rk4", 12.0, 20.0),
    ],
)
def test_ode_samplers_show_their_order(path, sampler, low, high, references, float64):
    """Doubling the steps divides the error by 2^order."""
    field = mixture_field(path)
    reference = references[path.name]
    errors = [final_error(field, sampler, steps, reference) for steps in (32, 64, 128)]
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(low < r < high for r in ratios), (errors, ratios)


@pytest.mark.parametrize("path", [LinearPath(), CosinePath()], ids=lambda p: p.name)
def test_ddim_with_eta_zero_is_deterministic_and_solves_the_ode(path):
    field = mixture_field(path)
    first = sample(field, 300, 200, "ddim", seed=5, eta=0.0)
    again = sample(field, 300, 200, "ddim", seed=5, eta=0.0)
    assert torch.equal(first, again)
    reference = sample(field, 300, 400, "rk4", seed=5)[-1]
    assert float((first[-1] - reference).norm(dim=1).mean()) < 0.02


def test_ddim_on_the_linear_path_is_the_euler_step():
    field = mixture_field(LinearPath())
    ddim = sample(field, 200, 20, "ddim", seed=2)
    euler = sample(field, 200, 20, "euler", seed=2)
    assert torch.allclose(ddim, euler, atol=1e-5)


@pytest.mark.parametrize(
    ("sampler", "path", "options"),
    [
        ("ddpm", CosinePath(), {}),
        ("ddim", CosinePath(), {"eta": 0.5}),
        ("euler_maruyama", LinearPath(), {"noise_scale": 1.0}),
        ("euler_maruyama", CosinePath(), {"noise_scale": 2.0}),
        ("ddpm", LinearPath(), {}),
    ],
)
def test_stochastic_samplers_reach_the_data_distribution(sampler, path, options):
    field = mixture_field(path)
    final = sample(field, 3000, 200, sampler, seed=0, **options)[-1]
    baseline = energy_distance(mixture_draw(3000, 1), mixture_draw(3000, 2))
    assert energy_distance(final, mixture_draw(3000, 3)) < 1.5 * baseline
    deterministic = sample(field, 3000, 200, "heun", seed=0)[-1]
    assert float((final - deterministic).norm(dim=1).mean()) > 0.1  # noise really was added


def test_trajectory_starts_from_standard_normal_at_t0():
    for path in (LinearPath(), CosinePath()):
        start = sample(mixture_field(path), 20000, 4, "ddpm", seed=0)[0]
        assert float(start.mean(0).abs().max()) < 0.03
        covariance = torch.cov(start.T)
        assert torch.allclose(covariance, torch.eye(2), atol=0.03)


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_fixed_seed_gives_identical_trajectories(sampler):
    field = mixture_field(CosinePath())
    first = sample(field, 256, 10, sampler, seed=7, eta=0.3)
    assert first.shape == (11, 256, 2)
    assert torch.equal(first, sample(field, 256, 10, sampler, seed=7, eta=0.3))
    assert not torch.equal(first, sample(field, 256, 10, sampler, seed=8, eta=0.3))


def test_sample_writes_into_a_given_tensor():
    out = torch.zeros(6, 50, 2)
    result = sample(mixture_field(LinearPath()), 50, 5, "midpoint", seed=0, out=out)
    assert result is out and bool((out[1:] != 0).all())


def test_bad_sampler_arguments_are_refused():
    field = mixture_field(LinearPath())
    for steps in (0, 1001):
        with pytest.raises(ValueError, match="steps"):
            sample(field, 10, steps, "euler")
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(field, 10, 10, "dpm++")
    with pytest.raises(ValueError, match="eta"):
        sample(field, 10, 10, "ddim", eta=1.5)
    with pytest.raises(ValueError, match="noise scale"):
        sample(field, 10, 10, "euler_maruyama", noise_scale=-1)
    with pytest.raises(ValueError, match="particles"):
        sample(field, 0, 10, "euler")
    with pytest.raises(ValueError, match="out has shape"):
        sample(field, 10, 10, "euler", out=torch.zeros(3, 10, 2))
    assert np.isfinite(sample(field, 10, 1, "rk4").numpy()).all()
