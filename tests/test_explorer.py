"""The library API: an Explorer draws what the app draws, gives the trajectories the engine
computes, compares, renders, and refuses bad input with the CLI's own messages."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from dexplorer import Explorer
from dexplorer.cli import main
from dexplorer.core.datasets import make_dataset
from dexplorer.core.runs import Run
from dexplorer.core.samplers import initial_noise

SIZE = (160, 120)


def small(**options) -> Explorer:
    settings = {"dataset": "moons", "model": "exact", "steps": 8, "n": 400, "device": "cpu"}
    return Explorer(**{**settings, **options})


def test_import_dexplorer_stays_light():
    code = "import sys, dexplorer; print(sorted({'torch', 'pygfx'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert dexplorer_explorer() is Explorer


def dexplorer_explorer():
    import dexplorer

    return dexplorer.Explorer


@pytest.mark.parametrize("t", [0.0, 1.0])
def test_a_snapshot_is_the_offscreen_apps_frame_of_the_same_state(t):
    pytest.importorskip("pygfx")
    from dexplorer.headless import offscreen_app

    explorer = small()
    image = explorer.snapshot(t, size=SIZE)
    assert image.shape == (SIZE[1], SIZE[0], 3) and image.dtype == np.uint8
    assert explorer.t == 0.0  # the time shown stays as it was
    explorer.state.set_time(t)
    app = offscreen_app(explorer.state, SIZE, "cpu", ui=False)
    try:
        app.settle()
        expected = app.screenshot()[..., :3]
    finally:
        app.close()
    np.testing.assert_array_equal(image, expected)


def test_snapshots_show_the_gaussian_at_0_and_the_data_at_1():
    """The particles' (orange) pixels: a round blob at t = 0 (as wide as tall), the two
    moons at 1 (twice as wide as tall)."""
    pytest.importorskip("pygfx")
    explorer = small(n=1500).show_layers(density=False)
    start, end = explorer.snapshot(0.0, size=(240, 240)), explorer.snapshot(1.0, size=(240, 240))

    def spread(image):
        red, green, blue = np.moveaxis(image.astype(int), -1, 0)
        ys, xs = np.nonzero((red > 200) & (red - blue > 100) & (green < 200))
        return xs.std(), ys.std()

    (x0, y0), (x1, y1) = spread(start), spread(end)
    assert x0 / y0 == pytest.approx(1.0, abs=0.15)
    assert x1 / y1 > 1.6


def test_trajectories_start_from_the_seeded_noise_and_end_on_the_data():
    explorer = small(steps=50, n=500, seed=3)
    paths = explorer.trajectories()
    assert paths.shape == (51, 500, 2) and paths.dtype == torch.float32
    noise, _ = initial_noise(500, 3, torch.device("cpu"))
    torch.testing.assert_close(paths[0], noise, rtol=0, atol=0)
    data = torch.as_tensor(make_dataset("moons", n=5000, seed=0).points)
    nearest = torch.cdist(paths[-1], data).min(dim=1).values
    assert nearest.median() < 0.05


def test_compare_gives_one_trajectory_per_run_and_back():
    explorer = small()
    assert explorer.compare("exact:euler:4", Run("exact", "heun", 6)) is explorer
    assert [run.spec for run in explorer.state.runs] == ["exact:euler:4", "exact:heun:6"]
    first, second = explorer.trajectories()
    assert first.shape == (5, 400, 2) and second.shape == (7, 400, 2)
    torch.testing.assert_close(first[0], second[0])  # the same starting particles
    assert explorer.compare().state.runs == [explorer.state.run]
    assert explorer.trajectories().shape == (9, 400, 2)


def test_settings_layers_theme_and_time_reach_the_state():
    explorer = small().set(sampler="euler", steps=5).show_layers(mesh=True)
    explorer.theme, explorer.t = "dark", 0.75
    state = explorer.state
    assert state.run.spec == "exact:euler:5" and state.look.visible["mesh"]
    assert (state.look.theme, state.t) == ("dark", 0.75)


def test_data_arrays_and_files_become_the_custom_dataset(tmp_path):
    points = np.random.default_rng(0).normal(0, 0.5, (300, 2))
    explorer = Explorer(data=points, steps=4, n=200, device="cpu")
    assert explorer.state.data.dataset == "custom" and explorer.state.run.model == "exact"
    np.testing.assert_allclose(explorer.state.custom.points, points, rtol=1e-6)
    path = tmp_path / "points.csv"
    np.savetxt(path, points, delimiter=",")
    opened = Explorer(data=str(path), steps=4, n=200, device="cpu")
    np.testing.assert_allclose(opened.state.custom.points, points, rtol=1e-6)
    assert opened.trajectories().shape == (5, 200, 2)


def test_a_model_file_is_loaded_as_the_trained_model(tmp_path):
    path = tmp_path / "moons.safetensors"
    assert main(["train", "--dataset", "moons", "--steps", "5", "--out", str(path)]) == 0
    explorer = Explorer("moons", model=path, steps=4, n=200, device="cpu")
    assert explorer.state.run.model == "trained" and explorer.state.trained is not None
    assert explorer.trajectories().shape == (5, 200, 2)


def test_sessions_round_trip(tmp_path):
    explorer = small(seed=7).compare("exact:euler:4", "exact:heun:6")
    explorer.t = 0.5
    explorer.save_session(tmp_path / "s.toml")
    opened = Explorer.open_session(tmp_path / "s.toml", device="cpu")
    assert opened.state.data == explorer.state.data and opened.state.runs == explorer.state.runs
    assert opened.t == 0.5


def cli_error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("dexplorer: error: ")
    return line.removeprefix("dexplorer: error: ")


def explorer_error(**options) -> str:
    with pytest.raises(ValueError) as error:
        small(**options)
    return str(error.value)


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        (["--sampler", "leapfrog"], {"sampler": "leapfrog"}),
        (["--data", "missing.csv"], {"data": "missing.csv"}),
        (["--session", "missing.toml"], {"session": "missing.toml"}),
    ],
)
def test_bad_inputs_give_the_clis_messages(capsys, tmp_path, monkeypatch, argv, options):
    monkeypatch.chdir(tmp_path)
    session = options.pop("session", None)
    with pytest.raises(ValueError) as error:
        Explorer.open_session(session, device="cpu") if session else small(**options)
    assert cli_error(capsys, "screenshot", *argv, "--out", "x.png") == str(error.value)


def test_a_missing_model_file_gives_the_clis_message(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as error:
        small(model="x.safetensors")
    argv = ["sample", "--model", "x.safetensors", "--out", "y.npy"]
    assert cli_error(capsys, *argv) == str(error.value)


def test_bad_comparisons_and_times_give_the_clis_messages(capsys, tmp_path):
    out = str(tmp_path / "x.png")
    for specs in (["flow:heun:0", "exact:euler:4"], ["exact:euler:4"]):
        with pytest.raises(ValueError) as error:
            small().compare(*specs)
        argv = [arg for spec in specs for arg in ("--compare", spec)]
        assert cli_error(capsys, "screenshot", *argv, "--out", out) == f"--compare {error.value}"
    with pytest.raises(ValueError, match=r"^t: expected a number from 0 to 1, got 2$"):
        small().t = 2
    with pytest.raises(ValueError, match="unknown theme 'blue': choose light, dark"):
        small().theme = "blue"
    with pytest.raises(ValueError, match="unknown layer 'grid': choose particles, density"):
        small().show_layers(grid=True)
    with pytest.raises(ValueError, match="steps: expected an integer from 1 to 1,000, got 0"):
        small().set(steps=0)


def test_render_writes_a_video_of_the_asked_frames(tmp_path):
    pytest.importorskip("pygfx")
    import imageio.v3 as iio

    out = tmp_path / "clip.gif"
    seen = []
    frames = small().render(out, seconds=0.6, fps=5, size=SIZE, progress=lambda *a: seen.append(a))
    assert frames == 3 and seen == [(1, 3), (2, 3), (3, 3)]
    assert iio.imread(out, index=None).shape[:3] == (3, SIZE[1], SIZE[0])
    with pytest.raises(ValueError, match=r"expected a file ending in \.mp4 or \.gif"):
        small().render(tmp_path / "clip.txt")
    with pytest.raises(ValueError, match="is 36,000 frames; a video has at most 18,000"):
        small().render(out, seconds=600, fps=60)


def test_show_without_a_notebook_or_a_display_says_so(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(RuntimeError, match="no display"):
        small().show(size=SIZE)


def test_a_callable_model_runs_as_yours_with_the_native_trajectories():
    """A plain callable f(x, t) predicting the velocity (our convention) gives the
    trajectories of the model it calls, and the run is the user's ("yours")."""
    from dexplorer.core import models
    from dexplorer.core.user_models import UserModel

    native = models.shipped("smiley/flow").field()  # unconditional: one field for all
    mine = Explorer("smiley", model=lambda x, t: native.velocity(x, t), steps=8, n=300)
    ours = Explorer("smiley", model="flow", steps=8, n=300)
    assert mine.state.run.model == "yours"
    assert torch.allclose(mine.trajectories(), ours.trajectories(), atol=1e-4)
    declared = Explorer("smiley", model=UserModel(native.velocity, signature="x, t"), n=300)
    assert declared.state.run.model == "yours"


def test_a_callable_with_the_wrong_shape_is_refused_naming_the_convention():
    with pytest.raises(ValueError, match="check `signature`"):
        Explorer("moons", model=lambda x, t: torch.zeros(len(x), 3), n=300)


def test_array_data_in_its_own_coordinates_is_mapped_into_the_domain_as_a_file_is():
    from dexplorer.core.datasets import DOMAIN

    points = 100.0 * make_dataset("moons", n=400, seed=0).points + 50.0
    with pytest.warns(UserWarning, match="rescaled uniformly"):
        explorer = Explorer(data=points, model="exact", steps=4, n=200)
    custom = explorer.state.custom
    assert np.abs(custom.points).max() <= DOMAIN
    assert np.allclose(custom.normalisation.to_file(custom.points), points, atol=1e-3)
    with pytest.raises(ValueError, match="expected \\(N, 2\\)"):
        Explorer(data=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="not finite"):
        Explorer(data=np.array([[0.0, 1.0], [np.nan, 0.0], [1.0, 1.0]]))
