"""Fields: the exact field against closed forms, memorisation, guidance arithmetic."""

import numpy as np
import pytest
import torch

from dexplorer.core.fields import CPU_CHUNK_ELEMENTS, ExactField, NetworkField
from dexplorer.core.networks import build_network
from dexplorer.core.objectives import make_objective
from dexplorer.core.paths import CosinePath, LinearBetaPath, LinearPath
from dexplorer.core.samplers import sample


@pytest.mark.parametrize("path", [LinearPath(), CosinePath()], ids=lambda p: p.name)
def test_exact_field_of_one_gaussian_matches_closed_form(path, float64):
    """Data N(mu, tau^2 I): x_t ~ N(a mu, (a^2 tau^2 + s^2) I), so the score is
    -(x - a mu) / (a^2 tau^2 + s^2) and E[x1 | x] = mu + a tau^2 (x - a mu) / variance."""
    mu, tau = torch.tensor([[1.0, -2.0]]), 0.7
    field = ExactField(mu, path, spread=tau)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    for t in (0.0, 0.3, 0.7, 1.0):
        tt = torch.tensor(t)
        a, s = path.alpha(tt), path.sigma(tt)
        variance = a * a * tau * tau + s * s
        estimate = field.estimate(x, t)
        assert torch.allclose(estimate.data, mu + a * tau * tau * (x - a * mu) / variance)
        if t < 1:
            assert torch.allclose(field.score(x, t), -(x - a * mu) / variance)


@pytest.mark.parametrize("path", [LinearPath(), CosinePath(), LinearBetaPath()], ids=str)
def test_exact_field_velocity_at_the_data_is_its_limit(path, float64):
    """On linear beta sigma' is infinite at t = 1 but sigma' e_hat tends to
    alpha alpha' score: the velocity there comes from the score, finite with spread > 0."""
    field = ExactField(torch.tensor([[-2.0, 0.0], [2.0, 1.0]]), path, spread=0.5)
    x = 2 * torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    assert not field.singular_at_data
    assert torch.allclose(field.velocity(x, 1.0), field.velocity(x, 1 - 1e-9), atol=1e-6)
    assert torch.allclose(field.score(x, 1.0), field.score(x, 1 - 1e-9), atol=1e-6)


def test_network_fields_not_pinned_down_at_the_data_are_singular_there():
    """A noise or v output at t = 1 is not what training can fix (the noise is not in x
    there): samplers must not evaluate those fields at t = 1; a velocity output is finite."""
    network = build_network("original")
    for name, schedule, singular in [
        ("flow", None, False),
        ("flow", "linear_beta", False),
        ("diffusion", "cosine", True),
        ("diffusion", "linear_beta", True),
        ("vpred", "cosine", True),
    ]:
        field = NetworkField(network, make_objective(name, schedule))
        assert field.singular_at_data is singular, (name, schedule)


def test_exact_field_chunks_agree_with_one_pass():
    points = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1))
    whole = ExactField(points, LinearPath(), chunk_elements=10**9).estimate(x, 0.6)
    chunked = ExactField(points, LinearPath(), chunk_elements=300 * 7).estimate(x, 0.6)
    assert torch.allclose(whole.data, chunked.data, atol=1e-6)
    assert torch.allclose(whole.noise, chunked.noise, atol=1e-6)


@pytest.mark.parametrize("sampler", ["euler", "heun", "rk4", "ddim"])
def test_exact_field_memorises_the_training_points(sampler):
    """Samples of the empirical field land on training points (memorisation)."""
    points = np.random.default_rng(0).uniform(-3, 3, size=(40, 2)).astype(np.float32)
    field = ExactField(points, CosinePath() if sampler == "ddim" else LinearPath())
    final = sample(field, 500, 200, sampler, seed=0)[-1]
    nearest = torch.cdist(final, torch.as_tensor(points)).min(dim=1).values
    assert float(nearest.max()) < 0.02
    assert len(torch.unique(torch.cdist(final, torch.as_tensor(points)).argmin(1))) > 30


def test_exact_field_bounds_its_temporaries():
    """100k particles x 10k points would need 4 GB at once; chunks keep a temporary within
    the caches on a CPU (a larger one was mapped afresh at every evaluation)."""
    field = ExactField(torch.rand(10_000, 2) * 6 - 3, LinearPath())
    assert field.chunk * 10_000 <= CPU_CHUNK_ELEMENTS <= 1 << 20
    small = ExactField(torch.rand(1000, 2) * 6 - 3, LinearPath())
    estimate = small.estimate(torch.randn(100_000, 2), 0.5)
    assert estimate.data.shape == (100_000, 2) and torch.isfinite(estimate.data).all()


def test_guidance_blends_conditional_and_unconditional_outputs():
    torch.manual_seed(0)
    network = build_network("default", num_classes=3)
    objective = make_objective("flow")
    x, t = torch.randn(16, 2), torch.tensor(0.4)
    cond = network(x, t, 2)
    uncond = network(x, t, None)
    assert not torch.allclose(cond, uncond)
    for w in (0.0, 1.0, 3.0):
        out = NetworkField(network, objective, label=2, guidance=w).output(x, t)
        assert torch.allclose(out, uncond + w * (cond - uncond), atol=1e-5)
    assert torch.allclose(NetworkField(network, objective).output(x, t), uncond)


def test_network_field_refuses_missing_classes():
    objective = make_objective("flow")
    with pytest.raises(ValueError, match="has 3 classes"):
        NetworkField(build_network("default", num_classes=3), objective, label=3)
    with pytest.raises(ValueError, match="unconditional"):
        NetworkField(build_network("default"), objective, label=0)


def test_network_accepts_scalar_and_per_particle_times():
    torch.manual_seed(0)
    network = build_network("original", num_classes=2)
    x = torch.randn(8, 2)
    scalar = network(x, 0.3, 1)
    batch = network(x, torch.full((8,), 0.3), torch.ones(8, dtype=torch.long))
    assert torch.allclose(scalar, batch, atol=1e-6)


@pytest.mark.parametrize("t", [0.5, 0.9, 0.99, 0.999])
def test_exact_field_in_float32_is_the_closed_form_up_to_the_data(t):
    """The logits are one product and the weights underflow to a floor: near t = 1 each
    particle is near one point, and the estimate must still be the closed form's,
    E[x1 | x] = sum_i softmax(-|x - t y_i|^2 / (2 (1 - t)^2)) y_i, in float64."""
    points = torch.rand(300, 2, generator=torch.Generator().manual_seed(1)) * 6 - 3
    x = 2 * torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    single = ExactField(points, LinearPath()).estimate(x, t).data.double()
    y = points.double()
    squared = (x.double()[:, None, :] - t * y[None]).square().sum(-1)
    expected = torch.softmax(-squared / (2 * (1 - t) ** 2), dim=1) @ y
    assert torch.allclose(single, expected, atol=2e-3)
