"""Guidance on the exact field (issue 16, view 8): class conditioning and classifier-free
guidance of the exact field of labelled data, in the convention of the networks'."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexplorer.core import models
from dexplorer.core.datasets import make_dataset
from dexplorer.core.fields import ExactField, GuidedField
from dexplorer.core.paths import LinearPath
from dexplorer.core.runs import Run, parse_run
from dexplorer.core.samplers import sample
from dexplorer.state import AppState

MOONS = make_dataset("moons", n=400, seed=0)
X = torch.tensor([[0.2, 0.1], [-1.0, 0.5], [2.0, -0.4]])


def exact(run: Run, n: int = 3):
    return models.exact_field(run, MOONS.points, MOONS.labels, n, 0, torch.device("cpu"))


@pytest.mark.parametrize("t", [0.2, 0.6, 0.9])
def test_the_conditional_field_with_w_1_is_the_field_of_the_class_points_alone(t):
    field, labels = exact(Run("exact", label=1))
    alone = ExactField(MOONS.points[MOONS.labels == 1], LinearPath())
    torch.testing.assert_close(field.velocity(X, t), alone.velocity(X, t))
    torch.testing.assert_close(field.estimate(X, t).data, alone.estimate(X, t).data)
    assert labels.tolist() == [1, 1, 1]


@pytest.mark.parametrize("w", [0.0, 2.5])
def test_the_guided_field_is_uncond_plus_w_times_cond_minus_uncond(w):
    field, _ = exact(Run("exact", label=0, guidance=w))
    assert isinstance(field, GuidedField)
    uncond = ExactField(MOONS.points, LinearPath())
    cond = ExactField(MOONS.points[MOONS.labels == 0], LinearPath())
    t = 0.5
    for part in ("data", "noise"):
        u, c = getattr(uncond.estimate(X, t), part), getattr(cond.estimate(X, t), part)
        torch.testing.assert_close(getattr(field.estimate(X, t), part), u + w * (c - u))
    u, c = uncond.velocity(X, t), cond.velocity(X, t)
    torch.testing.assert_close(field.velocity(X, t), u + w * (c - u))


def nearest_class(points: np.ndarray) -> np.ndarray:
    distance = ((points[:, None] - MOONS.points[None]) ** 2).sum(-1)
    return MOONS.labels[distance.argmin(1)]


def test_sampling_a_class_with_guidance_lands_on_that_class():
    for label in (0, 1):
        field, _ = exact(Run("exact", label=label, guidance=3.0), 300)
        final = sample(field, 300, 30, "heun", seed=2)[-1].numpy()
        assert np.isfinite(final).all()
        assert (nearest_class(final) == label).mean() > 0.95


def test_without_a_class_each_particle_keeps_its_own():
    field, labels = exact(Run("exact", guidance=2.0), 300)
    final = sample(field, 300, 30, "heun", seed=2)[-1].numpy()
    assert (nearest_class(final) == labels.numpy()).mean() > 0.95
    assert 0.3 < labels.float().mean() < 0.7  # drawn in the data's proportions
    grid = models.grid_field(field, Run("exact", guidance=2.0))
    assert isinstance(grid, ExactField)  # the arrows and mesh: the unconditional field


def test_the_app_takes_a_class_and_guidance_on_the_exact_field_of_labelled_data():
    state = AppState()
    assert state.change(dataset="moons", model="exact", label=1, guidance=3.0), state.message
    assert state.run.spec == "exact:heun:100:class=1:guidance=3"
    assert parse_run("exact:euler:50:class=1:guidance=3").guidance == 3.0
    assert not state.change(dataset="spiral", label=0)
    assert (
        state.message == "the exact field of spiral has no classes: it takes no class or guidance"
    )
    assert not state.change(label=2)
    assert state.message == "class 2 does not exist: choose 0 to 1"
