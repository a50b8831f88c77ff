"""A run is one value: every entry point (the controls, ``--compare`` specs, session files,
the command line) refuses the same bad run with the same message; runs and data round-trip
through specs and sessions; a shipped model is loaded once for every panel."""

from dataclasses import dataclass, replace

import pytest

from dexplorer.cli import main
from dexplorer.core import models
from dexplorer.core.runs import Data, Run, parse_run
from dexplorer.engine.runs import Engine
from dexplorer.session import SessionError, open_session, save_session
from dexplorer.state import AppState


@dataclass(frozen=True)
class BadRun:
    """One bad run on smiley, as each entry point takes it."""

    name: str
    changes: dict
    """The controls' edit of the single view's run (``state.change``)."""
    spec: str
    setting: str
    """The ``[settings]`` line of a session file."""
    cli: list[list[str]]
    """Command lines of ``dexplorer`` that ask for it (``--out`` added)."""


SAMPLE = ["sample", "--exact", "smiley"]
SHOT = ["screenshot", "--size", "64x64", "--no-ui"]
BAD_RUNS = [
    BadRun(
        "steps 5000",
        {"steps": 5000},
        "flow:heun:5000",
        "steps = 5000",
        [[*SAMPLE, "--steps", "5000"], [*SHOT, "--steps", "5000"]],
    ),
    BadRun(
        "steps 0",
        {"steps": 0},
        "flow:heun:0",
        "steps = 0",
        [[*SAMPLE, "--steps", "0"], [*SHOT, "--steps", "0"]],
    ),
    BadRun(
        "eta 2",
        {"sampler": "ddim", "eta": 2.0},
        "diffusion:ddim:50:eta=2",
        'sampler = "ddim"\neta = 2.0',
        [[*SAMPLE, "--sampler", "ddim", "--eta", "2"]],
    ),
    BadRun(
        "noise scale 11",
        {"sampler": "euler_maruyama", "noise_scale": 11.0},
        "flow:euler_maruyama:50:noise=11",
        'sampler = "euler_maruyama"\nnoise_scale = 11.0',
        [[*SAMPLE, "--sampler", "euler_maruyama", "--noise-scale", "11"]],
    ),
    BadRun(
        "guidance 11",
        {"guidance": 11.0},
        "flow:heun:50:guidance=11",
        "guidance = 11.0",
        [["sample", "--pretrained", "smiley/flow", "--guidance", "11"]],
    ),
    BadRun(
        "sampler warp",
        {"sampler": "warp"},
        "flow:warp:50",
        'sampler = "warp"',
        [[*SAMPLE, "--sampler", "warp"], [*SHOT, "--sampler", "warp"]],
    ),
    BadRun(
        "class 0 on smiley's flow model",
        {"label": 0},
        "flow:heun:50:class=0",
        "label = 0",
        [["sample", "--pretrained", "smiley/flow", "--class", "0"]],
    ),
]


def refusal(bad: BadRun) -> str:
    """What the one check says about ``bad`` (on smiley, the state's default data)."""
    run = replace(Run(), **bad.changes)
    message = AppState().run_problem(run)
    assert message and "\n" not in message
    if "label" not in bad.changes:
        assert run.check() == message  # a range or a name: the run's own check says it
    return message


@pytest.mark.parametrize("bad", BAD_RUNS, ids=[bad.name for bad in BAD_RUNS])
def test_the_controls_refuse_a_bad_run_with_the_checks_message(bad):
    message = refusal(bad)
    state = AppState()
    data, run = state.data, state.run
    assert not state.change(**bad.changes)
    assert state.message == message
    assert state.data is data and state.run is run


@pytest.mark.parametrize("bad", BAD_RUNS, ids=[bad.name for bad in BAD_RUNS])
def test_a_compare_spec_is_refused_with_the_checks_message(bad):
    message = refusal(bad)
    state = AppState()
    assert not state.set_runs([bad.spec, "flow:heun:50"])
    assert state.message == f"{bad.spec!r}: {message}"
    assert not state.comparing
    state.set_view(2)
    before = list(state.runs)
    assert not state.set_runs(["flow:heun:50", bad.spec])
    assert state.message == f"{bad.spec!r}: {message}" and state.runs == before


@pytest.mark.parametrize("bad", BAD_RUNS, ids=[bad.name for bad in BAD_RUNS])
def test_a_session_is_refused_with_the_checks_message(bad, tmp_path):
    message = refusal(bad)
    path = tmp_path / "bad.toml"
    path.write_text(f'format = "dexplorer-session"\nversion = 1\n[settings]\n{bad.setting}\n')
    with pytest.raises(SessionError) as raised:
        open_session(path)
    text = str(raised.value)
    key = bad.setting.splitlines()[-1].split(" = ")[0]
    assert text.startswith(f"session {path}: settings.{key} = ")
    assert text.endswith(f": {message}") and "\n" not in text


@pytest.mark.parametrize("bad", BAD_RUNS, ids=[bad.name for bad in BAD_RUNS])
def test_the_command_line_refuses_a_bad_run_with_the_checks_message(bad, capsys, tmp_path):
    """The run's own check on the command line; a number that argparse reads is refused
    by its range first, as "argument --steps: expected ..., got ..." (and where to read
    the help): the same words."""
    message = refusal(bad)
    expected = message[message.index("expected") :] if "expected" in message else message
    for argv in bad.cli:
        suffix = ".png" if argv[0] == "screenshot" else ".npy"
        out = tmp_path / f"out{suffix}"
        assert main([*argv, "--out", str(out)]) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        if expected == message:
            assert line == f"dexplorer: error: {message}", argv
        else:
            option = next(arg for arg in argv if arg.startswith("--") and arg in line)
            assert line.startswith(f"dexplorer: error: argument {option}: {expected}"), argv
        assert not out.exists()


def test_guidance_1_is_no_guidance_and_every_model_takes_it(capsys, tmp_path):
    state = AppState()
    assert state.run_problem(Run(guidance=1.0)) == ""
    assert state.change(guidance=1.0) and state.message == ""
    assert state.set_runs(["flow:heun:50:guidance=1", "exact:euler:10:guidance=1"]), state.message
    out = tmp_path / "s.npy"
    argv = ["sample", "--pretrained", "smiley/flow", "--guidance", "1", "-n", "50"]
    assert main([*argv, "--steps", "2", "--out", str(out)]) == 0, capsys.readouterr().err
    assert out.exists()


RUNS = [
    Run(),
    Run("diffusion", "ddim", 50, eta=0.5),
    Run("flow", "euler_maruyama", 20, noise_scale=0.3),
    Run("flow", "heun", 40, guidance=4.0, label=1),
    Run("exact", "rk4", 7),
    Run("diffusion", "ddpm", 1000, guidance=0.0),
]


@pytest.mark.parametrize("run", RUNS, ids=[run.spec for run in RUNS])
def test_a_run_round_trips_through_its_spec(run):
    assert run.check() == ""
    assert parse_run(run.spec) == run


def test_the_data_and_runs_round_trip_through_a_session(tmp_path):
    state = AppState()
    assert state.change(dataset="moons", n=1234, seed=7)
    single = Run("flow", "ddim", 33, eta=0.25, noise_scale=2.0, guidance=2.5, label=1)
    assert state.change(**vars(single)), state.message
    assert state.data == Data("moons", 1234, 7) and state.run == single
    specs = ["flow:heun:20:class=0:guidance=3", "diffusion:ddpm:9", "exact:euler:4"]
    specs.append("flow:euler_maruyama:5:noise=0.5")
    assert state.set_runs(specs), state.message
    path = tmp_path / "runs.toml"
    save_session(state, path)
    trial = open_session(path).trial
    assert trial.data == state.data and trial.run == single
    assert trial.runs == state.runs and [run.spec for run in trial.runs] == specs
    assert trial.set_view(1) and trial.runs == [single]
    plain = AppState()  # no class, no guidance: nothing set is nothing written
    save_session(plain, path)
    assert "guidance" not in path.read_text()
    trial = open_session(path).trial
    assert (trial.data, trial.runs) == (Data(), [Run()])


def test_a_shipped_model_is_loaded_once_for_every_panel(monkeypatch):
    """The controls' checks, the compared runs and the engine's simulations share one
    checkpoint per shipped model."""
    loads = []
    load = models.load_checkpoint
    monkeypatch.setattr(models, "_SHIPPED", {})
    monkeypatch.setattr(models, "load_checkpoint", lambda *a: (loads.append(a[0]), load(*a))[1])
    state = AppState()
    assert state.change(n=200)
    specs = ["flow:heun:3", "flow:euler:3", "diffusion:ddim:3", "diffusion:ddpm:3"]
    assert state.set_runs(specs), state.message
    engine = Engine("cpu")
    try:
        problems = engine.sync(state.request())
        assert problems == []
        networks = [simulation.field.network for simulation in engine.simulations]
    finally:
        engine.close()
    assert [path.name for path in loads] == [
        "smiley-flow.safetensors",
        "smiley-diffusion.safetensors",
    ]
    assert networks[0] is networks[1] and networks[2] is networks[3]
    assert networks[0] is not networks[2]
    assert models.shipped("smiley/flow") is models.shipped("smiley/flow", "cpu")
    assert len(loads) == 2
