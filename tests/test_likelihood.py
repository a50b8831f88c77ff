"""The model's own density (issue 16, view 2): log p_t by the instantaneous change of
variables against the closed-form marginal of a Gaussian mixture, its mass over the domain,
the NLL of a trained model between the truth and N(0, I), the layer in every panel and in
sessions, and the ``density`` command."""

import math

import numpy as np
import pytest
import torch
from test_scene import _adapter_problem

from dexplorer.cli import main
from dexplorer.core import models
from dexplorer.core.datasets import DOMAIN, make_dataset
from dexplorer.core.fields import ExactField
from dexplorer.core.likelihood import (
    flow_log_density,
    log_density,
    log_density_grid,
    negative_log_likelihood,
)
from dexplorer.core.paths import CosinePath, LinearPath
from dexplorer.engine.likelihood import ModelDensity
from dexplorer.scene.layout import CAPTION_SIZE
from dexplorer.session import apply_session, save_session
from dexplorer.state import AppState

CENTRES = torch.tensor([[1.5, 1.0], [-1.5, 0.5], [0.0, -1.5]])


def mixture(points, t, path, centres=CENTRES):
    """log mean_i N(x; a y_i, s^2 I): the marginal at t of the data y_1..y_M on the path."""
    a, s = path.alpha(torch.tensor(t)), path.sigma(torch.tensor(t))
    squared = ((points[:, None, :] - a * centres[None]) ** 2).sum(-1)
    log_mean = torch.logsumexp(-squared / (2 * s * s), 1) - math.log(len(centres))
    return log_mean - math.log(2 * math.pi) - torch.log(s * s)


def draw(t, path, n=300, seed=0):
    """Points of the marginal at t (the bulk of the density)."""
    generator = torch.Generator().manual_seed(seed)
    pick = torch.randint(len(CENTRES), (n,), generator=generator)
    noise = torch.randn((n, 2), generator=generator)
    time = torch.tensor(t)
    return path.alpha(time) * CENTRES[pick] + path.sigma(time) * noise


@pytest.mark.parametrize("path", [LinearPath(), CosinePath()], ids=["linear", "cosine"])
@pytest.mark.parametrize("t", [0.3, 0.6, 0.9])
def test_the_ode_density_of_the_exact_field_is_the_mixture_marginal(path, t):
    field = ExactField(CENTRES, path)
    points = draw(t, path)
    density = flow_log_density(field, points, t).exp()
    truth = mixture(points, t, path).exp()
    assert ((density - truth).abs() / truth).max() < 0.02
    closed = log_density(field, points, t)  # what the app and the CLI use for the exact field
    assert torch.allclose(closed, mixture(points, t, path), atol=1e-4)


def test_the_density_integrates_to_one_over_the_domain():
    cell = (2 * DOMAIN / 48) ** 2
    field = ExactField(CENTRES, LinearPath())
    for t in (0.0, 0.6):
        _, _, logp = log_density_grid(field, t, 48, steps=16)
        assert abs(np.exp(logp).sum() * cell - 1) < 0.02
    # Trained networks' densities, by the ODE alone: a velocity, and a noise prediction
    # (whose velocity blows up at t = 0, where its ODE stops short).
    for name in ("three_modes/flow", "smiley/diffusion"):
        network = models.shipped(name).field()
        x, y, logp = log_density_grid(network, 0.5, 32, steps=16)
        assert x.shape == y.shape == (32,) and logp.shape == (32, 32)
        assert abs(np.exp(logp).sum() * (2 * DOMAIN / 32) ** 2 - 1) < 0.02, name


def test_the_grid_is_indexed_x_then_y():
    field = ExactField(torch.tensor([[2.0, 0.0]]), LinearPath())
    x, y, logp = log_density_grid(field, 0.9, 16)
    i, j = np.unravel_index(np.argmax(logp), logp.shape)
    assert abs(x[i] - 1.8) < 0.3 and abs(y[j]) < 0.3


def test_a_trained_models_nll_lies_between_the_truth_and_the_gaussian():
    held_out = torch.as_tensor(make_dataset("three_modes", n=300, seed=1).points)
    angles = np.deg2rad([90.0, 210.0, 330.0])
    centres = torch.tensor(2.0 * np.stack([np.cos(angles), np.sin(angles)], 1), dtype=torch.float32)
    squared = ((held_out[:, None] - centres[None]) ** 2).sum(-1)
    true_log_p = torch.logsumexp(-squared / (2 * 0.09), 1) - math.log(3 * 2 * math.pi * 0.09)
    truth = float(-true_log_p.mean())
    gaussian = float((0.5 * (held_out**2).sum(1) + math.log(2 * math.pi)).mean())
    model = negative_log_likelihood(models.shipped("three_modes/flow").field(), held_out, 16)
    assert truth < model < gaussian, (truth, model, gaussian)
    assert model < truth + 0.5  # and close to the truth: a good model


def test_nothing_is_computed_until_asked_then_the_grid_and_the_nll_are():
    field = ExactField(CENTRES, LinearPath())
    density = ModelDensity(field, draw(1.0, LinearPath()).numpy(), torch.device("cpu"))
    try:
        assert density._thread is None and not density.poll()
        density.request(0.5)
        density.wait()
        assert density.poll() and density.shown == 0.5
        assert density.array.max() == 1.0 and density.array.min() >= 0
        assert density.nll.startswith("NLL ") and "at t = 0.995" in density.nll
    finally:
        density.close()


def test_a_model_torch_cannot_differentiate_says_so():
    from dexplorer.core.user_models import UserModel

    def numpy_velocity(x, t):
        return torch.as_tensor(-np.asarray(x.detach()))

    field = UserModel(numpy_velocity).field()
    density = ModelDensity(field, np.zeros((4, 2), np.float32), torch.device("cpu"))
    try:
        density.request(0.5)
        density.wait()
        assert "cannot be differentiated" in density.problem and "differentiated" in density.nll
        assert not density.poll()
    finally:
        density.close()


def test_the_explain_window_says_what_the_layer_and_the_nll_are():
    from dexplorer.ui.explain import explain

    text = explain("flow", "ddpm", ["likelihood"])
    assert "likelihood: the density the model itself defines" in text
    assert "NLL" in text and "not the sampler" in text


def test_sessions_keep_the_layer(tmp_path):
    state = AppState()
    assert not state.look.visible["likelihood"]  # off by default
    state.look.visible["likelihood"] = True
    save_session(state, tmp_path / "s.toml")
    reopened = AppState()
    assert apply_session(reopened, tmp_path / "s.toml"), reopened.message
    assert reopened.look.visible["likelihood"]


@pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())
def test_every_panel_draws_the_model_density_and_captions_its_nll():
    from test_panels import comparison_app, ink, panel_image, show

    app = comparison_app(2)
    try:
        blank = show(app, set(), t=0.5)
        top = app.view.layout.panels[0][1]
        image = show(app, {"likelihood"}, t=0.5)
        for index in range(2):
            drawn = ink(panel_image(app, image, index)) & ~ink(panel_image(app, blank, index))
            assert drawn.sum() > 400, (index, drawn.sum())
            assert "NLL " in app.view.texts[index] and " nats" in app.view.texts[index]
        # the NLL's caption line gets its room: the panels move down by one line
        assert app.view.layout.panels[0][1] - top >= CAPTION_SIZE
    finally:
        app.close()


def test_the_density_command_writes_the_grid_and_the_nll(tmp_path, capsys):
    out = tmp_path / "logp.npz"
    args = ["density", "--exact", "three_modes", "--t", "0.5", "--grid", "24", "--out", str(out)]
    assert main(args) == 0
    with np.load(out) as saved:
        assert sorted(saved) == ["logp", "x", "y"]
        x, y, logp = saved["x"], saved["y"], saved["logp"]
    assert x.shape == y.shape == (24,) and logp.shape == (24, 24)
    assert abs(x[0] + DOMAIN - DOMAIN / 24) < 1e-5 and np.isfinite(logp).all()
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("NLL ") and " nats" in lines[-1]
    assert float(lines[-1].split()[1]) > 0


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--model", "missing.safetensors"], "no such file"),
        (["--exact", "smiley", "--t", "1.5"], "--t: expected a number from 0 to 1"),
        (["--exact", "smiley", "--grid", "4"], "--grid: expected an integer from 8 to 512"),
        (["--exact", "nowhere"], "--exact nowhere: choose one of"),
        (["--exact"], "--exact takes a bundled dataset or --data FILE"),
        (["--exact", "--data", "missing.csv"], "missing.csv"),
        (["--pretrained", "smiley/flow", "--data", "a.csv"], "--data goes with --exact"),
    ],
)
def test_bad_density_commands_say_why(tmp_path, capsys, args, reason):
    out = tmp_path / "logp.npz"
    assert main(["density", *args, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("dexplorer: error:") and reason in error, error
    assert not out.exists()


@pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())
def test_the_single_view_shows_the_nll_under_the_time_label():
    """The single view says its NLL on screen, under the time label (and nothing with the
    layer off), so a screenshot without the controls carries it too."""
    import torch

    from dexplorer.headless import offscreen_app
    from dexplorer.state import AppState

    state = AppState()
    state.change(n=500, dataset="three_modes")
    app = offscreen_app(state, (480, 320), torch.device("cpu"), ui=False)
    try:
        state.set_time(1.0)
        app.settle()
        blank = np.asarray(app.screenshot())[..., :3].astype(int)
        assert app.view.texts[0].strip() == ""
        state.look.visible["likelihood"] = True
        app.settle()
        shown = np.asarray(app.screenshot())[..., :3].astype(int)
        assert app.view.texts[0].startswith("NLL ") and " nats" in app.view.texts[0]
        x, y = app.view.layout.time
        label = app.view.time_label.text.font_size
        rows = slice(int(y + label), int(y + 2.6 * label))  # the caption's line
        changed = np.abs(shown - blank).sum(2)[rows, int(x) : int(x) + 120] > 60
        assert changed.sum() > 30, changed.sum()
    finally:
        app.close()
