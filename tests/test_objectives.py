"""Paths and objectives: boundary values, derivatives, closed-form marginals, conversions."""

import math

import pytest
import torch

from dexplorer.core.datasets import DOMAIN
from dexplorer.core.objectives import make_objective, objective_from_dict
from dexplorer.core.paths import CosinePath, LinearBetaPath, LinearPath

PATHS = [LinearPath(), CosinePath(), LinearBetaPath()]
OBJECTIVES = [
    ("flow", None),
    ("diffusion", "cosine"),
    ("diffusion", "linear_beta"),
    ("vpred", "cosine"),
    ("vpred", "linear_beta"),
]
EVERY_OBJECTIVE = [*OBJECTIVES, ("flow", "cosine"), ("flow", "linear_beta")]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_path_ends_at_noise_and_data(path):
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    a, s = path.alpha(t), path.sigma(t)
    tolerance = 0.007 if isinstance(path, LinearBetaPath) else 1e-12
    assert abs(a[0]) <= tolerance and abs(s[0] - 1) < 1e-4
    assert a[1] == pytest.approx(1.0) and s[1] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_path_derivatives_match_finite_differences(path):
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    h = 1e-6
    assert torch.allclose(path.d_alpha(t), (path.alpha(t + h) - path.alpha(t - h)) / (2 * h))
    assert torch.allclose(path.d_sigma(t), (path.sigma(t + h) - path.sigma(t - h)) / (2 * h))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_sigma_d_sigma_is_finite_up_to_the_data(path, float64):
    """sigma sigma' = d(sigma^2)/dt / 2 has a limit at t = 1 even where sigma' has none."""
    t = torch.linspace(0.05, 0.95, 19)
    assert torch.allclose(path.sigma_d_sigma(t), path.sigma(t) * path.d_sigma(t))
    one, h = torch.tensor(1.0), 1e-7
    one_sided = (path.sigma(one) ** 2 - path.sigma(one - h) ** 2) / (2 * h)
    assert float(path.sigma_d_sigma(one)) == pytest.approx(float(one_sided), abs=1e-6)


def test_linear_beta_sigma_is_steep_at_the_data_and_its_noise_rate_finite(float64):
    path = LinearBetaPath(0.1, 20.0)
    one = torch.tensor(1.0)
    assert path.d_sigma(one) == -math.inf and path.sigma_d_sigma(one) == pytest.approx(-0.05)
    t = torch.tensor([0.2, 0.6, 1.0])
    assert torch.allclose(path.diffusion(t), 0.1 + 19.9 * (1 - t))  # g^2 = beta


@pytest.mark.parametrize("path", PATHS[1:], ids=lambda p: p.name)
def test_vp_paths_preserve_variance(path):
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    assert torch.allclose(path.alpha(t) ** 2 + path.sigma(t) ** 2, torch.ones_like(t))


def test_linear_beta_matches_integrated_beta():
    """alpha(t)^2 = exp(-integral of beta over literature time u = 1 - t)."""
    path = LinearBetaPath(0.1, 20.0)
    for t in (0.0, 0.3, 0.8):
        u = torch.linspace(0, 1 - t, 20001, dtype=torch.float64)
        integral = torch.trapezoid(0.1 + 19.9 * u, u)
        expected = math.exp(-float(integral))
        assert float(path.alpha(torch.tensor(t, dtype=torch.float64)) ** 2) == pytest.approx(
            expected, rel=1e-6
        )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_marginal_of_gaussian_data_matches_closed_form(path):
    """x1 ~ N(mu, tau^2 I)  =>  x_t ~ N(a mu, (a^2 tau^2 + s^2) I)."""
    g = torch.Generator().manual_seed(0)
    n, mu, tau = 200_000, torch.tensor([1.5, -0.5]), 0.4
    x1 = mu + tau * torch.randn(n, 2, generator=g)
    noise = torch.randn(n, 2, generator=g)
    for t in (0.0, 0.25, 0.5, 0.9):
        tt = torch.full((n,), t)
        x = path.sample(x1, noise, tt)
        a, s = float(path.alpha(torch.tensor(t))), float(path.sigma(torch.tensor(t)))
        assert torch.allclose(x.mean(0), a * mu, atol=0.01)
        assert torch.allclose(x.var(0), torch.full((2,), a * a * tau * tau + s * s), rtol=0.02)


@pytest.mark.parametrize(("name", "schedule"), OBJECTIVES)
def test_conversions_round_trip(name, schedule, float64):
    objective = make_objective(name, schedule)
    path = objective.path
    g = torch.Generator().manual_seed(1)
    x1 = 6 * torch.rand(500, 2, generator=g) - 3  # data lies inside the domain
    noise = torch.randn(500, 2, generator=g)
    t = torch.rand(500, generator=g) * 0.9 + 0.05
    x = path.sample(x1, noise, t)
    tc = t[:, None]
    output = objective.target(x1, noise, t)
    estimate = objective.estimate(output, x, tc)
    assert torch.allclose(estimate.data, x1, atol=1e-9)
    assert torch.allclose(estimate.noise, noise, atol=1e-9)
    velocity = path.d_alpha(tc) * x1 + path.d_sigma(tc) * noise
    assert torch.allclose(objective.velocity(output, x, tc), velocity, atol=1e-9)


@pytest.mark.parametrize("t", [0.0, 1.0])
@pytest.mark.parametrize(("name", "schedule"), EVERY_OBJECTIVE)
def test_every_objective_is_finite_at_both_ends(name, schedule, t):
    objective = make_objective(name, schedule)
    g = torch.Generator().manual_seed(2)
    x = 4 * torch.randn(300, 2, generator=g)  # some outside the domain
    output = 3 * torch.randn(300, 2, generator=g)
    estimate = objective.estimate(output, x, torch.tensor(t))
    assert torch.isfinite(estimate.data).all() and torch.isfinite(estimate.noise).all()
    assert torch.isfinite(objective.velocity(output, x, torch.tensor(t))).all()


@pytest.mark.parametrize("schedule", ["linear", "cosine", "linear_beta"])
def test_a_velocity_estimate_at_the_data_is_its_limit(schedule, float64):
    """At t = 1 on linear beta the 2 x 2 solve is 0/0 (sigma = 0, sigma' infinite)."""
    objective = make_objective("flow", schedule)
    g = torch.Generator().manual_seed(3)
    x, output = torch.randn(100, 2, generator=g), torch.randn(100, 2, generator=g)
    at_one = objective.estimate(output, x, torch.tensor(1.0))
    near = objective.estimate(output, x, torch.tensor(1 - 1e-12))
    assert torch.allclose(at_one.data, near.data, atol=1e-5)
    assert torch.allclose(at_one.noise, near.noise, atol=1e-4)


@pytest.mark.parametrize(("name", "schedule"), EVERY_OBJECTIVE)
def test_clipped_estimates_keep_x_on_the_path(name, schedule, float64):
    """Where the data estimate is clipped to the domain, the noise estimate is recomputed
    from it, so that x = alpha x1_hat + sigma e_hat holds for every pair a sampler uses."""
    objective = make_objective(name, schedule)
    path = objective.path
    g = torch.Generator().manual_seed(4)
    x = 3 * torch.randn(500, 2, generator=g)
    output = 5 * torch.randn(500, 2, generator=g)  # estimates far outside the domain
    for t in (0.0, 0.02, 0.3, 0.7, 0.99):
        tt = torch.tensor(t)
        a, s = path.alpha(tt), path.sigma(tt)
        estimate = objective.estimate(output, x, tt)
        assert torch.allclose(estimate.noise, (x - a * estimate.data) / s, atol=1e-9)
        if objective.prediction != "velocity":
            assert float(estimate.data.abs().max()) == DOMAIN  # clipped, and some were


def test_epsilon_data_estimate_is_clipped_where_alpha_vanishes():
    objective = make_objective("diffusion", "cosine")
    x = torch.tensor([[0.5, -0.2]])
    estimate = objective.estimate(torch.zeros(1, 2), x, torch.tensor(0.0))
    assert torch.isfinite(estimate.data).all()
    assert estimate.data.abs().max() <= 3.5


@pytest.mark.parametrize(("name", "schedule"), OBJECTIVES)
def test_objective_metadata_round_trips(name, schedule):
    objective = make_objective(name, schedule)
    again = objective_from_dict(objective.to_dict())
    assert again.to_dict() == objective.to_dict()


def test_bad_objective_choices_are_refused():
    with pytest.raises(ValueError, match="unknown objective"):
        make_objective("score")
    with pytest.raises(ValueError, match="variance preserving"):
        make_objective("diffusion", "linear")
    with pytest.raises(ValueError, match="flow matching only"):
        make_objective("vpred", ot_coupling=True)
    with pytest.raises(ValueError, match="unknown schedule"):
        make_objective("flow", "sigmoid")
