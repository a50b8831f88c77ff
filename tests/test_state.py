"""The app state: UI actions as methods, bad settings refused with a message."""

import numpy as np
import pytest

from dexplorer.state import AppState


def test_bad_settings_keep_the_old_ones_and_say_why():
    state = AppState()
    data, run = state.data, state.run
    assert not state.change(steps=0)
    assert state.data is data and state.run is run and "steps" in state.message
    assert not state.change(n=10**9)
    assert "particles" in state.message
    assert not state.change(dataset="donut")
    assert state.change(dataset="moons") and state.message == "" and state.revision == 1


def test_play_step_and_loop():
    state = AppState()
    state.change(steps=10)
    state.toggle_play()
    state.advance(1.0)
    assert state.playing and abs(state.t - state.speed) < 1e-9
    state.step(+1)
    assert not state.playing and abs(state.t - 0.3) < 1e-9  # the next step after t = 0.25
    state.set_time(0.95)
    state.playing = True
    state.advance(1.0)
    assert state.t == 1.0 and state.playing  # the data shown, however slow the frames
    state.advance(0.5)
    assert state.t == 1.0  # and held a moment
    state.advance(0.5)
    assert state.t == 0.0  # looped
    state.advance(0.1)
    assert abs(state.t - 0.1 * state.speed) < 1e-9
    state.set_time(0.99)
    state.advance(0.2)
    assert state.t == 1.0
    state.advance(0.2)
    assert state.t == 1.0  # a new hold, not the last one's remainder
    state.set_time(0.1)
    state.advance(1.0, computed=0.2)
    assert state.t == 0.2  # waits where the runs have computed to
    state.advance(1.0, computed=0.2)
    assert state.t == 0.2 and state.playing
    state.set_time(0.5)
    state.advance(1.0, computed=0.2)
    assert state.t == 0.5  # scrubbed beyond: not moved back
    state.advance(0.4, computed=1.0)
    assert abs(state.t - 0.6) < 1e-9
    state.loop = False
    state.set_time(0.95)
    state.advance(1.0)
    assert state.t == 1.0 and not state.playing
    state.step(+1)
    assert state.t == 1.0


def test_selection_adds_with_shift_and_clears_on_new_data():
    state = AppState()
    state.select(3)
    state.select(5, add=True)
    state.select(5, add=True)
    assert state.selected == [3, 5]
    state.select(7)
    assert state.selected == [7]
    state.change(dataset="spiral")
    assert state.selected == []


def test_opening_a_file_shows_it_as_custom_data_and_bad_files_change_nothing(tmp_path):
    good = tmp_path / "ring.csv"
    good.write_text(
        "x,y\n" + "\n".join(f"{np.cos(a):.4f},{np.sin(a):.4f}" for a in np.linspace(0, 6, 50))
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\n3,x\n")
    state = AppState()
    data, run, revision = state.data, state.run, state.revision
    assert not state.open_data(str(bad))
    assert "line 2" in state.message and state.custom is None
    assert state.data is data and state.run is run
    assert state.revision == revision
    assert state.open_data(str(good))
    assert state.data.dataset == "custom" and state.run.model == "exact"
    assert len(state.custom) == 50 and state.revision == revision + 1
    assert not state.change(model="flow") and "shipped models" in state.message
    assert not state.change(model="trained") and "no trained model" in state.message


def test_custom_data_and_a_trained_model_need_to_exist():
    state = AppState()
    assert not state.change(dataset="custom") and "no custom dataset" in state.message


def test_training_mistakes_are_messages_and_divergence_keeps_good_weights():
    from dataclasses import replace

    state = AppState()
    state.change(dataset="moons")
    state.train_settings = replace(state.train_settings, learning_rate=0.0)
    assert not state.start_training() and "learning rate" in state.message and state.job is None
    state.train_settings = replace(
        state.train_settings, learning_rate=1e9, warmup_steps=1, batch_size=64
    )
    state.train_seconds = 20.0
    assert state.start_training()
    state.job.wait(60)
    state.poll_training()
    assert "learning rate" in state.message and "last good weights" in state.message
    weights = [p.detach().numpy() for p in state.job.checkpoint().network.parameters()]
    assert all(np.isfinite(w).all() for w in weights)


def test_models_save_and_load_and_bad_files_replace_nothing(tmp_path):
    from dexplorer.core.checkpoints import load_checkpoint
    from dexplorer.core.pretrained import pretrained_path

    state = AppState()
    assert not state.save_model(str(tmp_path / "m.safetensors"))
    assert "no trained model" in state.message
    assert state.load_model(str(pretrained_path("moons/flow")))
    assert state.run.model == "trained" and state.trained.dataset == "moons"
    loaded = state.trained
    out = tmp_path / "again.safetensors"
    assert state.save_model(str(out)) and "saved" in state.message
    assert load_checkpoint(out).class_names == loaded.class_names
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    revision = state.revision
    assert not state.load_model(str(bad))
    assert "cannot load model" in state.message
    assert state.trained is loaded and state.revision == revision


def test_training_budget_in_steps_trains_exactly_that_many():
    state = AppState()
    state.change(dataset="spiral")
    state.train_unit, state.train_steps = "steps", 40
    assert state.start_training()
    state.job.wait(60)
    state.poll_training()
    assert state.trained.training_steps == 40 and state.run.model == "trained"
    assert state.start_training()  # again: train more, from where it stopped
    state.job.wait(60)
    state.poll_training()
    assert state.trained.training_steps == 80


def test_the_y_down_box_opens_screen_files_the_right_way_up(original_smiley):
    smiley, state = original_smiley, AppState()
    assert state.open_data(str(smiley.path)) and state.custom.normalisation.identity
    assert state.custom.points[smiley.eyes, 1].max() < state.custom.points[smiley.mouth, 1].min()
    state.y_down = True
    assert state.open_data(str(smiley.path)), state.message
    points = state.custom.points
    assert points[smiley.eyes, 1].min() > points[smiley.mouth, 1].max()
    assert state.custom.normalisation.scale == (1.0, -1.0)


def test_a_second_import_of_the_same_size_trains_a_new_job_on_its_own_data(tmp_path):
    """Every image import has 5,000 points and the name "custom": the job is the data's
    content, so Train after a second import starts afresh on it, not on the first image."""
    import imageio.v3 as iio

    state = AppState()
    state.train_unit, state.train_steps = "steps", 5
    first, second = np.full((40, 40), 255, np.uint8), np.full((40, 40), 255, np.uint8)
    first[5:15, 5:15], second[25:35, 25:35] = 0, 0
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for path, pixels in zip(paths, (first, second), strict=True):
        iio.imwrite(path, pixels)
    assert state.open_data(str(paths[0])) and state.start_training()
    state.job.wait(60)
    state.poll_training()
    job = state.job
    assert state.start_training()  # the same data: resumed
    state.job.wait(60)
    state.poll_training()
    assert state.job is job and state.trained.training_steps == 10
    assert state.open_data(str(paths[1])) and state.start_training()
    state.job.wait(60)
    state.poll_training()
    assert state.job is not job and state.job.dataset is state.custom
    assert len(state.custom) == len(job.dataset) and state.custom.name == job.dataset.name
    assert state.trained.training_steps == 5


def test_a_failed_run_says_so_and_swaps_nothing_in(monkeypatch):
    from dexplorer.core.training import Trainer

    state = AppState()
    state.change(dataset="moons")
    state.train_unit, state.train_steps = "steps", 30
    assert state.start_training()
    state.job.wait(60)
    state.poll_training()
    trained = state.trained
    calls = []

    def fail_after_some_steps(self, fraction):
        calls.append(fraction)
        if len(calls) > 10:
            raise RuntimeError("out of memory")
        return train_step(self, fraction)

    train_step = Trainer._train_step
    monkeypatch.setattr(Trainer, "_train_step", fail_after_some_steps)
    revision = state.revision
    assert state.start_training()
    state.job.wait(60)
    state.poll_training()
    assert state.job.trainer.step == 40  # it did take steps before failing
    assert state.message == "training failed: RuntimeError: out of memory"
    assert state.trained is trained and state.revision == revision


@pytest.mark.parametrize("points", [np.ones((100, 2)), np.array([[1.0, 1.0], [-1.0, 0.5]])])
def test_degenerate_data_trains_and_says_why_it_has_no_quality_number(points):
    """100 identical points (no spread) or the two points of a first stroke: a model is
    trained and swapped in; the quality number is replaced by the reason it has none."""
    from dexplorer.core.datasets import Dataset

    state = AppState()
    state.use_custom(Dataset.custom(points))
    state.train_unit, state.train_steps = "steps", 20
    assert state.start_training()
    state.job.wait(60)
    state.poll_training()
    assert state.trained is not None and state.trained.training_steps == 20
    assert state.message == "" and state.job.progress.quality is None
    assert state.job.progress.quality_problem.startswith("no quality number: ")


def test_the_default_opacity_keeps_a_dense_cloud_as_deep_as_20k_particles():
    """Above 20k particles each is fainter, so that n particles over a pixel have the optical
    depth 20k particles at 0.45 have: n * -ln(1 - opacity) = 20k * -ln(0.55)."""
    from dexplorer.state import OPACITIES, default_opacity

    assert default_opacity(300) == default_opacity(20_000) == 0.45
    for n in (50_000, 100_000, 200_000, 2_000_000, 5_000_000, 10_000_000):
        depth = n * -np.log(1 - default_opacity(n))
        assert depth == pytest.approx(20_000 * -np.log(0.55), rel=0.01)
    assert default_opacity(10_000_000) == 0.0012 > OPACITIES[0]  # within the slider


def test_an_opacity_left_at_its_default_follows_the_particles_and_a_chosen_one_stays():
    from dexplorer.state import default_opacity

    state = AppState()
    assert state.change(n=100_000)
    assert state.look.opacity == default_opacity(100_000) < 0.2
    assert state.change(n=20_000)
    assert state.look.opacity == 0.45
    state.look.opacity = 0.3
    assert state.change(n=200_000)
    assert state.look.opacity == 0.3
    assert not state.change(n=-5)  # refused: nothing changes
    assert state.look.opacity == 0.3


def test_the_default_opacity_follows_the_particles_each_panel_draws():
    """The slider hands back float32 (0.45 is 0.44999998...): still the default, it follows
    the count; compared panels draw at most 10,000 or 5,000 particles each, and their
    opacity is the default for those, back to the data's in the single view."""
    import numpy as np

    from dexplorer.state import default_opacity

    state = AppState()
    state.look.opacity = float(np.float32(0.45))
    assert state.change(n=1_000_000)
    assert state.look.opacity == default_opacity(1_000_000) < 0.05
    assert state.set_view(2)
    assert state.particles() == 10_000 and state.look.opacity == 0.45
    assert state.set_view(4)
    assert state.look.opacity == 0.45
    assert state.set_view(1)
    assert state.look.opacity == default_opacity(1_000_000)
    state.look.opacity = float(np.float32(default_opacity(1_000_000)))
    assert state.set_runs(["flow:euler:4", "flow:heun:50"])
    assert state.look.opacity == 0.45
    state.look.opacity = 0.2  # chosen: it stays
    assert state.set_view(1) and state.look.opacity == 0.2


def test_another_bundled_dataset_shows_its_shipped_model_not_one_trained_on_other_data():
    """A model trained (or loaded) on moons does not draw the spiral: choosing the spiral
    shows its shipped model of the same kind and says why; the trained one can still be
    chosen, with any data."""
    from dexplorer.core import models

    state = AppState()
    assert state.change(dataset="moons")
    state.use_trained(models.shipped("moons/diffusion"))
    assert state.run.model == "trained"
    assert state.change(dataset="spiral")
    assert state.run.model == "diffusion"
    assert "learnt moons, not spiral" in state.message
    assert state.change(model="trained")  # chosen with other data: shown
    assert state.run.model == "trained" and state.data.dataset == "spiral"
    assert state.change(dataset="moons", model="trained")
    assert state.run.model == "trained" and state.message == ""
    state = AppState()
    assert state.change(dataset="three_modes")
    state.use_trained(models.shipped("three_modes/flow"))
    assert state.change(label=2), state.message  # a class of the trained model
    assert state.change(dataset="spiral"), state.message  # whose shipped model has none
    assert state.run.model == "flow" and state.run.label is None
