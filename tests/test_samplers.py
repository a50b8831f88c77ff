"""Samplers on exact fields of a small Gaussian mixture, where the answer is known."""

import numpy as np
import pytest
import torch

from dexplorer.core.datasets import DOMAIN, make_dataset
from dexplorer.core.fields import ExactField, NetworkField
from dexplorer.core.metrics import energy_distance
from dexplorer.core.networks import build_network
from dexplorer.core.objectives import make_objective
from dexplorer.core.paths import CosinePath, LinearBetaPath, LinearPath
from dexplorer.core.samplers import SAMPLERS, SamplerSettings, finite_particles, iterate, sample
from dexplorer.core.training import Trainer, TrainSettings

CENTRES = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.0]])
SPREAD = 0.5
PATHS = [LinearPath(), CosinePath(), LinearBetaPath()]


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
        path.name: sample(mixture_field(path), 400, 1000, "rk4", seed=0)[-1] for path in PATHS
    }
    torch.set_default_dtype(previous)
    return solutions


@pytest.mark.parametrize("path", [LinearPath(), CosinePath()], ids=lambda p: p.name)
def test_ode_samplers_agree_at_many_steps(path):
    field = mixture_field(path)
    finals = {name: sample(field, 400, 400, name, seed=3)[-1] for name in ("euler", "heun", "rk4")}
    assert float((finals["heun"] - finals["rk4"]).abs().max()) < 1e-3
    assert float((finals["euler"] - finals["rk4"]).norm(dim=1).mean()) < 5e-3


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
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
    """Doubling the steps divides the error by 2^order: also on linear beta, where Heun's
    and RK4's last stage is the velocity at t = 1, whose noise term needs its limit."""
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


LANDING = 1.25 * DOMAIN
"""Where particles started far out must end: in the domain, up to the error of a last step
across the steep part of the field (about 10 % on linear beta with 20 steps)."""


class ExtrapolatingNetwork(NetworkField):
    """A network whose output grows like ``slope`` x far from the data, as a trained MLP's
    does: the noise estimate of a particle thrown out then outgrows the data estimate."""

    slope = 3.0

    def _network_output(self, x, t):
        return self.slope * x


@pytest.mark.parametrize("schedule", ["cosine", "linear_beta"])
@pytest.mark.parametrize("name", ["diffusion", "vpred"])
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_particles_thrown_out_come_back_to_the_domain(sampler, name, schedule):
    """With the noise estimate recomputed from the clipped data estimate, a step cannot
    amplify it: no particle ever goes further out than it started (DDPM's did, 2.7x per
    step to inf), and every one ends in the domain, up to the last step's error."""
    field = ExtrapolatingNetwork(build_network("original"), make_objective(name, schedule))
    start = 10 * torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    settings = SamplerSettings(eta=1.0, generator=torch.Generator().manual_seed(1))
    steps = torch.stack(list(iterate(field, start, 20, sampler, settings)))
    assert float(steps.abs().max()) <= float(start.abs().max())
    assert float(steps[-1].abs().max()) <= LANDING


OBJECTIVE_NAMES = ("flow", "diffusion", "vpred")


@pytest.fixture(scope="module")
def tiny_models():
    """One small network per objective, trained briefly on 300 points."""
    dataset = make_dataset("smiley", n=300, seed=0)
    fields = {}
    for name in OBJECTIVE_NAMES:
        settings = TrainSettings(objective=name, preset="original", batch_size=128, seed=0)
        trainer = Trainer(dataset, settings)
        trainer.run(steps=150)
        fields[name] = trainer.checkpoint().field()
    return fields


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_trained_models_sample_finite_points_with_every_sampler(name, tiny_models):
    """Several seeds, and particles started far out as well as from N(0, I)."""
    field = tiny_models[name]
    for sampler in SAMPLERS:
        for seed in range(3):
            trajectory = sample(field, 300, 20, sampler, seed=seed, eta=0.5)
            assert bool(finite_particles(trajectory).all()), (sampler, seed)
            start = 8 * torch.randn(100, 2, generator=torch.Generator().manual_seed(seed))
            settings = SamplerSettings(eta=1.0, generator=torch.Generator().manual_seed(seed))
            *_, final = iterate(field, start, 20, sampler, settings)
            assert bool(finite_particles(final).all()), (sampler, seed)
            if name != "flow":  # a velocity is not clipped (Objective.velocity says why)
                assert float(final.abs().max()) <= LANDING, (sampler, seed)


@pytest.mark.parametrize("name", ["diffusion", "vpred"])
def test_trained_model_estimates_keep_x_on_the_path(name, tiny_models):
    """The noise estimate is (x - alpha x1_hat) / sigma, also where x1_hat was clipped."""
    field, path = tiny_models[name], tiny_models[name].path
    x = 4 * torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    for t in (0.0, 0.05, 0.5, 0.95):
        tt = torch.tensor(t)
        with torch.inference_mode():
            estimate = field.estimate(x, tt)
        expected = (x - path.alpha(tt) * estimate.data) / path.sigma(tt)
        assert torch.allclose(estimate.noise, expected, atol=1e-4), t
        assert float(estimate.data.abs().max()) <= DOMAIN
