"""Training: reaches the quality threshold, survives divergence, stops, resumes."""

import math
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from dexplorer.core.coupling import ot_pair, sinkhorn_plan
from dexplorer.core.datasets import Dataset, Normalisation, make_dataset
from dexplorer.core.metrics import energy_distance, measure_quality
from dexplorer.core.pretrained import QUALITY_SAMPLER
from dexplorer.core.training import Trainer, TrainingError, TrainSettings


def test_training_reaches_the_quality_threshold():
    """Three Gaussian modes, 600 steps: samples nearly as close to the data as held-out data
    (energy distance within 1.5x), and far closer than the start."""
    data = Dataset.custom(make_dataset("three_modes", n=8000, seed=0).points)
    trainer = Trainer(data, TrainSettings(batch_size=512, learning_rate=3e-3))
    before = measure_quality(trainer.samples(4000, 16), data.points).ratio
    outcome = trainer.run(steps=600)
    after = measure_quality(trainer.samples(4000, 32), data.points).ratio
    assert outcome.stopped == "budget" and outcome.steps == 600
    assert after < 1.5, after
    assert before > 20 * after


def test_conditional_training_learns_each_class():
    data = make_dataset("eight_gaussians", n=8000, seed=0)
    trainer = Trainer(data, TrainSettings(batch_size=512, learning_rate=3e-3))
    trainer.run(steps=400)
    assert trainer.class_weights == pytest.approx([1 / 8] * 8, abs=0.02)
    field = trainer.field(label=3)
    from dexplorer.core.samplers import sample

    final = sample(field, 500, 32, "heun", seed=0)[-1].numpy()
    centre = data.points[data.labels == 3].mean(0)
    assert np.mean(np.linalg.norm(final - centre, axis=1) < 0.6) > 0.9


def test_a_huge_learning_rate_stops_with_a_message_and_keeps_good_weights():
    data = Dataset.custom(make_dataset("moons", n=2000, seed=0).points)
    trainer = Trainer(data, TrainSettings(batch_size=128, learning_rate=1e9, warmup_steps=1))
    outcome = trainer.run(steps=200)
    assert outcome.stopped == "diverged"
    assert "learning rate" in outcome.message and "last good weights" in outcome.message
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert np.isfinite(trainer.samples(100, 8)).all()


def test_stop_flag_budget_callbacks_and_resume():
    data = Dataset.custom(make_dataset("spiral", n=1000, seed=0).points)
    trainer = Trainer(data, TrainSettings(batch_size=64))
    seen = []
    outcome = trainer.run(steps=25, callback=lambda p: seen.append(p.step), report_every=10)
    assert seen == [10, 20] and outcome.steps == 25 and len(outcome.losses) == 25
    assert trainer.run(steps=5).steps == 5 and trainer.step == 30
    stop = threading.Event()
    stop.set()
    assert trainer.run(seconds=60, stop=stop).stopped == "stopped"
    assert trainer.step == 30
    timed = trainer.run(seconds=0.2)  # stops once the budget is spent (no upper bound: load)
    assert timed.stopped == "budget" and timed.seconds >= 0.2 and timed.steps >= 1


def test_preview_samples_come_from_the_current_weights():
    data = Dataset.custom(make_dataset("moons", n=1000, seed=0).points)
    trainer = Trainer(data, TrainSettings(batch_size=64))
    previews = []
    trainer.run(steps=20, callback=lambda p: previews.append(p.preview(50, 4)), report_every=10)
    assert len(previews) == 2 and previews[0].shape == (50, 2)
    assert not np.allclose(previews[0], previews[1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learning_rate": 0.0}, "learning rate"),
        ({"learning_rate": math.nan}, "learning rate"),
        ({"batch_size": 1}, "batch size"),
        ({"preset": "huge"}, "unknown preset"),
        ({"objective": "score"}, "unknown objective"),
        ({"ema_decay": 1.0}, "EMA"),
    ],
)
def test_bad_settings_are_refused(change, message):
    data = Dataset.custom(np.zeros((10, 2)))
    with pytest.raises(TrainingError, match=message):
        Trainer(data, TrainSettings(**change))


def test_budget_must_be_given_and_positive():
    trainer = Trainer(Dataset.custom(np.zeros((10, 2))), TrainSettings())
    for budget in ({}, {"steps": 0}, {"seconds": -1.0}):
        with pytest.raises(TrainingError, match="budget"):
            trainer.run(**budget)


def test_ot_pairing_shortens_the_paths_and_keeps_the_noise():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(256, 2, generator=g)
    data = torch.randn(256, 2, generator=g)
    paired = ot_pair(noise, data, g)
    # Random pairs of two standard normal draws are 4 apart (squared); OT pairs far closer.
    random_cost = (noise - data).square().sum(1).mean()
    ot_cost = (paired - data).square().sum(1).mean()
    assert ot_cost < 0.3 * random_cost
    # Pairs are drawn from the noise itself: same distribution, mostly distinct partners.
    assert energy_distance(paired, noise) < 0.05
    assert len(torch.unique(paired, dim=0)) > 150
    plan = sinkhorn_plan(torch.cdist(noise, data).square(), epsilon=0.1)
    assert torch.allclose(plan.sum(0), torch.full((256,), 1 / 256), atol=1e-5)
    assert torch.allclose(plan.sum(1), torch.full((256,), 1 / 256), atol=1e-3)


def test_ot_coupled_flow_training_runs():
    data = Dataset.custom(make_dataset("moons", n=2000, seed=0).points)
    trainer = Trainer(data, TrainSettings(ot_coupling=True, batch_size=128))
    assert trainer.run(steps=20).stopped == "budget"


def test_default_settings_learn_the_smiley_in_a_short_step_budget():
    """The defaults are tuned for runs of a few seconds: 800 steps reach the quality
    threshold on a held-out draw of the smiley face. That is 3 s at 3.75 ms a step; two CPU
    cores here take 2.1-3.5 ms (``benchmarks/bench_train.py`` times it)."""
    data = make_dataset("smiley", n=20000, seed=0)
    trainer = Trainer(data, TrainSettings())
    assert trainer.run(steps=800).stopped == "budget"
    held_out = make_dataset("smiley", n=20000, seed=1).points
    ratio = measure_quality(trainer.samples(4000, 32), held_out, seed=1).ratio
    assert ratio < 1.5, ratio


def test_the_model_keeps_the_normalisation_of_its_data():
    frame = Normalisation((10.5, 10.75), (2 / 3, -2 / 3))
    data = Dataset.custom(make_dataset("moons", n=200, seed=0).points, normalisation=frame)
    trainer = Trainer(data, TrainSettings(batch_size=64))
    trainer.run(steps=2)
    assert trainer.checkpoint().normalisation == frame


@pytest.mark.parametrize("preset", ["default", "original"])
@pytest.mark.parametrize("objective", ["flow", "diffusion", "vpred"])
def test_the_defaults_learn_a_small_drawing_with_every_objective(objective, preset):
    """300 points, as a drawing has: the default recipe reaches the threshold (judged as
    the CLI judges, against the user's own points) in a step budget shorter than the default
    10 s gives on two cores, for every objective, not only flow matching."""
    data = make_dataset("smiley", n=300, seed=0)
    trainer = Trainer(data, TrainSettings(objective=objective, preset=preset))
    outcome = trainer.run(steps=800)
    assert outcome.stopped == "budget" and outcome.warning == ""
    sampler, steps = QUALITY_SAMPLER[objective]
    quality = measure_quality(trainer.samples(4000, steps, sampler), data.points, seed=1)
    assert quality.ratio < 1.5, quality.text


def test_the_defaults_learn_labelled_small_data_and_with_the_ot_coupling():
    data = make_dataset("three_modes", n=200, seed=0)
    for settings in (TrainSettings(objective="diffusion"), TrainSettings(ot_coupling=True)):
        trainer = Trainer(data, replace(settings, preset="original"))
        trainer.run(steps=800)
        sampler, steps = QUALITY_SAMPLER[settings.objective]
        quality = measure_quality(trainer.samples(4000, steps, sampler), data.points, seed=1)
        assert quality.ratio < 1.5, (settings, quality.text)


def test_a_run_that_is_not_learning_says_so_with_the_likely_fix():
    data = make_dataset("smiley", n=2000, seed=0)
    trainer = Trainer(data, TrainSettings(learning_rate=5.0, preset="original"))
    outcome = trainer.run(steps=100)
    assert outcome.warning.startswith("training is not learning: after 30% of the budget")
    assert "try a lower learning rate than 5" in outcome.warning
    assert Trainer(data, TrainSettings(preset="original")).run(steps=100).warning == ""
