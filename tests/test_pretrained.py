"""The shipped models: one per bundled dataset and objective, small, and good."""

import numpy as np
import pytest

from dexplorer.core.checkpoints import load_checkpoint
from dexplorer.core.datasets import DATASETS, make_dataset
from dexplorer.core.metrics import measure_quality
from dexplorer.core.pretrained import (
    PRETRAINED_OBJECTIVES,
    QUALITY_SAMPLER,
    pretrained_path,
    shipped_models,
)
from dexplorer.core.samplers import sample

MODELS = [f"{d}/{o}" for d in DATASETS for o in PRETRAINED_OBJECTIVES]
MAX_RATIO = 1.5
"""Energy distance to the data at most 1.5 times that of held-out data (see
measure_quality; the same bound as twice that of a second draw of 2,000 points before).
Blurring the data itself by a Gaussian of 0.3 reaches about 1.3 to 1.45, so a model under
1.5 draws every part of its shape crisply (the smiley's eyes and mouth, both rings, all
eight modes)."""


def test_every_bundled_dataset_has_both_models():
    assert shipped_models() == MODELS


@pytest.mark.parametrize("name", MODELS)
def test_shipped_model_is_small_and_matches_its_data(name):
    path = pretrained_path(name)
    assert path.stat().st_size < 100_000
    dataset, objective = name.split("/")
    checkpoint = load_checkpoint(path)
    data = make_dataset(dataset, n=24000, seed=11)
    assert checkpoint.dataset == dataset
    assert checkpoint.conditional == (data.labels is not None)
    assert checkpoint.class_names == data.class_names
    labels = checkpoint.particle_labels(8000, seed=0) if checkpoint.conditional else None
    sampler, steps = QUALITY_SAMPLER[objective]
    final = sample(checkpoint.field(labels), 8000, steps, sampler, seed=0)[-1]
    quality = measure_quality(final, data.points, seed=3)
    assert quality.ratio < MAX_RATIO, f"{name}: {quality.text}"


def test_unknown_pretrained_names_are_refused():
    for name in ("smiley", "smiley/vpred", "donut/flow", "/flow"):
        with pytest.raises(ValueError, match="no shipped model"):
            pretrained_path(name)


def test_guidance_puts_nearly_all_samples_in_the_chosen_mode():
    checkpoint = load_checkpoint(pretrained_path("three_modes/flow"))
    data = make_dataset("three_modes", n=6000, seed=0)
    centres = np.stack([data.points[data.labels == k].mean(0) for k in range(3)])

    def share_in_mode(mode, guidance):
        final = sample(checkpoint.field(mode, guidance), 3000, 50, "heun", seed=0)[-1].numpy()
        nearest = np.linalg.norm(final[:, None] - centres[None], axis=2).argmin(1)
        return np.mean(nearest == mode)

    for mode in range(3):
        assert share_in_mode(mode, 5.0) > 0.98
    assert 0.2 < share_in_mode(1, 0.0) < 0.5  # w = 0: unconditional, a third in each mode
