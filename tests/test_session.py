"""Session files: a lesson saved and reopened as it was; bad files change nothing."""

import copy
from dataclasses import fields, replace

import numpy as np
import pytest

from dexplorer.core.checkpoints import load_checkpoint
from dexplorer.core.datasets import Dataset, Normalisation
from dexplorer.core.pretrained import pretrained_path
from dexplorer.session import SessionWarning, apply_session, save_session
from dexplorer.state import OPACITIES, POINT_SIZES, AppState

HEAD = 'format = "dexplorer-session"\nversion = 1\n'


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
    with pytest.warns(SessionWarning, match="trained on moons, but the data shown are custom"):
        assert apply_session(state, path), state.message
    assert "trained on moons" in state.message  # the lesson's model learnt other data
    assert (state.data, state.run) == (saved.data, saved.run)
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
        ('format = "dexplorer-session"\n[settings]\nwarp = 9', "unknown key settings.warp"),
        (
            'format = "dexplorer-session"\n[settings]\nsteps = "many"',
            'settings.steps = "many": expected an integer',
        ),
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
    data, run, revision = state.data, state.run, state.revision
    assert not apply_session(state, path)
    assert reason in state.message
    assert state.data is data and state.run is run
    assert state.revision == revision and state.custom is None


def test_a_comparison_is_saved_and_reopened(tmp_path):
    state = AppState()
    specs = ["flow:heun:50", "diffusion:ddim:20:eta=0.3", "exact:euler:8", "diffusion:ddpm:100"]
    assert state.set_runs(specs), state.message
    path = tmp_path / "compare.toml"
    save_session(state, path)
    reopened = AppState()
    assert apply_session(reopened, path), reopened.message
    assert [run.spec for run in reopened.runs] == specs
    assert reopened.runs == state.runs
    single = AppState()
    save_session(single, path)
    assert apply_session(reopened, path) and not reopened.comparing


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
    with pytest.warns(SessionWarning, match="trained on moons"):
        assert apply_session(reopened, path), reopened.message
    assert reopened.custom.normalisation == frame and reopened.trained.normalisation == frame
    assert np.array_equal(reopened.custom.points, points)  # as the model sees them


def test_a_session_without_a_normalisation_is_in_file_coordinates(lesson):
    _, path = lesson
    assert "data_scale" not in path.read_text()
    state = AppState()
    with pytest.warns(SessionWarning, match="trained on moons"):
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


def snapshot(state: AppState) -> dict:
    """Every field of ``state`` but its message (the data and models by identity)."""
    shared = ("custom", "trained", "drawing", "job")
    return {
        f.name: getattr(state, f.name)
        if f.name in shared
        else copy.deepcopy(getattr(state, f.name))
        for f in fields(AppState)
        if f.name != "message"
    }


@pytest.fixture
def busy():
    """A state far from the defaults: another dataset, sampler, panels, look, time."""
    state = AppState()
    assert state.change(dataset="moons", sampler="ddim", eta=0.3, steps=20, seed=5)
    assert state.set_runs(["flow:heun:10", "exact:euler:5"]), state.message
    state.look.theme, state.look.point_size, state.look.visible["mesh"] = "dark", 5.0, True
    state.set_time(0.7)
    state.select(3)
    return state


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("foo = 1", "unknown key foo"),
        ("[look]\nfoo = 1", "unknown key look.foo"),
        ("[look.visible]\nstars = true", "unknown key look.visible.stars"),
        ('[files]\nnotes = "a.txt"', "unknown key files.notes"),
        ("version = 99", "version 99 is newer than this dexplorer reads (1)"),
        ("version = 0", "version = 0: expected a positive integer"),
        ("version = true", "version = true: expected an integer"),
        ("t = 5", "t = 5: expected 0 to 1"),
        ("t = -0.5", "t = -0.5: expected 0 to 1"),
        ("t = nan", "t = nan: expected a finite number"),
        ("t = -inf", "t = -inf: expected a finite number"),
        ('t = "late"', 't = "late": expected a number'),
        ("t = true", "t = true: expected a number"),
        ("t = 1e999", "t = inf: expected a finite number"),
        ("compare = [1, 2]", "compare = [1, 2]: expected a list of panel specs"),
        ("files = 3", "files = 3: expected a table"),
        ("settings = 3", "settings = 3: expected a table"),
        ('look = "x"', 'look = "x": expected a table'),
        ("[look]\nvisible = 5", "look.visible = 5: expected a table"),
        ("[look.visible]\nmesh = 1", "look.visible.mesh = 1: expected true or false"),
        ('[look]\ntheme = "neon"', 'look.theme = "neon": expected one of light, dark'),
        ('[look]\ncolor_mode = "rainbow"', 'look.color_mode = "rainbow": expected one of'),
        ("[look]\ncolor_mode = 1", "look.color_mode = 1: expected a string"),
        ('[look]\npoint_size = "huge"', 'look.point_size = "huge": expected a number'),
        ("[look]\npoint_size = 1e9", "look.point_size = 1000000000.0: expected"),
        ("[look]\nopacity = -4.0", "look.opacity = -4.0: expected"),
        ("[look]\nopacity = nan", "look.opacity = nan: expected a finite number"),
        ("[settings]\nsteps = true", "settings.steps = true: expected an integer"),
        ("[settings]\nsteps = 2.5", "settings.steps = 2.5: expected an integer"),
        (
            "[settings]\nn = 0",
            "settings.n = 0: particles: expected an integer from 1 to 10,000,000, got 0",
        ),
        (
            "[settings]\nseed = -1",
            "settings.seed = -1: seed: expected an integer from 0 to 4,294,967,295, got -1",
        ),
        ("[settings]\nseed = 1" + "0" * 30, "seed: expected an integer from 0 to 4,294,967,295"),
        ("[settings]\nseed = 1" + "0" * 5000, "an integer has more than 4300 digits"),
        ("t = " + "[" * 5000 + "]" * 5000, "lists or tables nested too deep"),
        ("[settings]\neta = nan", "settings.eta = nan: expected a finite number"),
        (
            "[settings]\nguidance = 11",
            "settings.guidance = 11.0: guidance: expected a number from 0 to 10, got 11",
        ),
        ('[settings]\nsampler = "warp"', "settings.sampler = \"warp\": unknown sampler 'warp'"),
        ("[settings]\nlabel = -2", "settings.label = -2: expected a class (0, 1, ...) or -1"),
        ("[settings]\nlabel = 0", "settings.label = 0: the flow model of smiley has no classes"),
        (
            '[settings]\ndataset = "moons"\nlabel = 2',
            "settings.label = 2: class 2 does not exist: choose 0 to 1",
        ),
        (
            '[settings]\ndataset = "spiral"\nmodel = "exact"\nlabel = 0',
            "the exact field of spiral has no classes",
        ),
        ('[files]\ndata = ""', 'files.data = "": expected a file name'),
        ("[files]\nmodel = 3", "files.model = 3: expected a string"),
        ("[files]\ndata_scale = [2.0, 2.0]", "are given without files.data"),
    ],
)
def test_every_bad_key_is_named_and_changes_nothing(tmp_path, busy, text, reason):
    path = tmp_path / "bad.toml"
    path.write_text(HEAD.replace("version = 1\n", "") + text + "\n")
    before = snapshot(busy)
    assert not apply_session(busy, path)
    assert busy.message.startswith(f"session {path}") and reason in busy.message
    assert "\n" not in busy.message
    assert snapshot(busy) == before


@pytest.mark.parametrize(
    ("good", "bad"),
    [("t = 0.42", 't = "late"'), ('theme = "dark"', 'theme = "neon"'), ("mesh = true", "mesh = 1")],
)
def test_a_bad_key_after_good_data_model_and_panels_changes_nothing(lesson, busy, good, bad):
    """Every key is checked before anything is applied: a bad one in a session whose data,
    model, settings and panels are good leaves the state as it was."""
    _, path = lesson
    panels = 'compare = ["trained:heun:10", "exact:euler:5"]'
    text = path.read_text().replace("\n[settings]", f"\n{panels}\n[settings]")
    path.write_text(text)
    with pytest.warns(SessionWarning):
        assert apply_session(AppState(), path)  # as it is, it opens
    assert good in text
    path.write_text(text.replace(good, bad))
    before = snapshot(busy)
    assert not apply_session(busy, path)
    assert f"{bad}: expected" in busy.message
    assert snapshot(busy) == before


def test_the_keys_are_checked_before_any_file_is_loaded(lesson):
    _, path = lesson
    path.with_name("lesson.data.json").unlink()
    path.write_text(path.read_text().replace("t = 0.42", "t = 7"))
    state = AppState()
    assert not apply_session(state, path)
    assert "t = 7: expected 0 to 1" in state.message


@pytest.mark.parametrize(("key", "bounds"), [("point_size", POINT_SIZES), ("opacity", OPACITIES)])
def test_the_look_ranges_are_the_sliders(tmp_path, key, bounds):
    path = tmp_path / "look.toml"
    for value in bounds:
        path.write_text(f"{HEAD}[look]\n{key} = {value!r}\n")
        state = AppState()
        assert apply_session(state, path), state.message
        assert getattr(state.look, key) == value
    for value in (bounds[0] - 0.01, bounds[1] + 0.01):
        path.write_text(f"{HEAD}[look]\n{key} = {value!r}\n")
        state = AppState()
        assert not apply_session(state, path)
        assert f"look.{key} = {value!r}: expected {bounds[0]:g} to {bounds[1]:g}" in state.message


def test_t_at_the_ends_opens_and_beyond_them_is_refused_not_clamped(tmp_path):
    path = tmp_path / "t.toml"
    for t, opens in ((0, True), (1, True), (1.0001, False), (-1e-9, False)):
        path.write_text(f"{HEAD}t = {t!r}\n")
        state = AppState()
        state.set_time(0.5)
        assert apply_session(state, path) == opens, state.message
        assert state.t == (t if opens else 0.5)


def test_a_model_of_other_data_opens_with_a_warning(tmp_path, recwarn):
    """The app lets a trained model be shown with other data (and saves it so): such a
    session opens, and says that the model learnt other data; unused, it says nothing."""
    model = tmp_path / "m.model.safetensors"
    load_checkpoint(pretrained_path("moons/flow")).save(model)
    path = tmp_path / "m.toml"
    files = '[files]\nmodel = "m.model.safetensors"\n'
    for dataset, model_used, warned in (
        ("spiral", "trained", True),
        ("moons", "trained", False),
        ("spiral", "exact", False),
    ):
        path.write_text(f'{HEAD}[settings]\ndataset = "{dataset}"\nmodel = "{model_used}"\n{files}')
        state = AppState()
        recwarn.clear()
        assert apply_session(state, path), state.message
        said = [str(w.message) for w in recwarn if w.category is SessionWarning]
        expected = (
            "the model m.model.safetensors was trained on moons, but the data shown are spiral"
        )
        assert said == (
            [f"session {path}: {expected}: its samples will not look like them"] if warned else []
        )
        assert (expected in state.message) == warned
        assert state.trained.dataset == "moons" and state.data.dataset == dataset


def test_a_full_look_and_version_round_trip(tmp_path):
    state = AppState()
    state.look.color_mode, state.look.point_size, state.look.opacity = "start", 7.5, 0.9
    state.look.theme = "high contrast"
    state.look.visible.update(particles=False, vectors=True)
    state.set_time(1.0)
    path = tmp_path / "look.toml"
    save_session(state, path)
    assert "version = 1\n" in path.read_text()
    reopened = AppState()
    assert apply_session(reopened, path), reopened.message
    assert reopened.look == state.look and reopened.t == 1.0
    assert (reopened.data, reopened.run) == (state.data, state.run) and not reopened.comparing


def test_the_command_lines_t_wins_over_the_sessions_and_the_sessions_stays_otherwise(tmp_path):
    """``screenshot --session S --t 0.5`` shows t = 0.5; without ``--t`` the session's t."""
    from dexplorer.cli import build_parser
    from dexplorer.scenes import scene_state

    state = AppState()
    state.set_time(0.25)
    save_session(state, tmp_path / "s.toml")
    parser = build_parser()
    base = ["screenshot", "--session", str(tmp_path / "s.toml"), "--out", "x.png"]
    assert scene_state(parser.parse_args([*base, "--t", "0.5"]), 0.5).t == 0.5
    assert scene_state(parser.parse_args(base), 0.5).t == 0.25
