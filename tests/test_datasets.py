"""Tests for the built-in datasets and the `Dataset` container."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dexplorer.core.datasets import (
    DATASETS,
    DOMAIN,
    IDENTITY,
    Dataset,
    DatasetError,
    Normalisation,
    dataset_names,
    make_dataset,
)

BUILTINS = [
    "smiley",
    "three_modes",
    "circles",
    "moons",
    "spiral",
    "checkerboard",
    "eight_gaussians",
]
LABELLED = {"three_modes": 3, "circles": 2, "moons": 2, "eight_gaussians": 8}


def _radius(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points.astype(np.float64), axis=1)


# --------------------------------------------------------------------------- registry


def test_names_in_menu_order_with_custom_last() -> None:
    assert list(DATASETS) == BUILTINS
    assert dataset_names() == [*BUILTINS, "custom"]
    assert all(isinstance(title, str) and title for title, _ in DATASETS.values())


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'nope'") as info:
        make_dataset("nope")
    for name in BUILTINS:
        assert name in str(info.value)


def test_custom_cannot_be_generated() -> None:
    with pytest.raises(DatasetError, match="custom"):
        make_dataset("custom")


@pytest.mark.parametrize("n", [1, 0, -5, 2.5, "10", True])
def test_bad_n_rejected(n: object) -> None:
    with pytest.raises(DatasetError, match="n: expected an integer"):
        make_dataset("moons", n=n)  # type: ignore[arg-type]


def test_dataset_error_is_value_error() -> None:
    assert issubclass(DatasetError, ValueError)


# --------------------------------------------------------------------------- every built-in


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_contract(name: str) -> None:
    ds = make_dataset(name, n=4000, seed=3)
    assert ds.name == name
    assert ds.title == DATASETS[name][0]
    assert len(ds) == 4000
    assert ds.points.shape == (4000, 2)
    assert ds.points.dtype == np.float32
    assert ds.points.flags.c_contiguous
    assert np.isfinite(ds.points).all()
    assert np.abs(ds.points).max() <= DOMAIN
    # built-ins fill about [-3, 3]^2: almost nothing beyond it, and they use the space
    assert np.mean(np.abs(ds.points) > 3.0) < 0.005
    assert np.abs(ds.points).max() > 2.4


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_deterministic_for_seed(name: str) -> None:
    a, b = make_dataset(name, n=500, seed=7), make_dataset(name, n=500, seed=7)
    np.testing.assert_array_equal(a.points, b.points)
    if a.labels is None:
        assert b.labels is None
    else:
        np.testing.assert_array_equal(a.labels, b.labels)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_differs_across_seeds(name: str) -> None:
    a, b = make_dataset(name, n=500, seed=0), make_dataset(name, n=500, seed=1)
    assert not np.array_equal(a.points, b.points)


@pytest.mark.parametrize("name", BUILTINS)
def test_labels_exactly_for_labelled_datasets(name: str) -> None:
    ds = make_dataset(name, n=1000)
    if name in LABELLED:
        k = LABELLED[name]
        assert ds.labels is not None
        assert ds.labels.dtype == np.int64
        assert ds.num_classes == k == len(ds.class_names)
        assert len(set(ds.class_names)) == k
        counts = np.bincount(ds.labels, minlength=k)
        assert len(counts) == k and counts.min() > 0
    else:
        assert ds.labels is None
        assert ds.class_names == ()
        assert ds.num_classes == 0


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(BUILTINS),
    n=st.integers(min_value=2, max_value=300),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_any_size_and_seed(name: str, n: int, seed: int) -> None:
    ds = make_dataset(name, n=n, seed=seed)
    assert len(ds) == n
    assert np.abs(ds.points).max() <= DOMAIN
    if ds.labels is not None:
        assert ds.labels.shape == (n,)
        assert ds.labels.min() >= 0 and ds.labels.max() < ds.num_classes


def test_prefix_is_a_fair_sample() -> None:
    ds = make_dataset("eight_gaussians", n=2000)
    assert ds.labels is not None
    assert set(ds.labels[:100].tolist()) == set(range(8))  # shuffled, not grouped


# --------------------------------------------------------------------------- shapes


def test_circles_radii() -> None:
    ds = make_dataset("circles", n=6000)
    assert ds.class_names == ("inner", "outer")
    r = _radius(ds.points)
    inner, outer = r[ds.labels == 0], r[ds.labels == 1]
    assert abs(np.median(inner) - 1.25) < 0.03
    assert abs(np.median(outer) - 2.5) < 0.03
    assert inner.max() < outer.min()  # the rings do not touch
    # even density along both rings: outer ring has about twice the points
    assert 1.8 < len(outer) / len(inner) < 2.2


def test_eight_gaussians_near_centres() -> None:
    ds = make_dataset("eight_gaussians", n=8000)
    angles = np.arange(8) * np.pi / 4
    centres = 2.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    dist = np.linalg.norm(ds.points[:, None, :] - centres[None], axis=2)
    assert np.all(np.argmin(dist, axis=1) == ds.labels)
    assert dist.min(axis=1).max() < 0.15 * 6
    for k in range(8):
        members = ds.points[ds.labels == k]
        np.testing.assert_allclose(members.mean(axis=0), centres[k], atol=0.03)
        assert np.abs(members.std(axis=0) - 0.15).max() < 0.02
    assert ds.class_names == tuple(str(k) for k in range(8))


def test_three_modes_triangle() -> None:
    ds = make_dataset("three_modes", n=6000)
    means = np.array([ds.points[ds.labels == k].mean(axis=0) for k in range(3)])
    radii = np.linalg.norm(means, axis=1)
    np.testing.assert_allclose(radii, radii.mean(), atol=0.05)  # equilateral about 0
    np.testing.assert_allclose(means.mean(axis=0), [0, 0], atol=0.05)
    for k in range(3):
        assert abs(ds.points[ds.labels == k].std(axis=0) - 0.3).max() < 0.03


def test_smiley_outline_eyes_and_smile() -> None:
    ds = make_dataset("smiley", n=10000)
    pts = ds.points.astype(np.float64)
    r = _radius(pts)
    outline = np.abs(r - 2.5) < 0.25
    assert 0.55 < outline.mean() < 0.8  # the outline is most of the length
    assert np.all(r < 2.5 + 0.4)
    inner = pts[~outline]
    eyes = inner[inner[:, 1] > 0.3]
    smile = inner[inner[:, 1] < 0.0]
    assert len(eyes) > 0.05 * len(pts) and len(smile) > 0.05 * len(pts)
    assert np.sum(eyes[:, 0] < 0) == pytest.approx(np.sum(eyes[:, 0] > 0), rel=0.2)
    assert np.all(np.abs(np.abs(eyes[:, 0]) - 0.85) < 0.45)  # two blobs, left and right
    assert smile[:, 1].min() > -1.6 and abs(smile[:, 0].mean()) < 0.1


def test_moons_interleave() -> None:
    ds = make_dataset("moons", n=4000)
    upper, lower = ds.points[ds.labels == 0], ds.points[ds.labels == 1]
    assert upper[:, 1].mean() > lower[:, 1].mean()
    assert upper[:, 0].mean() < lower[:, 0].mean()
    assert np.ptp(ds.points[:, 0]) > 5.0  # fills the width


def test_checkerboard_alternate_cells() -> None:
    ds = make_dataset("checkerboard", n=8000)
    cells = np.floor((ds.points.astype(np.float64) + 3.0) / 1.5).astype(int)
    assert cells.min() >= 0 and cells.max() <= 3
    assert np.all(cells.sum(axis=1) % 2 == 0)
    _, counts = np.unique(cells, axis=0, return_counts=True)
    assert len(counts) == 8 and counts.min() > 0.8 * 1000


def test_spiral_reaches_centre_and_edge() -> None:
    r = _radius(make_dataset("spiral", n=4000).points)
    assert r.min() < 0.8 and 2.5 < r.max() <= 3.1


# --------------------------------------------------------------------------- Dataset


def _pts(m: int = 4) -> np.ndarray:
    return np.linspace(-1, 1, 2 * m, dtype=np.float32).reshape(m, 2)


def test_dataset_is_frozen() -> None:
    ds = make_dataset("moons", n=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"points": _pts().astype(np.float64)}, "dtype float32"),
        ({"points": _pts().ravel()}, "shape"),
        ({"points": np.zeros((0, 2), np.float32)}, "shape"),
        ({"points": np.asfortranarray(_pts(3))}, "C-contiguous"),
        ({"points": np.array([[0, 0], [np.nan, 1]], np.float32)}, r"points\[1\]"),
        ({"points": np.array([[0, 0], [4, 1]], np.float32)}, r"points\[1\].*outside"),
        ({"points": [[0.0, 0.0]]}, "numpy array"),
        ({"labels": np.array([0, 1, 2, 1])}, "class_names"),
        ({"labels": np.array([0, 1, 0, 1]), "class_names": ("a",)}, r"labels\[1\]"),
        ({"labels": np.array([0, 1, 0]), "class_names": ("a", "b")}, r"shape \(4,\)"),
        ({"labels": np.array([0, 1, 0, 1], np.int32), "class_names": ("a", "b")}, "int64"),
        ({"class_names": ("a",)}, "unlabelled"),
        ({"name": ""}, "name"),
    ],
)
def test_dataset_validation(kwargs: dict, match: str) -> None:
    fields = {"name": "t", "title": "T", "points": _pts(), "labels": None, "class_names": ()}
    fields.update(kwargs)
    with pytest.raises(DatasetError, match=match):
        Dataset(**fields)


def test_subset_draws_without_replacement() -> None:
    ds = make_dataset("eight_gaussians", n=1000)
    sub = ds.subset(100, seed=5)
    assert len(sub) == 100 and sub.class_names == ds.class_names and sub.name == ds.name
    rows = {tuple(p) for p in ds.points.tolist()}
    assert len({tuple(p) for p in sub.points.tolist()}) == 100
    assert all(tuple(p) in rows for p in sub.points.tolist())
    # labels travel with their points
    lookup = {tuple(p): lab for p, lab in zip(ds.points.tolist(), ds.labels, strict=True)}
    assert all(
        lookup[tuple(p)] == lab for p, lab in zip(sub.points.tolist(), sub.labels, strict=True)
    )
    np.testing.assert_array_equal(sub.points, ds.subset(100, seed=5).points)
    assert not np.array_equal(sub.points, ds.subset(100, seed=6).points)


def test_subset_all_when_n_large() -> None:
    ds = make_dataset("spiral", n=50)
    assert len(ds.subset(50)) == 50 and len(ds.subset(10**6)) == 50
    with pytest.raises(DatasetError):
        ds.subset(0)


def test_custom_converts_and_names_classes() -> None:
    ds = Dataset.custom([[0, 0], [1, 1], [2, -2]], labels=[0, 2, 1.0], title="Mine")
    assert ds.name == "custom" and ds.title == "Mine"
    assert ds.points.dtype == np.float32 and ds.points.flags.c_contiguous
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [0, 2, 1]
    assert ds.class_names == ("class 0", "class 1", "class 2")
    assert ds.num_classes == 3


def test_custom_defaults() -> None:
    ds = Dataset.custom(np.zeros((3, 2)))
    assert ds.title == "Custom" and ds.labels is None and ds.class_names == ()
    named = Dataset.custom(np.zeros((2, 2)), [1, 0], class_names=["cat", "dog"])
    assert named.class_names == ("cat", "dog")


@pytest.mark.parametrize(
    ("points", "labels", "names", "match"),
    [
        ([[0, 0], [1]], None, None, "points"),
        ([1, 2, 3], None, None, r"shape \(M, 2\)"),
        ([["a", "b"]], None, None, "points"),
        ([[0, 0], [1, 1]], [0], None, r"labels: expected shape \(2,\)"),
        ([[0, 0], [1, 1]], [0, -1], None, r"labels\[1\]"),
        ([[0, 0], [1, 1]], [0, 1.5], None, r"labels\[1\]"),
        ([[0, 0], [1, 1]], [True, False], None, "labels"),
        ([[0, 0], [1, 1]], ["a", "b"], None, "labels"),
        ([[0, 0], [1, 1]], [0, 5], ["a", "b"], r"labels\[1\]"),
        ([[0, 0], [1, 1]], None, ["a"], "without labels"),
        ([[0, 0], [1, 1]], [0, 10**6], None, "largest label"),
        ([[0, 0], [1e40, 1]], None, None, r"points\[1\].*outside"),
        ([[0, 0], [np.inf, 1]], None, None, "finite"),
    ],
)
def test_custom_rejects(points: object, labels: object, names: object, match: str) -> None:
    with pytest.raises(DatasetError, match=match):
        Dataset.custom(points, labels, names)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- normalisation


def test_normalisation_maps_both_ways() -> None:
    frame = Normalisation((10.0, 5.0), (0.5, -0.5))  # y down: a negative y scale
    np.testing.assert_array_equal(frame.to_model([[12.0, 9.0], [10.0, 5.0]]), [[1, -2], [0, 0]])
    np.testing.assert_array_equal(frame.to_file([[1.0, -2.0]]), [[12, 9]])
    trajectory = np.random.default_rng(0).normal(size=(4, 7, 2))  # (steps + 1, n, 2)
    np.testing.assert_allclose(frame.to_model(frame.to_file(trajectory)), trajectory, atol=1e-12)
    assert frame.to_file(trajectory).shape == (4, 7, 2) and not frame.identity


def test_normalisation_keeps_far_points_finite() -> None:
    frame = Normalisation((0.0, 5e307), (3e-308, 3e-308))
    np.testing.assert_allclose(frame.to_model([[1e308, 1e308]]), [[3.0, 1.5]])


def test_bundled_and_plain_custom_data_are_in_file_coordinates() -> None:
    assert make_dataset("moons", n=10).normalisation is IDENTITY and IDENTITY.identity
    assert Dataset.custom(np.zeros((2, 2))).normalisation.identity
    assert Normalisation(scale=(1, -1)) == Normalisation((0.0, 0.0), (1.0, -1.0))


def test_subset_keeps_the_normalisation() -> None:
    frame = Normalisation((3.0, -4.0), (2.0, -2.0))
    ds = Dataset.custom(np.zeros((20, 2)), normalisation=frame)
    assert ds.subset(5).normalisation == frame


@pytest.mark.parametrize(
    ("centre", "scale", "match"),
    [
        ((np.nan, 0.0), (1.0, 1.0), "centre.*finite"),
        ((0.0, 0.0), (1.0, 0.0), "scale.*non-zero"),
        ((0.0, 0.0), (np.inf, 1.0), "scale.*finite"),
        ((0.0,), (1.0, 1.0), "centre"),
        ((True, 0.0), (1.0, 1.0), "centre"),
        ((0.0, 0.0), ("1", 1.0), "scale"),
        ((0.0, 0.0), 1.0, "scale"),
    ],
)
def test_normalisation_rejects(centre: object, scale: object, match: str) -> None:
    with pytest.raises(DatasetError, match=match):
        Normalisation(centre, scale)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="normalisation"):
        Dataset.custom(np.zeros((2, 2)), normalisation="identity")  # type: ignore[arg-type]
