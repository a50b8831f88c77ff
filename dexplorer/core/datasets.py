"""Built-in 2D datasets and the `Dataset` container (numpy only).

Every dataset is a cloud of 2D points inside the square ``[-DOMAIN, DOMAIN]^2``,
optionally with one integer class label per point. The built-in shapes stay inside
about ``[-3, 3]^2`` so they fill a projector screen without touching its edges.

Examples
--------
>>> ds = make_dataset("moons", n=1000, seed=0)
>>> ds.points.shape, ds.num_classes
((1000, 2), 2)
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "DATASETS",
    "DOMAIN",
    "EXTENT",
    "IDENTITY",
    "MAX_CLASSES",
    "Dataset",
    "DatasetError",
    "Normalisation",
    "dataset_names",
    "make_dataset",
]

DOMAIN = 3.5
"""Half-width of the square that holds every dataset's points."""

EXTENT = 3.0
"""Half-width of the square that built-in shapes (and rescaled imports) fill."""

MAX_CLASSES = 256
"""The most classes a labelled dataset may have."""

Generated = tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]
Generator = Callable[[int, np.random.Generator], Generated]


class DatasetError(ValueError):
    """A dataset (or the file it came from) is not what was expected.

    The message names the source (file) where there is one, the line or field at
    fault, and what was expected there.
    """


# --------------------------------------------------------------------------- container


@dataclass(frozen=True)
class Normalisation:
    """The map from a file's coordinates into the model's domain, and back.

    ``model = (file - centre) * scale`` per axis; a negative ``scale[1]`` turns a file whose
    y points down (screen orientation) the right way up. The identity for the bundled
    datasets, drawings and files already inside the domain.

    Raises
    ------
    DatasetError
        Unless ``centre`` is two finite numbers and ``scale`` two finite non-zero numbers.
    """

    centre: tuple[float, float] = (0.0, 0.0)
    scale: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "centre", _pair("centre", self.centre))
        object.__setattr__(self, "scale", _pair("scale", self.scale))
        if 0.0 in self.scale:
            raise DatasetError(f"normalisation scale: got {self.scale}; expected non-zero numbers")

    @property
    def identity(self) -> bool:
        """Whether file and model coordinates are the same."""
        return self == IDENTITY

    def to_model(self, points: npt.ArrayLike) -> np.ndarray:
        """File coordinates (..., 2) to the model's, as float64 (halves first: no overflow
        for points as far apart as float64 allows)."""
        p = np.asarray(points, dtype=np.float64)
        half = p / 2 - np.asarray(self.centre) / 2
        return half * np.asarray(self.scale) * 2

    def to_file(self, points: npt.ArrayLike) -> np.ndarray:
        """Model coordinates (..., 2), e.g. samples or trajectories, to the file's, as
        float64."""
        p = np.asarray(points, dtype=np.float64)
        return p / np.asarray(self.scale) + np.asarray(self.centre)


def _pair(field: str, value: object) -> tuple[float, float]:
    """Two finite floats from a pair of real numbers."""
    ok = isinstance(value, (tuple, list)) and len(value) == 2
    ok = ok and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    if not ok or not all(math.isfinite(v) for v in value):
        raise DatasetError(f"normalisation {field}: got {value!r}; expected two finite numbers")
    return float(value[0]), float(value[1])


IDENTITY = Normalisation()
"""File coordinates are model coordinates."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A 2D point cloud, optionally labelled.

    Parameters
    ----------
    name : str
        Machine name, e.g. ``"moons"`` or ``"custom"``.
    title : str
        Human-readable title for the UI.
    points : np.ndarray
        float32 array of shape (M, 2), C-contiguous, finite, inside ``[-DOMAIN, DOMAIN]^2``.
    labels : np.ndarray or None
        int64 array of shape (M,) with values in ``0 .. K-1``, or None when unlabelled.
    class_names : tuple of str
        One name per class (K of them); empty when unlabelled.
    normalisation : Normalisation
        How the points were mapped from the file they came from (identity when there was
        none); every output undoes it.

    Raises
    ------
    DatasetError
        If any field breaks the rules above.

    Notes
    -----
    Equality and hashing are by identity (the arrays make value equality ambiguous).
    """

    name: str
    title: str
    points: np.ndarray
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    normalisation: Normalisation = IDENTITY

    def __post_init__(self) -> None:
        _check_text("name", self.name, allow_empty=False)
        _check_text("title", self.title, allow_empty=True)
        _check_points(self.points)
        _check_labels(self.labels, self.class_names, len(self.points))
        if not isinstance(self.normalisation, Normalisation):
            raise DatasetError("normalisation: expected a Normalisation")

    @property
    def num_classes(self) -> int:
        """Number of classes (0 when unlabelled)."""
        return len(self.class_names) if self.labels is not None else 0

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def subset(self, n: int, seed: int = 0) -> Dataset:
        """Return ``n`` points drawn without replacement (all of them if ``n >= len(self)``).

        Parameters
        ----------
        n : int
            Number of points wanted, at least 1.
        seed : int
            Seed for the draw; the same seed gives the same subset.

        Returns
        -------
        Dataset
            A new dataset with the same name, title, class names and normalisation.
        """
        n = _as_count("n", n, minimum=1)
        if n >= len(self):
            return self
        idx = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        labels = None if self.labels is None else self.labels[idx]
        points = self.points[idx]
        return Dataset(self.name, self.title, points, labels, self.class_names, self.normalisation)

    @classmethod
    def custom(
        cls,
        points: npt.ArrayLike,
        labels: npt.ArrayLike | None = None,
        class_names: Sequence[str] | None = None,
        title: str = "Custom",
        normalisation: Normalisation = IDENTITY,
    ) -> Dataset:
        """Build a dataset named ``"custom"`` from user points.

        Parameters
        ----------
        points : array_like
            Shape (M, 2) coordinates; converted to C-contiguous float32.
        labels : array_like, optional
            M non-negative integer labels (integral floats are accepted).
        class_names : sequence of str, optional
            One name per class; defaults to ``"class 0", "class 1", ...`` up to the
            largest label. Only allowed together with ``labels``.
        title : str
            Title for the UI.
        normalisation : Normalisation
            How ``points`` were mapped from their file (identity: they were not).

        Returns
        -------
        Dataset

        Raises
        ------
        DatasetError
            If the points or labels cannot be converted or break the `Dataset` rules.
        """
        pts = _to_points(points)
        if labels is None:
            if class_names:
                raise DatasetError("class_names: given without labels; expected labels too")
            return cls("custom", title, pts, None, (), normalisation)
        lab = _to_labels(labels)
        if class_names is None:
            count = int(lab.max()) + 1 if lab.size else 0
            if count > MAX_CLASSES:
                raise DatasetError(
                    f"labels: largest label is {count - 1}; expected at most {MAX_CLASSES - 1}"
                )
            names = tuple(f"class {k}" for k in range(count))
        else:
            names = tuple(class_names)
        return cls("custom", title, pts, lab, names, normalisation)


# --------------------------------------------------------------------------- validation


def _check_text(field: str, value: object, *, allow_empty: bool) -> None:
    if not isinstance(value, str):
        raise DatasetError(f"{field}: expected a str, got {type(value).__name__}")
    if not allow_empty and not value:
        raise DatasetError(f"{field}: expected a non-empty str")


def _check_points(points: object) -> None:
    if not isinstance(points, np.ndarray):
        raise DatasetError(f"points: expected a numpy array, got {type(points).__name__}")
    if points.dtype != np.float32:
        raise DatasetError(f"points: expected dtype float32, got {points.dtype}")
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 1:
        raise DatasetError(f"points: expected shape (M, 2) with M >= 1, got {points.shape}")
    if not points.flags.c_contiguous:
        raise DatasetError("points: expected a C-contiguous array")
    _check_values(points)


def _check_values(points: np.ndarray) -> None:
    """Raise unless every coordinate is finite and inside the domain."""
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        raise DatasetError(f"points[{row}]: expected finite coordinates, got {points[row]}")
    outside = (np.abs(points) > DOMAIN).any(axis=1)
    if outside.any():
        row = int(np.argmax(outside))
        raise DatasetError(
            f"points[{row}]: {points[row]} lies outside [-{DOMAIN}, {DOMAIN}]^2; "
            "expected every point inside the domain"
        )


def _check_labels(labels: object, class_names: object, count: int) -> None:
    if not isinstance(class_names, tuple) or not all(isinstance(c, str) for c in class_names):
        raise DatasetError("class_names: expected a tuple of str")
    if labels is None:
        if class_names:
            raise DatasetError("class_names: expected () for an unlabelled dataset")
        return
    if not isinstance(labels, np.ndarray) or labels.dtype != np.int64:
        raise DatasetError("labels: expected an int64 numpy array or None")
    if labels.shape != (count,):
        raise DatasetError(f"labels: expected shape ({count},), got {labels.shape}")
    k = len(class_names)
    if not 1 <= k <= MAX_CLASSES:
        raise DatasetError(f"class_names: expected 1 to {MAX_CLASSES} names, got {k}")
    bad = (labels < 0) | (labels >= k)
    if bad.any():
        row = int(np.argmax(bad))
        raise DatasetError(f"labels[{row}]: got {labels[row]}; expected a value in 0..{k - 1}")


def _to_points(points: object) -> np.ndarray:
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DatasetError(f"points: expected an (M, 2) array of numbers ({exc})") from exc
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DatasetError(f"points: expected shape (M, 2), got {arr.shape}")
    _check_values(arr)  # before the float32 cast, which would turn 1e40 into inf
    return np.ascontiguousarray(arr, dtype=np.float32)


def _to_labels(labels: object) -> np.ndarray:
    try:
        arr = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"labels: expected a 1D array of integers ({exc})") from exc
    if arr.ndim != 1 or arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise DatasetError(
            f"labels: expected a 1D array of non-negative integers, got {arr.dtype} {arr.shape}"
        )
    ok = (arr >= 0) & (arr < 2**53)
    if arr.dtype.kind == "f":
        ok &= arr == np.floor(arr)
    if not ok.all():
        row = int(np.argmin(ok))
        raise DatasetError(f"labels[{row}]: got {arr[row]}; expected a non-negative integer")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _as_count(field: str, value: object, *, minimum: int) -> int:
    try:
        n = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise DatasetError(f"{field}: expected an integer, got {value!r}") from None
    if isinstance(value, bool) or n < minimum:
        raise DatasetError(f"{field}: expected an integer >= {minimum}, got {value!r}")
    return n


# --------------------------------------------------------------------------- shapes


def _split(n: int, weights: Sequence[float]) -> np.ndarray:
    """Split ``n`` into integer parts proportional to ``weights`` (largest remainder)."""
    w = np.asarray(weights, dtype=np.float64)
    exact = n * w / w.sum()
    parts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - parts), kind="stable")
    parts[order[: n - int(parts.sum())]] += 1
    return parts


def _component_labels(parts: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(parts), dtype=np.int64), parts)


def _ring(n: int, rng: np.random.Generator, radius: float, noise: float) -> np.ndarray:
    theta = rng.uniform(0.0, 2.0 * np.pi, n)
    r = radius + noise * rng.standard_normal(n)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def _blobs(
    n: int, rng: np.random.Generator, centres: np.ndarray, std: float
) -> tuple[np.ndarray, np.ndarray]:
    parts = _split(n, np.ones(len(centres)))
    labels = _component_labels(parts)
    return centres[labels] + std * rng.standard_normal((n, 2)), labels


def _smiley(n: int, rng: np.random.Generator) -> Generated:
    face_r, smile_r, smile_y, eye_r = 2.5, 1.5, 0.3, 0.28
    arc = (np.deg2rad(205.0), np.deg2rad(335.0))
    eyes = np.array([[-0.85, 0.8], [0.85, 0.8]])
    lengths = [2 * np.pi * face_r, smile_r * (arc[1] - arc[0]), 2.0, 2.0]
    n_face, n_smile, n_left, n_right = _split(n, lengths)
    face = _ring(n_face, rng, face_r, 0.06)
    theta = rng.uniform(arc[0], arc[1], n_smile)
    smile = np.stack([smile_r * np.cos(theta), smile_y + smile_r * np.sin(theta)], axis=1)
    smile += 0.07 * rng.standard_normal(smile.shape)
    eye_pts = [
        _disc(k, rng, centre, eye_r) for k, centre in zip((n_left, n_right), eyes, strict=True)
    ]
    return np.concatenate([face, smile, *eye_pts]), None, ()


def _disc(n: int, rng: np.random.Generator, centre: np.ndarray, radius: float) -> np.ndarray:
    theta = rng.uniform(0.0, 2.0 * np.pi, n)
    r = radius * np.sqrt(rng.uniform(0.0, 1.0, n))
    return centre + np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def _three_modes(n: int, rng: np.random.Generator) -> Generated:
    angles = np.deg2rad([90.0, 210.0, 330.0])
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points, labels = _blobs(n, rng, centres, 0.3)
    return points, labels, ("mode A", "mode B", "mode C")


def _circles(n: int, rng: np.random.Generator) -> Generated:
    radii = (1.25, 2.5)
    parts = _split(n, radii)  # proportional to circumference: even density
    points = np.concatenate([_ring(k, rng, r, 0.08) for k, r in zip(parts, radii, strict=True)])
    return points, _component_labels(parts), ("inner", "outer")


def _moons(n: int, rng: np.random.Generator) -> Generated:
    parts = _split(n, (1, 1))
    t_up, t_low = rng.uniform(0.0, np.pi, parts[0]), rng.uniform(0.0, np.pi, parts[1])
    upper = np.stack([np.cos(t_up), np.sin(t_up)], axis=1)
    lower = np.stack([1.0 - np.cos(t_low), 0.5 - np.sin(t_low)], axis=1)
    points = (np.concatenate([upper, lower]) - [0.5, 0.25]) * 1.85
    points += 0.08 * rng.standard_normal(points.shape)
    return points, _component_labels(parts), ("upper moon", "lower moon")


def _spiral(n: int, rng: np.random.Generator) -> Generated:
    turns, r_max, start = 1.5, 2.75, 0.06
    # theta ~ sqrt(u) spreads points evenly along an Archimedean arm (arc length ~ theta^2)
    theta = 2 * np.pi * turns * np.sqrt(rng.uniform(start, 1.0, n))
    r = r_max * theta / (2 * np.pi * turns)
    theta = theta + np.pi * rng.integers(0, 2, n)  # two arms, half a turn apart
    points = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return points + 0.08 * rng.standard_normal(points.shape), None, ()


def _checkerboard(n: int, rng: np.random.Generator) -> Generated:
    cells, size = 4, 2 * EXTENT / 4
    filled = np.array([(i, j) for i in range(cells) for j in range(cells) if (i + j) % 2 == 0])
    corner = filled[rng.integers(0, len(filled), n)] * size - EXTENT
    return corner + rng.uniform(0.0, size, (n, 2)), None, ()


def _eight_gaussians(n: int, rng: np.random.Generator) -> Generated:
    angles = np.arange(8) * (np.pi / 4)
    centres = 2.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points, labels = _blobs(n, rng, centres, 0.15)
    return points, labels, tuple(str(k) for k in range(8))


DATASETS: dict[str, tuple[str, Generator]] = {
    "smiley": ("Smiley face", _smiley),
    "three_modes": ("Three modes", _three_modes),
    "circles": ("Two circles", _circles),
    "moons": ("Two moons", _moons),
    "spiral": ("Spiral", _spiral),
    "checkerboard": ("Checkerboard", _checkerboard),
    "eight_gaussians": ("Eight Gaussians", _eight_gaussians),
}
"""Built-in datasets in menu order: name -> (title, generator(n, rng))."""


def dataset_names() -> list[str]:
    """Return every dataset name in menu order, ending with ``"custom"``.

    Returns
    -------
    list of str
    """
    return [*DATASETS, "custom"]


def make_dataset(name: str, n: int = 5000, seed: int = 0) -> Dataset:
    """Generate a built-in dataset.

    Parameters
    ----------
    name : str
        One of the keys of `DATASETS`.
    n : int
        Number of points, at least 2.
    seed : int
        Seed for ``np.random.default_rng``; the same seed gives the same points.

    Returns
    -------
    Dataset
        Points shuffled into random order (any prefix is a fair sample).

    Raises
    ------
    DatasetError
        For an unknown name, ``"custom"`` (it needs points), or ``n < 2``.
    """
    if name == "custom":
        raise DatasetError(
            "name: 'custom' has no generator; expected Dataset.custom(points) "
            "or load_dataset_file(path)"
        )
    if not isinstance(name, str) or name not in DATASETS:
        raise DatasetError(f"name: unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    n = _as_count("n", n, minimum=2)
    title, generate = DATASETS[name]
    rng = np.random.default_rng(seed)
    points, labels, class_names = generate(n, rng)
    order = rng.permutation(n)
    points = np.clip(points[order], -DOMAIN, DOMAIN)
    labels = None if labels is None else labels[order]
    return Dataset(name, title, np.ascontiguousarray(points, np.float32), labels, class_names)
