"""Training in the app's background thread: progress, previews, the model swapped in."""

import numpy as np

from dexplorer.core.datasets import Dataset, make_dataset
from dexplorer.core.metrics import measure_quality
from dexplorer.core.samplers import sample
from dexplorer.core.training import TrainSettings
from dexplorer.core.training_job import TrainingJob
from dexplorer.state import AppState


def test_training_in_the_background_improves_quality_and_becomes_the_model():
    data = Dataset.custom(make_dataset("three_modes", n=6000, seed=0).points)
    state = AppState()
    state.use_custom(data)
    job = TrainingJob(data, TrainSettings(batch_size=512, learning_rate=1e-2))
    before = measure_quality(job.trainer.samples(4000, 16), data.points).ratio
    job.start(steps=600)
    assert job.progress.running
    job.wait(120)
    progress = job.progress
    assert not progress.running and progress.finished == 1 and progress.message == ""
    assert progress.steps[:3] == [10, 20, 30] and len(progress.losses) == 60
    assert np.mean(progress.losses[-10:]) < np.mean(progress.losses[:5])
    assert progress.preview.shape == (2000, 2) and progress.quality.ratio < 1.5
    state.use_trained(job.checkpoint())
    assert state.run.model == "trained" and state.trained.training_steps == 600
    final = sample(state.trained.field(), 4000, 32, "heun", seed=1)[-1]
    after = measure_quality(final, data.points).ratio
    assert after < 1.5 and before > 10 * after


def test_stop_resume_and_a_diverging_run():
    data = Dataset.custom(make_dataset("moons", n=2000, seed=0).points)
    job = TrainingJob(data, TrainSettings(batch_size=64))
    job.start(seconds=60)
    job.stop()
    job.wait(30)
    assert not job.progress.running and job.progress.finished == 1
    first = job.trainer.step
    job.start(steps=30)
    job.wait(30)
    assert job.trainer.step == first + 30 and job.progress.finished == 2
    wild = TrainingJob(data, TrainSettings(batch_size=64, learning_rate=1e9, warmup_steps=1))
    wild.start(steps=300)
    wild.wait(60)
    assert "learning rate" in wild.progress.message
    assert all(
        np.isfinite(p.detach().numpy()).all() for p in wild.checkpoint().network.parameters()
    )
