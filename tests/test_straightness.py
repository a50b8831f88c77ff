"""The straightness of paths: 0 for straight ones, the closed form for a known bent one, and
the number the engine measures from each run's cached trajectory once it is complete."""

import math

import numpy as np
import pytest
import torch

from dexplorer.core.runs import Data, Run
from dexplorer.core.straightness import Straightness, adds_noise, straightness
from dexplorer.engine.simulation import Simulation


def straight_paths(steps: int, n: int = 50) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    start, end = torch.randn(n, 2, generator=generator), torch.randn(n, 2, generator=generator)
    t = torch.linspace(0, 1, steps + 1).reshape(-1, 1, 1)
    return (1 - t) * start + t * end


def arcs(steps: int, amplitudes: torch.Tensor) -> torch.Tensor:
    """x_i(t) = (t + c_i, A_i sin(pi t)): chord from (c_i, 0) to (1 + c_i, 0), gap A_i sin(pi t)."""
    t = torch.linspace(0, 1, steps + 1, dtype=torch.float64).reshape(-1, 1)
    offsets = torch.arange(len(amplitudes), dtype=torch.float64)
    x = t + offsets
    y = amplitudes * torch.sin(math.pi * t)
    return torch.stack([x, y], dim=-1)


@pytest.mark.parametrize("steps", [1, 2, 7, 50])
def test_straight_paths_have_straightness_zero(steps):
    measured = straightness(straight_paths(steps))
    assert measured.value == pytest.approx(0.0, abs=1e-12)
    assert measured.particles == 50
    assert straightness(straight_paths(steps).half()).value == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("steps", [2, 3, 10, 64])
def test_a_sine_arc_gives_the_closed_form(steps):
    """The mean of integral_0^1 A_i^2 sin^2(pi t) dt = A_i^2 / 2, which the trapezoid rule on
    a uniform grid gives exactly for every K >= 2."""
    amplitudes = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    expected = float((amplitudes**2 / 2).mean())
    assert straightness(arcs(steps, amplitudes)).value == pytest.approx(expected, rel=1e-12)


def test_a_hand_computed_kinked_path():
    """Two steps: (0, 0) -> (1, 1) -> (2, 0); the chord's midpoint is (1, 0), gap 1 at t = 1/2,
    so S = (1 / K) * 1^2 = 1 / 2."""
    path = torch.tensor([[[0.0, 0.0]], [[1.0, 1.0]], [[2.0, 0.0]]])
    assert straightness(path).value == pytest.approx(0.5)


def test_non_finite_particles_are_left_out():
    amplitudes = torch.tensor([1.0, 3.0], dtype=torch.float64)
    paths = arcs(8, amplitudes)
    paths[4, 1, 0] = math.nan
    measured = straightness(paths)
    assert measured.particles == 1 and measured.value == pytest.approx(0.5)
    paths[4, 0, 1] = math.inf
    assert straightness(paths) is None


def test_the_text_says_what_zero_means_and_marks_noisy_paths():
    assert Straightness(0.0123, 10).text == "straightness 0.0123 (0 = straight paths)"
    noisy = Straightness(0.5, 10, noisy=True).text
    assert noisy == "straightness 0.5 (0 = straight paths), with the sampler's noise"
    assert not adds_noise("heun") and not adds_noise("ddim", eta=0.0)
    assert adds_noise("ddpm") and adds_noise("ddim", eta=0.5)
    assert adds_noise("euler_maruyama") and not adds_noise("euler_maruyama", noise_scale=0.0)


def test_the_engine_measures_each_run_once_its_trajectory_is_complete():
    sim = Simulation(Data("moons", 300, 0), Run("exact", "heun", 12), measure=False)
    sim.wait()
    measured = sim.straightness
    assert measured is not None and not measured.noisy
    expected = straightness(sim.cache.particles)
    assert measured.value == pytest.approx(expected.value) and measured.value > 0
    sim.apply(Data("moons", 300, 0), Run("exact", "euler", 1))
    sim.wait()
    assert sim.straightness.value == 0.0  # one Euler step is a straight path
    sim.apply(Data("moons", 300, 0), Run("diffusion", "ddpm", 10))
    sim.wait()
    assert sim.straightness.noisy and np.isfinite(sim.straightness.value)
    sim.close()
