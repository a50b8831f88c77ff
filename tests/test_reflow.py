"""Reflow (rectified flow) and OT coupling straighten a flow model's paths: the measured
straightness falls and few Euler steps land closer to the data; the app compares the
reflowed model with its original, sessions keep it, and the CLI makes one."""

from pathlib import Path

import pytest
import torch
from test_cli import run

from dexplorer.core import models
from dexplorer.core.datasets import make_dataset
from dexplorer.core.metrics import QualityReference
from dexplorer.core.pretrained import pretrained_path
from dexplorer.core.reflow import (
    PairedTrainer,
    ReflowError,
    ReflowJob,
    ReflowSettings,
    couple,
    reflow,
    reflow_problem,
    straightening,
)
from dexplorer.core.runs import Run
from dexplorer.core.training import Trainer, TrainSettings
from dexplorer.engine.runs import Engine
from dexplorer.session import open_session, save_session
from dexplorer.state import REFLOW_COMPARISON, AppState

SMALL = ReflowSettings(pairs=1000, steps=40)
"""A reflow that is already enough on the shipped smiley model (pairs and steps budget)."""
TINY = ReflowSettings(pairs=500, steps=10)
"""A reflow that only has to run (the app's and the CLI's plumbing)."""


@pytest.fixture(scope="module")
def smiley_reflow():
    original = models.shipped("smiley/flow")
    reflowed, outcome = reflow(original, SMALL)
    return original, reflowed, outcome


def test_one_reflow_halves_the_straightness_and_improves_few_step_euler(smiley_reflow):
    original, reflowed, outcome = smiley_reflow
    assert outcome.steps == SMALL.steps and outcome.stopped == "budget"
    reference = QualityReference(make_dataset("smiley", 4000, seed=0).points, seed=1)
    before = straightening(original, reference, n=600)
    after = straightening(reflowed, reference, n=600)
    assert after.straightness.value <= before.straightness.value / 2
    for steps in (1, 2):
        assert after.euler[steps].ratio < before.euler[steps].ratio, steps
    assert reflowed.objective.name == "flow" and reflowed.dataset == "smiley"


def test_the_pairs_are_the_models_own_ode_endpoints():
    """Each pair joins a noise point to where the original's ODE carries it, and a trainer
    on the pairs batches each endpoint with its own noise."""
    original = models.shipped("smiley/flow")
    pairs = couple(original, 600, seed=3)
    assert len(pairs) > 590 and pairs.labels is None
    trainer = PairedTrainer(original, pairs, SMALL.train)
    x1, noise, _, _ = trainer._batch()
    rows = torch.cdist(x1, pairs.endpoints).argmin(dim=1)
    assert torch.equal(noise, pairs.noise[rows])
    conditional = couple(models.shipped("moons/flow"), 600, seed=3)
    assert conditional.labels is not None and set(conditional.labels.tolist()) == {0, 1}


def test_ot_coupled_training_has_straighter_paths_than_independent_pairs():
    data = make_dataset("checkerboard", 2000, seed=0)
    reference = QualityReference(data.points, seed=1)
    values = {}
    for ot in (False, True):
        trainer = Trainer(data, TrainSettings(ot_coupling=ot, batch_size=256))
        trainer.run(steps=60)
        values[ot] = straightening(trainer.checkpoint(), reference, n=400).straightness.value
    assert values[True] < values[False] / 2, values


def test_only_flow_models_are_reflowed():
    assert reflow_problem(models.shipped("smiley/flow")) == ""
    diffusion = models.shipped("smiley/diffusion")
    assert "this one is a diffusion model" in reflow_problem(diffusion)
    with pytest.raises(ReflowError, match="diffusion model"):
        reflow(diffusion, TINY)
    with pytest.raises(ReflowError, match="pairs: expected an integer from 500"):
        reflow(models.shipped("smiley/flow"), ReflowSettings(pairs=10))
    assert "flow model" in reflow_problem(None)


def test_a_stopped_reflow_keeps_nothing_before_training():
    job = ReflowJob(models.shipped("smiley/flow"), TINY)
    job.stop()
    job.start()
    job.wait()
    assert not job.trained and "nothing was trained" in job.progress.message


# --- the app: the action, the comparison, sessions -------------------------------------------


def test_the_reflow_action_says_why_it_cannot_run():
    state = AppState()
    assert state.reflow_problem() == ""
    state.change(model="diffusion")
    assert "this is a diffusion model" in state.reflow_problem()
    state.change(model="exact")
    assert "the exact field" in state.reflow_problem()
    assert not state.start_reflow() and "the exact field" in state.message
    state.use_trained(models.shipped("moons/diffusion"))
    assert "this one is a diffusion model" in state.reflow_problem()


def test_a_finished_reflow_is_compared_with_its_original(tmp_path):
    state = AppState()
    state.change(n=300)
    state.reflow_settings = TINY
    assert state.start_reflow()
    state.reflow_job.wait()
    state.poll_reflow()
    assert state.reflowed is not None, state.message
    sampler, steps = REFLOW_COMPARISON
    assert state.runs == [Run("flow", sampler, steps), Run("reflowed", sampler, steps)]
    engine = Engine("cpu")
    assert engine.sync(state.request()) == []
    engine.wait()
    for sim in engine.simulations:
        assert sim.straightness is not None and sim.quality is not None
    engine.close()
    path = tmp_path / "lesson.toml"
    save_session(state, path)
    assert (tmp_path / "lesson.reflowed.safetensors").is_file()
    trial = open_session(path).trial
    assert trial.reflowed is not None and [r.model for r in trial.runs] == ["flow", "reflowed"]
    state.set_view(1)
    assert state.run.model == "flow"
    state.change(model="reflowed")
    assert state.reflow_problem().startswith("this is the reflowed model")
    assert state.reflow_comparable
    state.change(dataset="moons")  # "flow" is now another model than the one reflowed
    assert not state.reflow_comparable
    state.compare_reflow()
    assert not state.comparing and "not the one that was reflowed" in state.message


# --- the command line ------------------------------------------------------------------------


def test_cli_reflow_writes_a_loadable_flow_model(capsys, tmp_path):
    out = tmp_path / "straight.safetensors"
    model = str(pretrained_path("smiley/flow"))
    argv = ["reflow", "--model", model, "--pairs", "500", "--steps", "10", "--out", str(out)]
    code, printed, err = run(capsys, *argv)
    assert code == 0, err
    loaded = models.from_file(out)
    assert loaded.objective.name == "flow" and loaded.dataset == "smiley"
    assert "before: straightness" in printed and "after:  straightness" in printed
    assert "Euler 1/2/4 steps" in printed


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda tmp: str(pretrained_path("smiley/diffusion")), "this one is a diffusion model"),
        (lambda tmp: _bad_file(tmp), "cannot load model"),
    ],
)
def test_cli_reflow_refuses_a_non_flow_model_or_a_bad_file(capsys, tmp_path, make, match):
    out = tmp_path / "r.safetensors"
    code, _, err = run(capsys, "reflow", "--model", make(tmp_path), "--out", str(out))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("dexplorer: error:")
    assert match in lines[0] and not out.exists()


def _bad_file(folder: Path) -> str:
    path = folder / "bad.safetensors"
    path.write_bytes(b"not a model at all")
    return str(path)


def test_cli_sample_trajectory_prints_the_straightness(capsys, tmp_path):
    out = tmp_path / "t.npy"
    argv = ["sample", "--pretrained", "smiley/flow", "-n", "200", "--steps", "8"]
    code, printed, _ = run(capsys, *argv, "--trajectory", "--out", str(out))
    assert code == 0
    line = printed.strip().splitlines()[-1]
    assert line.startswith("straightness ") and line.endswith("(0 = straight paths)")
    code, printed, _ = run(capsys, *argv, "--out", str(out))
    assert "straightness" not in printed


def test_the_explain_window_says_why_straight_paths_need_fewer_steps():
    from dexplorer.ui.explain import explain

    text = explain("flow", "euler", ["particles"])
    assert "followed exactly by one Euler step" in text
    assert "**Reflow**" in text and "**OT coupling**" in text
