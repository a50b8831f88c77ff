"""The denoiser's guess x1_hat = E[x1 | x_t = x]: against the closed-form posterior mean, for
every kind of field, in the engine, on the screen, in sessions and from the command line."""

import math

import numpy as np
import pytest
import torch
from test_scene import dilate

from dexplorer.core.datasets import DOMAIN, make_dataset
from dexplorer.core.fields import ExactField, NetworkField
from dexplorer.core.guesses import GUESS_ALPHA, guess_time, guesses, trajectory_guesses
from dexplorer.core.networks import MLP, NetworkConfig
from dexplorer.core.objectives import make_objective
from dexplorer.core.paths import CosinePath, LinearPath
from dexplorer.core.user_models import UserModel
from dexplorer.engine.guesses import Guesses

PATHS = (LinearPath(), CosinePath())


def coefficients(path, t):
    t = torch.tensor(t, dtype=torch.float64)
    return float(path.alpha(t)), float(path.sigma(t))


def point_mass_posterior_mean(x, points, a, s):
    """E[x1 | a x1 + s e = x] for x1 uniform on ``points`` (float64): the weights
    exp(-|x - a y_i|^2 / (2 s^2)), normalised, times the points."""
    d2 = ((x[:, None, :] - a * points[None]) ** 2).sum(-1)
    logw = -d2 / (2 * s * s)
    w = np.exp(logw - logw.max(1, keepdims=True))
    return (w / w.sum(1, keepdims=True)) @ points


def mixture_posterior_mean(x, weights, means, covariances, a, s):
    """E[x1 | a x1 + s e = x] for x1 ~ sum_k w_k N(m_k, C_k) (float64): the components'
    posterior weights r_k ~ w_k N(x; a m_k, a^2 C_k + s^2 I) times their Wiener means
    m_k + a C_k (a^2 C_k + s^2 I)^-1 (x - a m_k)."""
    logs, posts = [], []
    for w, m, c in zip(weights, means, covariances, strict=True):
        cov = a * a * c + s * s * np.eye(2)
        inverse = np.linalg.inv(cov)
        offset = x - a * m
        mahalanobis = np.einsum("ni,ij,nj->n", offset, inverse, offset)
        logs.append(math.log(w) - 0.5 * mahalanobis - 0.5 * math.log(np.linalg.det(cov)))
        posts.append(m + offset @ (a * c @ inverse).T)
    logs = np.stack(logs, 1)
    r = np.exp(logs - logs.max(1, keepdims=True))
    r /= r.sum(1, keepdims=True)
    return np.einsum("nk,nki->ni", r, np.stack(posts, 1))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
@pytest.mark.parametrize("t", [0.0, 0.3, 0.6, 0.9])
def test_exact_guesses_are_the_posterior_mean_over_the_points(path, t):
    rng = np.random.default_rng(0)
    points = rng.uniform(-2, 2, (50, 2))
    x = rng.normal(size=(400, 2)) * 1.5
    a, s = coefficients(path, t)
    expected = point_mass_posterior_mean(x, points, a, s)
    field = ExactField(points, path)
    got = guesses(field, torch.as_tensor(x, dtype=torch.float32), t).numpy()
    assert np.abs(got - expected).max() < 2e-3


@pytest.mark.parametrize("t", [0.25, 0.5, 0.75])
def test_on_dense_samples_of_a_gaussian_mixture_the_guesses_are_its_posterior_mean(t):
    """The exact field of 40,000 samples of an anisotropic mixture of three Gaussians guesses
    the mixture's own closed-form posterior mean, where the particles are."""
    weights = (0.5, 0.3, 0.2)
    means = np.array([[-1.5, 0.5], [1.5, 1.0], [0.0, -1.5]])
    covariances = [
        np.array([[0.30, 0.12], [0.12, 0.10]]),
        np.array([[0.05, 0.0], [0.0, 0.40]]),
        np.array([[0.20, -0.05], [-0.05, 0.08]]),
    ]
    rng = np.random.default_rng(1)
    counts = rng.multinomial(40000, weights)
    points = np.concatenate(
        [
            rng.multivariate_normal(m, c, k)
            for m, c, k in zip(means, covariances, counts, strict=True)
        ]
    )
    path = CosinePath()
    a, s = coefficients(path, t)
    component = rng.choice(3, 500, p=weights)
    x1 = np.stack([rng.multivariate_normal(means[k], covariances[k]) for k in component])
    x = a * x1 + s * rng.normal(size=x1.shape)
    expected = mixture_posterior_mean(x, weights, means, covariances, a, s)
    got = guesses(ExactField(points, path), torch.as_tensor(x, dtype=torch.float32), t).numpy()
    error = np.linalg.norm(got - expected, axis=1)
    assert np.median(error) < 0.03 and np.quantile(error, 0.95) < 0.1, error.max()


def test_a_mixture_field_guesses_the_closed_form_of_its_mixture():
    """ExactField with a spread is the mixture sum_k w_k N(m_k, tau^2 I): its guesses are
    the closed form with C_k = tau^2 I, to float32 precision."""
    weights = np.array([0.6, 0.4])
    means = np.array([[-1.0, 0.0], [1.5, 1.0]])
    tau = 0.4
    field = ExactField(means, CosinePath(), spread=tau, weights=weights)
    x = np.random.default_rng(2).normal(size=(300, 2))
    for t in (0.0, 0.4, 0.8, 1.0):
        a, s = coefficients(field.path, t)
        expected = mixture_posterior_mean(x, weights, means, [tau**2 * np.eye(2)] * 2, a, s)
        got = guesses(field, torch.as_tensor(x, dtype=torch.float32), t).numpy()
        assert np.abs(got - expected).max() < 1e-4, t


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_at_t_0_every_guess_is_the_data_mean(path):
    points = make_dataset("moons", n=2000, seed=0).points
    x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    got = guesses(ExactField(points, path), x, 0.0).numpy()
    assert np.abs(got - points.mean(0)).max() < 1e-5


def test_a_noise_model_guesses_near_the_data_mean_at_t_0_never_nan():
    """Shipped diffusion models predict the noise: x1 = (x - s e) / a divides by a = 0 at
    t = 0; their guess is taken where a reaches GUESS_ALPHA, finite, and crowds at the data
    mean (the exact field's guess there)."""
    from dexplorer.core import models

    points = make_dataset("smiley", n=5000, seed=0).points
    field = models.shipped("smiley/diffusion").field()
    x = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    start = guess_time(field, 0.0)
    assert math.isclose(coefficients(field.path, start)[0], GUESS_ALPHA, rel_tol=1e-6)
    got = guesses(field, x, 0.0)
    assert torch.isfinite(got).all()
    assert np.abs(got.numpy().mean(0) - points.mean(0)).max() < 0.1
    exact = guesses(ExactField(points, field.path), x, start)
    assert (got - exact).norm(dim=1).mean() < 0.2
    assert guess_time(field, 0.5) == 0.5  # later, at t itself
    assert guess_time(ExactField(points, field.path), 0.0) == 0.0


def _network(objective):
    config = NetworkConfig(width=16, depth=2)
    torch.manual_seed(0)
    return NetworkField(MLP(config), make_objective(objective))


@pytest.mark.parametrize("objective", ["flow", "diffusion", "vpred"])
@pytest.mark.parametrize("t", [0.0, 0.3, 0.9])
def test_every_objective_guesses_by_its_own_conversion(objective, t):
    """The guess from the network's raw output, converted here: flow x + (1 - t) v,
    epsilon (x - s e) / a (at the guess time), v-prediction a x - s v; the latter two
    clipped to the domain, as the samplers take them."""
    field = _network(objective)
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(3)) * 2
    when = guess_time(field, t)
    output = field.output(x, torch.tensor(when)).detach().double()
    a, s = coefficients(field.path, when)
    xd = x.double()
    if objective == "flow":
        expected = xd + (1 - when) * output
    elif objective == "diffusion":
        expected = ((xd - s * output) / a).clamp(-DOMAIN, DOMAIN)
    else:
        expected = (a * xd - s * output).clamp(-DOMAIN, DOMAIN)
    assert (when > t) == (objective == "diffusion" and t == 0.0)
    assert torch.allclose(guesses(field, x, t).double(), expected, atol=1e-4)


@pytest.mark.parametrize("prediction", ["data", "score", "velocity"])
def test_a_users_model_guesses_by_its_declared_prediction(prediction):
    """A model of yours on the cosine path predicting x1 directly, the score or the
    velocity of the same posterior (that of one point at (1, -0.5)) guesses that point."""
    target = torch.tensor([1.0, -0.5])
    path = CosinePath()

    def model(x, t):
        a, s, da, ds = path.coefficients(t)
        e = (x - a * target) / s.clamp_min(1e-6)
        if prediction == "data":
            return target.expand_as(x).clone()
        if prediction == "score":
            return -e / s.clamp_min(1e-6)
        return da * target + ds * e

    yours = UserModel(model, prediction, path="cosine").field()
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(4))
    for t in (0.0, 0.5, 0.9):
        got = guesses(yours, x, t)
        assert torch.allclose(got, target.expand_as(got), atol=1e-3), (prediction, t)


def test_trajectory_guesses_take_each_step_at_its_time():
    points = make_dataset("moons", n=500, seed=0).points
    field = ExactField(points, LinearPath())
    trajectory = torch.randn(5, 30, 2, generator=torch.Generator().manual_seed(5))
    got = trajectory_guesses(field, trajectory)
    for k in range(5):
        assert torch.allclose(got[k], field.estimate(trajectory[k], k / 4).data)


class _Broken(ExactField):
    """An exact field whose guesses of particles right of x = 1 are not finite."""

    def estimate(self, x, t):
        estimate = super().estimate(x, t)
        bad = (x[:, :1] > 1).expand_as(x)
        return type(estimate)(torch.where(bad, math.inf, estimate.data), estimate.noise)


class _Cache:
    """The part of a trajectory cache the guesses read: two steps of particles."""

    def __init__(self, particles):
        self.particles = particles
        self.spec = type("Spec", (), {"steps": len(particles) - 1})()

    def step_position(self, t):
        s = t * self.spec.steps
        return min(int(s), self.spec.steps), s - min(int(s), self.spec.steps)

    def row(self, step):
        return self.particles[step].clone()


def test_guesses_between_steps_are_interpolated_and_non_finite_ones_counted():
    points = make_dataset("moons", n=300, seed=0).points
    x = torch.randn(2, 500, 2, generator=torch.Generator().manual_seed(6)) * 1.5
    x[:, 0] = math.nan  # a particle already lost: the run reports it, not the guesses
    cache, field = _Cache(x), _Broken(points, LinearPath())
    made = Guesses(500, torch.device("cpu"))
    assert not made.show("run", field, cache, 0.25)  # computed in the background
    made.wait()
    assert made.show("run", field, cache, 0.25) and made.shown == ("run", 0, 0.25)
    assert not made.show("run", field, cache, 0.25)
    right = (x[:, 1:, 0] > 1).any(0)  # at either step: no guess between them
    assert right.sum() > 10 and made.nonfinite == int(right.sum())
    drawn = made.array.array[1:]
    assert np.isnan(drawn[right.numpy()]).all()
    expected = torch.lerp(field.estimate(x[0], 0.0).data, field.estimate(x[1], 1.0).data, 0.25)
    assert np.allclose(drawn[~right.numpy()], expected[1:][~right].numpy(), atol=1e-5)
    assert made.show("other run", field, cache, 0.25) is False  # another run: none shown
    assert np.isnan(made.array.array).all() and made.shown is None
    made.close()


# --- on the screen --------------------------------------------------------------------------


def _adapter_problem() -> str:
    from test_scene import _adapter_problem as problem

    return problem()


needs_adapter = pytest.mark.skipif(bool(_adapter_problem()), reason="no GPU adapter")


@pytest.fixture(scope="module")
def app():
    from dexplorer.headless import offscreen_app
    from dexplorer.state import AppState

    state = AppState()
    assert state.change(n=1500, steps=20, dataset="moons", model="exact", sampler="euler")
    app = offscreen_app(state, (360, 240), "cpu", ui=False)
    app.settle()
    app.view.time_label.text.visible = False  # its ink is not the guesses'
    yield app
    app.close()


def _show_guesses(app, t, selected=()):
    from dexplorer.state import LAYERS

    for name in LAYERS:
        app.state.look.visible[name] = name == "guess"
    app.state.selected = list(selected)
    app.state.set_time(t)
    image = app.screenshot()[..., :3].astype(int)
    x, y, w, h = (round(v) for v in app.view.layout.panels[0])
    ink = np.zeros(image.shape[:2], bool)
    ink[y + 2 : y + h - 2, x + 2 : x + w - 2] = (255 - image.min(axis=2))[
        y + 2 : y + h - 2, x + 2 : x + w - 2
    ] > 40
    return ink


def _pixels(app, points):
    return np.round(app.view.world_to_screen(points) - 0.5).astype(int)


@needs_adapter
def test_the_layer_draws_the_guesses_where_they_are(app):
    sim = app.engine.simulations[0]
    for t in (0.0, 0.5):
        ink = _show_guesses(app, t)
        guessed = sim.guesses.array.array.copy()
        assert sim.guesses.shown[1:] == (round(t * 20), 0.0)  # a cached step
        expected = sim.field.estimate(torch.as_tensor(sim.positions.array), t).data.numpy()
        assert np.abs(guessed - expected).max() < 1e-5
        marks = np.zeros_like(ink)
        columns, rows = _pixels(app, guessed).T
        marks[rows, columns] = True
        assert ink.sum() > (5 if t == 0 else 100)
        assert ink[marks].mean() > 0.9  # the guesses are drawn ...
        assert (ink & dilate(marks, 3)).sum() > 0.95 * ink.sum()  # ... and nothing else
    mean = make_dataset("moons", n=5000, seed=0).points.mean(0)
    rows, columns = np.nonzero(_show_guesses(app, 0.0))
    centre = _pixels(app, mean[None])[0]
    assert np.hypot(columns - centre[0], rows - centre[1]).max() < 6  # all at the data mean


@needs_adapter
def test_lines_join_the_selected_particles_to_their_guesses(app):
    sim = app.engine.simulations[0]
    start = sim.cache.particles[0].numpy()
    far = [int(i) for i in np.argsort(-np.linalg.norm(start, axis=1))[:3]]
    ink = _show_guesses(app, 0.0, far)
    lines = app.view.panels[0].guess.lines.geometry.positions.data
    guessed = sim.guesses.array.array
    assert np.allclose(lines[0:6:2, :2], sim.positions.array[far])
    assert np.allclose(lines[1:6:2, :2], guessed[far])  # each line ends at its guess
    for index in far:
        for share in (0.25, 0.5, 0.75):
            point = (1 - share) * sim.positions.array[index] + share * guessed[index]
            column, row = _pixels(app, point[None])[0]
            assert ink[row - 1 : row + 2, column - 1 : column + 2].any(), (index, share)


@needs_adapter
def test_a_layer_turned_off_computes_nothing(app):
    sim = app.engine.simulations[0]
    _show_guesses(app, 0.3)
    assert sim.guesses is not None
    app.state.look.visible["guess"] = False
    app.screenshot()
    assert sim.guesses is None


@needs_adapter
def test_every_panel_of_a_comparison_draws_its_guesses():
    from dexplorer.headless import offscreen_app
    from dexplorer.state import LAYERS, AppState

    state = AppState()
    assert state.change(n=300, steps=6, dataset="moons")
    assert state.set_runs(["exact:euler:6", "flow:heun:6"]), state.message
    for name in LAYERS:
        state.look.visible[name] = name == "guess"
    state.set_time(0.75)  # between steps 4 and 5: the guesses of both, interpolated
    app = offscreen_app(state, (420, 320), "cpu", ui=False)
    try:
        app.settle()
        image = app.screenshot()[..., :3].astype(int)
        for index, sim in enumerate(app.engine.simulations):
            x, y, w, h = (round(v) for v in app.view.layout.panels[index])
            panel = image[y + 2 : y + h - 2, x + 2 : x + w - 2]
            purple = (panel[..., 0] - panel[..., 1] > 15) & (panel[..., 2] - panel[..., 1] > 15)
            assert purple.sum() > 40, index
            steps = sim.cache.particles
            at = [sim.field.estimate(steps[k].float(), k / 6).data for k in (4, 5)]
            expected = torch.lerp(*at, 0.5).numpy()
            assert np.allclose(sim.guesses.array.array, expected, atol=1e-5)
    finally:
        app.close()


# --- sessions and the command line -----------------------------------------------------------


def test_a_session_keeps_the_layer(tmp_path):
    from dexplorer.session import apply_session, save_session
    from dexplorer.state import AppState

    state = AppState()
    assert not state.look.visible["guess"]  # off by default
    state.look.visible["guess"] = True
    path = tmp_path / "guess.toml"
    save_session(state, path)
    reopened = AppState()
    assert apply_session(reopened, path), reopened.message
    assert reopened.look.visible["guess"] and reopened.look == state.look


@needs_adapter
def test_render_draws_the_layer_from_a_session(tmp_path, capsys):
    from dexplorer.cli import main
    from dexplorer.session import save_session
    from dexplorer.state import AppState

    state = AppState()
    assert state.change(n=400, steps=8, dataset="moons", model="exact")
    state.look.visible["guess"] = True
    session = tmp_path / "guess.toml"
    save_session(state, session)
    out = tmp_path / "guess.gif"
    argv = ["render", "--session", str(session), "--seconds", "0.5", "--fps", "4"]
    assert main([*argv, "--size", "320x240", "--out", str(out)]) == 0
    import imageio.v3 as iio

    frames = iio.imread(out)
    first = frames[0][..., :3].astype(int)
    purple = (first[..., 0] - first[..., 1] > 15) & (first[..., 2] - first[..., 1] > 15)
    assert purple.sum() > 5  # the guesses, crowded at the data mean at t = 0


@pytest.mark.parametrize("trajectory", [False, True])
def test_sample_guess_writes_the_fields_estimate_beside_the_output(tmp_path, capsys, trajectory):
    from dexplorer.cli import main

    out = tmp_path / "s.npy"
    argv = ["sample", "--exact", "moons", "--sampler", "euler", "--steps", "6", "-n", "80"]
    argv += ["--guess"] + (["--trajectory"] if trajectory else [])
    assert main([*argv, "--out", str(out)]) == 0
    assert "guess" in capsys.readouterr().out
    points, guessed = np.load(out), np.load(tmp_path / "s.guess.npy")
    assert points.shape == guessed.shape == ((7, 80, 2) if trajectory else (80, 2))
    field = ExactField(make_dataset("moons", n=5000, seed=0).points, LinearPath())
    steps = points if trajectory else points[None]
    times = [k / 6 for k in range(7)] if trajectory else [1.0]
    for x, t, g in zip(steps, times, guessed if trajectory else guessed[None], strict=True):
        expected = field.estimate(torch.as_tensor(x), t).data.numpy()
        assert np.abs(g - expected).max() < 1e-4
    csv = tmp_path / "s.csv"
    assert main([*argv, "--out", str(csv)]) == 0
    header = (tmp_path / "s.guess.csv").read_text().splitlines()[0]
    assert header == ("step,particle,x,y" if trajectory else "x,y")


def test_the_explain_window_says_what_the_guesses_are():
    from dexplorer.ui.explain import explain

    text = explain("diffusion", "ddim", ["particles", "guess"])
    assert "E[x1 | x_t = x]" in text and "Tweedie" in text and "mean of the data" in text
    assert "guess:" not in explain("diffusion", "ddim", ["particles"])
