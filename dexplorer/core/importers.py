"""Load user datasets from CSV, JSON and image files.

Every problem with a file is reported as a `DatasetError` whose message names the
file, the line or field at fault, and what was expected there.

Formats
-------
CSV
    Rows ``x,y`` or ``x,y,label``; an optional header row (e.g. ``x,y,label``); blank
    lines are ignored; every row has the same number of columns.
JSON
    ``{"points": [[x, y], ...], "labels": [...]}`` (labels optional) or a bare list of
    ``[x, y]`` pairs.
PNG / JPEG
    Points are sampled from the dark pixels (luminance < 0.5, and alpha > 0.5 where
    there is alpha), the image's longest side spanning ``[-3, 3]``, y up.

Coordinates
-----------
A file keeps its own coordinates: points outside the domain are mapped into ``[-3, 3]^2``
(centred, one scale for both axes), and the dataset's `Normalisation` records the map so
that samples, trajectories and exports go back to the file's coordinates. With ``y_down``
(files in screen orientation, like the original Diffusion Explorer's JSON datasets, whose
plot draws y downwards) the y axis is turned over as well.

Labels may be any non-negative integers; they are renumbered ``0 .. K-1`` in
increasing order and the classes named ``"class <original label>"``.
"""

from __future__ import annotations

import json
import math
import operator
import os
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from dexplorer.core.datasets import (
    DOMAIN,
    EXTENT,
    MAX_CLASSES,
    Dataset,
    DatasetError,
    Normalisation,
)

__all__ = ["MAX_POINTS", "SUFFIXES", "DatasetWarning", "load_dataset_file"]

MAX_POINTS = 1_000_000
"""Files with more points are subsampled (seeded) to this many."""

SUFFIXES = (".csv", ".json", ".png", ".jpg", ".jpeg")
"""File suffixes `load_dataset_file` understands (case-insensitive)."""

_MAX_LABEL = 2**53  # labels must be exactly representable as float64


class DatasetWarning(UserWarning):
    """An imported file was usable but had to be changed (rescaled or subsampled)."""


def load_dataset_file(
    path: str | os.PathLike[str], *, image_points: int = 5000, seed: int = 0, y_down: bool = False
) -> Dataset:
    """Load a custom dataset from a .csv, .json, .png, .jpg or .jpeg file.

    Parameters
    ----------
    path : str or os.PathLike
        The file; its suffix picks the format and its stem becomes the title.
    image_points : int
        Number of points to sample from an image (at least 2).
    seed : int
        Seed for image sampling and for subsampling files with over `MAX_POINTS` points.
    y_down : bool
        The file's y axis points down (screen orientation): its points are turned the
        right way up. Images are always read with their rows going down, so it changes
        nothing for them.

    Returns
    -------
    Dataset
        Named ``"custom"``; points inside ``[-DOMAIN, DOMAIN]^2``, with the normalisation
        that maps them back to the file's coordinates.

    Raises
    ------
    DatasetError
        For a missing, unreadable or malformed file; the message names the file, the
        line or field, and what was expected.

    Warns
    -----
    DatasetWarning
        When points outside the domain are rescaled into ``[-3, 3]^2`` (for the model;
        outputs are mapped back), or when more than `MAX_POINTS` points are subsampled.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise DatasetError(
            f"{p}: unsupported file type {p.suffix or '(none)'!r}; "
            f"expected one of {', '.join(SUFFIXES)}"
        )
    data = _read_bytes(p)
    if suffix == ".csv":
        points, labels = _parse_csv(_decode(p, data), p)
    elif suffix == ".json":
        points, labels = _parse_json(_decode(p, data), p)
    else:
        points, labels = _sample_image(p, data, suffix, image_points, seed), None
        y_down = False  # already read with the rows going down
    return _finish(p, points, labels, seed, y_down)


# --------------------------------------------------------------------------- reading


def _read_bytes(p: Path) -> bytes:
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise DatasetError(f"{p}: file not found; expected an existing file") from exc
    except IsADirectoryError as exc:
        raise DatasetError(f"{p}: is a directory; expected a file") from exc
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise DatasetError(
            f"{p}: could not read file ({reason}); expected a readable file"
        ) from exc
    if not data.strip():
        raise DatasetError(f"{p}: file is empty; expected at least 2 points")
    return data


def _decode(p: Path, data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{p}: byte {exc.start} is not valid UTF-8; expected a UTF-8 text file"
        ) from exc
    if not text.strip():
        raise DatasetError(f"{p}: file is empty; expected at least 2 points")
    return text


def _show(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(text: str) -> float | None:
    """Parse a finite or non-finite float, or return None if `text` is not a number."""
    try:
        return float(text)
    except ValueError:
        return None


# --------------------------------------------------------------------------- CSV


def _parse_csv(text: str, p: Path) -> tuple[np.ndarray, np.ndarray | None]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # numbered as editors do
    rows = [(i, line.split(",")) for i, line in enumerate(lines, 1) if line.strip()]
    first_line, first = rows[0]
    if all(_number(f) is None for f in first):  # header row: no field is a number
        rows = rows[1:]
    ncols = len(first)
    if ncols not in (2, 3):
        raise DatasetError(
            f"{p}: line {first_line}: found {ncols} columns; "
            "expected 2 (x,y) or 3 (x,y,label) comma-separated columns"
        )
    values = np.empty((len(rows), ncols), dtype=np.float64)
    for r, (line_no, fields) in enumerate(rows):
        values[r] = _csv_row(p, line_no, fields, ncols, first_line)
    labels = None if ncols == 2 else values[:, 2]
    return values[:, :2], labels


def _csv_row(p: Path, line_no: int, fields: list[str], ncols: int, first: int) -> list[float]:
    if len(fields) != ncols:
        raise DatasetError(
            f"{p}: line {line_no}: found {len(fields)} columns; expected {ncols} like line {first}"
        )
    out = []
    for col, field in enumerate(fields, 1):
        value = _number(field)
        what = "a label" if col == 3 else "a number"
        if value is None:
            raise DatasetError(
                f"{p}: line {line_no}, column {col}: got {_show(field.strip())}; expected {what}"
            )
        if not math.isfinite(value):
            raise DatasetError(
                f"{p}: line {line_no}, column {col}: got {_show(field.strip())}; "
                "expected a finite number"
            )
        if col == 3 and not _is_label(value):
            raise DatasetError(
                f"{p}: line {line_no}, column 3: label {_show(field.strip())} "
                "is not a non-negative integer; expected 0, 1, 2, ..."
            )
        out.append(value)
    return out


def _is_label(value: float) -> bool:
    return 0 <= value < _MAX_LABEL and value == math.floor(value)


# --------------------------------------------------------------------------- JSON


def _parse_json(text: str, p: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{p}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise DatasetError(f"{p}: invalid JSON ({type(exc).__name__}: {exc})") from exc
    if isinstance(doc, list):
        return _json_points(p, doc, "points"), None
    if not isinstance(doc, dict) or "points" not in doc:
        raise DatasetError(
            f"{p}: top level is {type(doc).__name__}; expected an object with a "
            '"points" field or a list of [x, y] pairs'
        )
    points = _json_points(p, doc["points"], "points")
    raw_labels = doc.get("labels")
    labels = None if raw_labels is None else _json_labels(p, raw_labels, len(points))
    return points, labels


def _json_points(p: Path, items: object, field: str) -> np.ndarray:
    if not isinstance(items, list):
        raise DatasetError(
            f"{p}: field {field!r} is {type(items).__name__}; expected a list of [x, y] pairs"
        )
    out = np.empty((len(items), 2), dtype=np.float64)
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        if not isinstance(item, list) or len(item) != 2:
            raise DatasetError(f"{p}: field {where!r} is {_show(item)}; expected [x, y]")
        out[i] = [_json_number(p, f"{where}[{j}]", v) for j, v in enumerate(item)]
    return out


def _json_number(p: Path, where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DatasetError(f"{p}: field {where!r} is {_show(value)}; expected a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise DatasetError(f"{p}: field {where!r} is {_show(value)}; expected a finite number")
    return number


def _json_labels(p: Path, items: object, count: int) -> np.ndarray:
    if not isinstance(items, list):
        raise DatasetError(
            f"{p}: field 'labels' is {type(items).__name__}; expected a list of integers"
        )
    if len(items) != count:
        raise DatasetError(
            f"{p}: field 'labels' has {len(items)} entries for {count} points; "
            "expected one label per point"
        )
    out = np.empty(count, dtype=np.float64)
    for i, value in enumerate(items):
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (is_number and _is_label(value)):
            raise DatasetError(
                f"{p}: field 'labels[{i}]' is {_show(value)}; expected a non-negative integer"
            )
        out[i] = value
    return out


# --------------------------------------------------------------------------- images


def _sample_image(p: Path, data: bytes, suffix: str, count: int, seed: int) -> np.ndarray:
    try:
        count = operator.index(count)
    except TypeError:
        count = -1
    if count < 2:
        raise DatasetError(f"image_points: got {count!r}; expected an integer >= 2")
    dark = _dark_mask(p, data, suffix)
    rows, cols = np.nonzero(dark)
    if rows.size == 0:
        raise DatasetError(
            f"{p}: image has no dark pixels; expected a dark drawing "
            "(luminance < 0.5, opaque) on a light or transparent background"
        )
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, rows.size, count)
    x = cols[pick] + rng.uniform(0.0, 1.0, count)
    y = rows[pick] + rng.uniform(0.0, 1.0, count)
    height, width = dark.shape
    scale = 2 * EXTENT / max(height, width)
    return np.stack([(x - width / 2) * scale, (height / 2 - y) * scale], axis=1)


def _dark_mask(p: Path, data: bytes, suffix: str) -> np.ndarray:
    """Return a (H, W) bool mask of the opaque dark pixels."""
    pixels = _read_image(p, data, suffix)
    if pixels.ndim == 2:
        gray, alpha = pixels, None
    else:
        gray = pixels[..., :3] @ np.array([0.299, 0.587, 0.114])
        alpha = pixels[..., 3]
    dark = gray < 0.5
    return dark if alpha is None else dark & (alpha > 0.5)


def _read_image(p: Path, data: bytes, suffix: str) -> np.ndarray:
    """Decode to float64 in [0, 1]: (H, W) grayscale or (H, W, 4) RGBA."""
    try:
        mode = iio.immeta(data, plugin="pillow", extension=suffix, index=0).get("mode", "")
        if mode.startswith(("I", "F")):  # 16-bit or float grayscale: keep the full range
            pixels = np.asarray(iio.imread(data, plugin="pillow", extension=suffix, index=0))
        else:
            pixels = np.asarray(
                iio.imread(data, plugin="pillow", extension=suffix, index=0, mode="RGBA")
            )
    except Exception as exc:  # decoders raise anything on corrupt data
        raise DatasetError(
            f"{p}: could not read image ({type(exc).__name__}: {_show(str(exc), 80)}); "
            "expected a valid PNG or JPEG file"
        ) from exc
    layout_ok = pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 4)
    if not layout_ok or pixels.size == 0:
        raise DatasetError(f"{p}: image has shape {pixels.shape}; expected a 2D picture")
    return _to_unit(pixels)


def _to_unit(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.bool_:
        return pixels.astype(np.float64)
    if pixels.dtype == np.uint8:
        return pixels / 255.0
    if pixels.dtype.kind in "iu":  # 16-bit PNG, read as uint16 or int32
        return pixels / 65535.0
    return np.nan_to_num(pixels.astype(np.float64), nan=1.0)


# --------------------------------------------------------------------------- finishing


def _finish(
    p: Path, points: np.ndarray, labels: np.ndarray | None, seed: int, y_down: bool
) -> Dataset:
    if len(points) < 2:
        raise DatasetError(f"{p}: found {len(points)} point(s); expected at least 2")
    normalisation = _normalisation(p, points, y_down)
    points = normalisation.to_model(points)
    if len(points) > MAX_POINTS:
        warnings.warn(
            f"{p}: {len(points):,} points; subsampled to {MAX_POINTS:,} (seed {seed})",
            DatasetWarning,
            stacklevel=3,
        )
        keep = np.sort(np.random.default_rng(seed).choice(len(points), MAX_POINTS, replace=False))
        points = points[keep]
        labels = None if labels is None else labels[keep]
    if labels is None:
        return Dataset.custom(points, title=p.stem, normalisation=normalisation)
    values, compact = np.unique(labels.astype(np.int64), return_inverse=True)
    if len(values) > MAX_CLASSES:
        raise DatasetError(
            f"{p}: labels: found {len(values)} distinct labels; expected at most {MAX_CLASSES}"
        )
    names = [f"class {v}" for v in values]
    return Dataset.custom(
        points, compact.reshape(-1), names, title=p.stem, normalisation=normalisation
    )


def _normalisation(p: Path, points: np.ndarray, y_down: bool) -> Normalisation:
    """How the file's points map into the domain: the identity (y turned over when
    ``y_down``) if every point is inside it; otherwise centred and scaled uniformly into
    ``[-EXTENT, EXTENT]^2``, with a warning."""
    flip = -1.0 if y_down else 1.0
    if np.abs(points).max() <= DOMAIN:
        return Normalisation(scale=(1.0, flip))
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = lo / 2 + hi / 2  # halves first: no overflow near the float64 limit
    half = float((hi / 2 - lo / 2).max())
    scale = EXTENT / half if half > 0 else math.inf
    scale = scale if math.isfinite(scale) else 1.0  # no (or a subnormal) spread: the centre
    warnings.warn(
        f"{p}: points span x [{lo[0]:.4g}, {hi[0]:.4g}], y [{lo[1]:.4g}, {hi[1]:.4g}], "
        f"outside [-{DOMAIN}, {DOMAIN}]^2; rescaled uniformly into [-{EXTENT:g}, {EXTENT:g}]^2 "
        "for the model (samples and exports are mapped back to the file's coordinates)",
        DatasetWarning,
        stacklevel=4,
    )
    return Normalisation((float(centre[0]), float(centre[1])), (scale, flip * scale))
