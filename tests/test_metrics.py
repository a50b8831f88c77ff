"""The quality metric against known answers."""

import math

import numpy as np
import pytest

from dexplorer.core.datasets import DATASETS, make_dataset
from dexplorer.core.metrics import (
    MAX_HALF,
    QualityError,
    energy_distance,
    measure_quality,
)


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


@pytest.mark.parametrize("name", DATASETS)
def test_fresh_draws_of_a_bundled_dataset_read_one(name):
    """Samples drawn like the data are as close to it as held-out data: 1.0 within 0.15."""
    data = make_dataset(name, n=20000, seed=0).points
    fresh = make_dataset(name, n=8000, seed=1).points
    quality = measure_quality(fresh, data)
    assert abs(quality.ratio - 1) < 0.15 and quality.error < 0.15, quality
    assert not quality.memorising and quality.size == MAX_HALF


@pytest.mark.parametrize("n", [50, 150, 300])
def test_a_copy_of_small_data_reads_below_one_and_gaussian_noise_far_above(n):
    data = make_dataset("smiley", n=n, seed=2).points
    copy = measure_quality(data, data)
    assert 0.3 < copy.ratio < 0.75 and copy.memorising and copy.size == n // 2
    assert copy.text == f"ED {copy.ratio:.2f} ± {copy.error:.2f}x held-out, memorising"
    gaussian = np.random.default_rng(3).standard_normal((8000, 2))
    far = measure_quality(gaussian, data)
    assert far.ratio > {50: 1.4, 150: 2.5, 300: 4.5}[n] and far.ratio - 3 * far.error > 1


def test_the_closed_form_is_the_mean_over_random_splits_and_draws():
    """The ratio's numerator and denominator are the means of ED(S_k, A_k) and ED(B_k, A_k)
    over random disjoint halves A, B of the data and random k-subsets S of the samples."""
    rng = np.random.default_rng(4)
    data, samples = rng.normal(size=(40, 2)), rng.normal(0.3, 1.2, size=(64, 2))
    k, excess, baseline = 20, [], []
    for _ in range(4000):
        order, pick = rng.permutation(40), rng.choice(64, k, replace=False)
        a, b = data[order[:k]], data[order[k:]]
        excess.append(energy_distance(samples[pick], a))
        baseline.append(energy_distance(b, a))
    expected = np.mean(excess) / np.mean(baseline)
    assert measure_quality(samples, data).ratio == pytest.approx(expected, rel=0.03)


def test_the_ratio_orders_blur_and_shift_and_is_never_negative():
    data = make_dataset("smiley", n=20000, seed=0).points
    fresh = make_dataset("smiley", n=8000, seed=1).points
    noise = np.random.default_rng(2).normal(0, 1, fresh.shape)
    ratios = [measure_quality(fresh + blur * noise, data).ratio for blur in (0.1, 0.3, 0.5)]
    assert ratios[0] < 1.3 < ratios[1] < ratios[2] and ratios[2] > 2
    assert measure_quality(fresh + np.array([0.5, 0.0]), data).ratio > 10
    rng = np.random.default_rng(5)
    for _ in range(20):
        points = rng.normal(size=(int(rng.integers(20, 60)), 2))
        assert measure_quality(points[: rng.integers(8, 20)], points).ratio >= 0


def test_what_cannot_be_measured_is_refused_and_non_finite_samples_are_counted():
    data = make_dataset("moons", n=300, seed=0).points
    with pytest.raises(QualityError, match="at least 20 data points"):
        measure_quality(data, data[:19])
    with pytest.raises(QualityError, match="one point repeated"):
        measure_quality(data, np.ones((100, 2)))
    with pytest.raises(QualityError, match="finite samples"):
        measure_quality(np.full((100, 2), np.nan), data)
    samples = make_dataset("moons", n=2000, seed=1).points.copy()
    samples[:3] = np.inf
    quality = measure_quality(samples, data)
    assert quality.left_out == 3 and quality.text.endswith("(3 non-finite left out)")
    assert quality == measure_quality(samples[3:], data) or abs(quality.ratio - 1) < 0.3
