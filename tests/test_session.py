"""Session files: a lesson saved and reopened as it was; bad files change nothing."""

from dataclasses import replace

import numpy as np
import pytest

from dexplorer.core.checkpoints import load_checkpoint
from dexplorer.core.datasets import Dataset, Normalisation
from dexplorer.core.pretrained import pretrained_path
from dexplorer.session import apply_session, save_session
from dexplorer.state import AppState


@pytest.fixture
def lesson(tmp_path):
    state = AppState()
    points = np.random.default_rng(0).uniform(-2, 2, (40, 2)).astype(np.float32)
    state.use_custom(Dataset.custom(points, np.arange(40) % 2))
    state.use_trained(load_checkpoint(pretrained_path("moons/flow")))
    state.change(sampler="ddim", eta=0.4, steps=37, n=5000, seed=3, guidance=2.5, label=1)
    state.look.visible["mesh"] = True
    state.look.theme = "dark"
    state.set_time(0.42)
    path = tmp_path / "lesson.toml"
    save_session(state, path)
    return state, path


def test_a_saved_session_reopens_as_it_was(lesson):
    saved, path = lesson
    state = AppState()
    assert apply_session(state, path), state.message
    assert state.settings == saved.settings
    assert state.t == pytest.approx(0.42) and state.look.visible["mesh"]
    assert state.look.theme == "dark"
    assert np.allclose(state.custom.points, saved.custom.points)
    assert np.array_equal(state.custom.labels, saved.custom.labels)
    assert state.trained.class_names == saved.trained.class_names
    assert path.with_name("lesson.model.safetensors").exists()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "cannot read"),
        ("format = [", "not valid TOML"),
        ('format = "other"', "not a dexplorer session"),
        ('format = "dexplorer-session"\n[settings]\nwarp = 9', "unknown settings"),
        ('format = "dexplorer-session"\n[settings]\nsteps = "many"', "wrong type"),
        ('format = "dexplorer-session"\n[settings]\nsteps = 0', "steps"),
        ('format = "dexplorer-session"\n[settings]\ndataset = "custom"', "no custom dataset"),
        ('format = "dexplorer-session"\n[files]\ndata = "gone.json"', "gone.json"),
        ('format = "dexplorer-session"\n[files]\nmodel = "gone.safetensors"', "gone.safetensors"),
        ('format = "dexplorer-session"\ncompare = "flow"', "list of panel specs"),
        ('format = "dexplorer-session"\ncompare = ["flow:heun:50"]', "2 or 4 panels"),
        ('format = "dexplorer-session"\ncompare = ["flow:heun:50", "flow:warp:9"]', "warp"),
    ],
)
def test_bad_sessions_say_why_and_change_nothing(tmp_path, text, reason):
    path = tmp_path / "bad.toml"
    if text is not None:
        path.write_text(text)
    state = AppState()
    before, revision = state.settings, state.revision
    assert not apply_session(state, path)
    assert reason in state.message
    assert state.settings is before and state.revision == revision and state.custom is None


def test_a_comparison_is_saved_and_reopened(tmp_path):
    state = AppState()
    specs = ["flow:heun:50", "diffusion:ddim:20:eta=0.3", "exact:euler:8", "diffusion:ddpm:100"]
    assert state.set_panels(specs), state.message
    path = tmp_path / "compare.toml"
    save_session(state, path)
    reopened = AppState()
    assert apply_session(reopened, path), reopened.message
    assert [panel.spec for panel in reopened.panels] == specs
    assert reopened.panels == state.panels
    single = AppState()
    save_session(single, path)
    assert apply_session(reopened, path) and reopened.panels == []


def test_cli_opens_a_session_or_says_why(lesson, capsys, tmp_path):
    from dexplorer.cli import main

    _, path = lesson
    assert (
        main(
            [
                "screenshot",
                "--session",
                str(path),
                "--size",
                "200x120",
                "--no-ui",
                "--out",
                str(tmp_path / "s.png"),
            ]
        )
        == 0
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("format = 1")
    assert main(["screenshot", "--session", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert "not a dexplorer session" in capsys.readouterr().err


def test_the_data_and_model_keep_the_normalisation_of_their_file(tmp_path):
    frame = Normalisation((10.499709002432901, -250.5), (0.6672143401435945, -0.0125))
    points = np.random.default_rng(1).uniform(-3, 3, (30, 2)).astype(np.float32)
    state = AppState()
    state.use_custom(Dataset.custom(points, normalisation=frame))
    shipped = load_checkpoint(pretrained_path("moons/flow"))
    state.use_trained(replace(shipped, normalisation=frame))
    path = tmp_path / "screen.toml"
    save_session(state, path)
    reopened = AppState()
    assert apply_session(reopened, path), reopened.message
    assert reopened.custom.normalisation == frame and reopened.trained.normalisation == frame
    assert np.array_equal(reopened.custom.points, points)  # as the model sees them


def test_a_session_without_a_normalisation_is_in_file_coordinates(lesson):
    _, path = lesson
    assert "data_scale" not in path.read_text()
    state = AppState()
    assert apply_session(state, path), state.message
    assert state.custom.normalisation.identity and state.trained.normalisation.identity


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ("data_scale = [1.0, 0.0]", "scale: got (1.0, 0.0); expected non-zero numbers"),
        ("data_centre = [1.0]", "data_centre, data_scale: normalisation centre: got [1.0]"),
        ('data_centre = "middle"', "centre: got 'middle'; expected two finite numbers"),
        ("data_scale = [nan, 1.0]", "expected two finite numbers"),
    ],
)
def test_a_bad_normalisation_says_why_and_changes_nothing(tmp_path, keys, reason):
    (tmp_path / "s.data.json").write_text('{"points": [[0, 1], [1, 0]]}')
    path = tmp_path / "s.toml"
    path.write_text(f'format = "dexplorer-session"\n[files]\ndata = "s.data.json"\n{keys}\n')
    state = AppState()
    assert not apply_session(state, path)
    assert reason in state.message and str(path) in state.message and state.custom is None
