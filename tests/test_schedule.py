"""The schedule window: the curves handed to the plot are the paths' closed forms at the
sampled t, one set per distinct path, and the window shows on the frame."""

import math

import numpy as np
import pytest

from dexplorer.core.paths import CosinePath, LinearBetaPath, LinearPath
from dexplorer.core.schedule import schedules
from dexplorer.state import AppState
from dexplorer.ui.schedule import ROWS, curves, series


def test_cosine_curves_are_its_closed_forms():
    (curve,) = curves([CosinePath()])
    t, alpha = series(curve, 0)
    assert np.allclose(alpha, np.sin(math.pi * t / 2), atol=1e-12)
    t, sigma = series(curve, 1)
    assert np.allclose(sigma, np.cos(math.pi * t / 2).clip(0), atol=1e-12)
    t, log_snr = series(curve, 2)
    assert t.min() > 0 and t.max() < 1  # infinite at both ends: left out
    assert np.allclose(log_snr, 2 * np.log(np.tan(math.pi * t / 2)), atol=1e-9)
    assert len(t) == len(curve.t) - 2


def test_linear_and_linear_beta_curves_are_their_closed_forms():
    linear, beta = schedules([LinearPath(), LinearBetaPath()])
    assert np.allclose(linear.alpha, linear.t) and np.allclose(linear.sigma, 1 - linear.t)
    assert np.allclose(linear.log_snr, 2 * np.log(linear.snr_t / (1 - linear.snr_t)))
    u = 1 - beta.t
    alpha = np.exp(-0.5 * (0.1 * u + 0.5 * 19.9 * u * u))
    assert np.allclose(beta.alpha, alpha) and np.allclose(beta.sigma, np.sqrt(1 - alpha**2))
    assert beta.snr_t[0] == 0.0 and beta.log_snr[0] == pytest.approx(2 * np.log(alpha[0]), 1e-3)
    for curve in (linear, beta):  # every log-SNR plotted lies within its row's axis
        low, high = ROWS[2][1]
        assert (curve.log_snr[(curve.snr_t > 0.01) & (curve.snr_t < 0.99)] > low - 3).all()
        assert (curve.log_snr[(curve.snr_t > 0.01) & (curve.snr_t < 0.99)] < high + 3).all()


def test_one_curve_per_distinct_path_labelled_with_its_panels():
    shown = schedules([LinearPath(), CosinePath(), LinearPath(), CosinePath()])
    assert [c.label for c in shown] == [
        "linear (flow matching): panels 1, 3",
        "cosine (VP): panels 2, 4",
    ]
    (single,) = schedules([CosinePath()])
    assert single.label == "cosine (VP)"
    assert len(schedules([LinearBetaPath(), LinearBetaPath(beta_max=10.0)])) == 2


def test_the_window_shows_on_the_frame():
    pytest.importorskip("pygfx")
    from dexplorer.headless import offscreen_app

    state = AppState()
    assert state.change(n=500, steps=5)
    app = offscreen_app(state, (900, 560), "cpu", ui=True)
    app.engine.simulations[0].cache.wait()
    state.set_time(0.5)
    off = app.screenshot()[..., :3].astype(int)
    app._on_key({"key": "p"})
    assert state.look.show_schedule
    app.screenshot()  # ImGui places a new window on its first frame
    on = app.screenshot()[..., :3].astype(int)
    changed = np.abs(on - off).max(axis=2) > 40
    right, left = changed[100:480, 900 - 420 :], changed[100:480, : 900 - 420]
    assert right.mean() > 0.2  # the plots, bottom right
    assert left[:, 300:].mean() < 0.02  # the view beside it is as it was
    app.close()


def test_the_window_is_saved_in_sessions_and_explained(tmp_path):
    from dexplorer.session import apply_session, save_session
    from dexplorer.ui.explain import explain_more

    state = AppState()
    state.look.show_schedule = True
    save_session(state, tmp_path / "s.toml")
    reopened = AppState()
    assert apply_session(reopened, tmp_path / "s.toml") and reopened.look.show_schedule
    bad = tmp_path / "bad.toml"
    bad.write_text('format = "dexplorer-session"\n[look]\nshow_schedule = 1\n')
    assert not apply_session(reopened, bad)
    assert "look.show_schedule = 1: expected true or false" in reopened.message
    assert "log SNR" in explain_more(True) and explain_more(False) == ""
