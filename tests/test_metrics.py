"""The quality metric against known answers."""

import math

import numpy as np
import pytest

from dexplorer.core.datasets import make_dataset
from dexplorer.core.metrics import energy_distance, quality_ratio


def test_energy_distance_of_shifted_gaussians_matches_closed_form():
    """1D: X ~ N(0, 1), Y ~ N(mu, 1); X - Y ~ N(-mu, 2) and X - X' ~ N(0, 2), so
    ED = 2 E|N(mu, 2)| - 2 E|N(0, 2)| with E|N(m, s^2)| = s sqrt(2/pi) e^(-m^2/2s^2)
    + m (1 - 2 Phi(-m/s))."""
    mu, s = 1.0, math.sqrt(2)
    phi = 0.5 * (1 + math.erf(-mu / s / math.sqrt(2)))
    folded = s * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * s * s)) + mu * (1 - 2 * phi)
    expected = 2 * folded - 2 * s * math.sqrt(2 / math.pi)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6000, 1))
    y = rng.standard_normal((6000, 1)) + mu
    assert energy_distance(x, y) == pytest.approx(expected, rel=0.05)


def test_energy_distance_is_zero_for_the_same_set_and_checks_shapes():
    x = np.random.default_rng(1).standard_normal((100, 2))
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        energy_distance(x, x[:, :1])


def test_quality_ratio_is_one_for_the_data_itself_and_large_when_off():
    data = make_dataset("smiley", n=20000, seed=0).points
    fresh = make_dataset("smiley", n=8000, seed=1).points
    ratio, _ = quality_ratio(fresh, data)
    assert 0.7 < ratio < 1.4
    noise = np.random.default_rng(2).normal(0, 1, fresh.shape)
    ratios = [quality_ratio(fresh + blur * noise, data)[0] for blur in (0.1, 0.3, 0.5)]
    assert ratios[0] < 1.3 < ratios[1] < ratios[2] and ratios[2] > 2.5
    assert quality_ratio(fresh + np.array([0.5, 0.0]), data)[0] > 20
