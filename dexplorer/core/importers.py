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

Limits
------
Only regular files are read (a FIFO or a device is refused, never waited on), and a file
larger than `MAX_FILE_BYTES` or an image of more than `MAX_IMAGE_PIXELS` pixels (read from
its header) is refused before it is read or decoded.

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

import io
import json
import math
import operator
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dexplorer.core.datasets import (
    DOMAIN,
    EXTENT,
    MAX_CLASSES,
    Dataset,
    DatasetError,
    Normalisation,
)
from dexplorer.core.inputs import InputFileError, read_bytes

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_POINTS",
    "SUFFIXES",
    "DatasetWarning",
    "load_dataset_file",
]

MAX_POINTS = 1_000_000
"""Files with more points are subsampled (seeded) to this many."""

MAX_FILE_BYTES = 64 << 20
"""The largest data file read, of any format (a CSV of about two million points)."""

MAX_IMAGE_PIXELS = 25_000_000
"""The most pixels an image may have (a 24-megapixel photo, or 5000 x 5000)."""

IMAGE_FORMATS = ("PNG", "JPEG")
"""The decoders an image file may use."""

_STRIP_PIXELS = 1 << 20  # an image is turned into its dark-pixel mask this many pixels at a time

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
        For a missing, unreadable, special (FIFO, device), too large or malformed file;
        the message names the file, the line or field, and what was expected.

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
        points, labels = _sample_image(p, data, image_points, seed), None
        y_down = False  # already read with the rows going down
    return _finish(p, points, labels, seed, y_down)


# --------------------------------------------------------------------------- reading


def _read_bytes(p: Path) -> bytes:
    try:
        data = read_bytes(p, MAX_FILE_BYTES)
    except FileNotFoundError as exc:
        raise DatasetError(f"{p}: file not found; expected an existing file") from exc
    except InputFileError as exc:
        raise DatasetError(f"{p}: {exc}") from None
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
    """Rows parsed one at a time into one array (no list of every row's fields)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # lines numbered as editors do
    rows = ((i, line) for i, line in enumerate(_lines(text), 1) if line.strip())
    first_line, line = next(rows)
    first = line.split(",")
    ncols = len(first)
    if ncols not in (2, 3):
        raise DatasetError(
            f"{p}: line {first_line}: found {ncols} columns; "
            "expected 2 (x,y) or 3 (x,y,label) comma-separated columns"
        )
    values = np.empty((text.count("\n") + 1, ncols), dtype=np.float64)
    count = 0
    if not all(_number(f) is None for f in first):  # else a header row: no field is a number
        values[0] = _csv_row(p, first_line, first, ncols, first_line)
        count = 1
    for line_no, line in rows:
        values[count] = _csv_row(p, line_no, line.split(","), ncols, first_line)
        count += 1
    values = values[:count]
    labels = None if ncols == 2 else values[:, 2]
    return values[:, :2], labels


def _lines(text: str) -> Iterator[str]:
    """``text.split("\\n")`` one line at a time."""
    start = 0
    while (end := text.find("\n", start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


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


def _sample_image(p: Path, data: bytes, count: int, seed: int) -> np.ndarray:
    try:
        count = operator.index(count)
    except TypeError:
        count = -1
    if count < 2:
        raise DatasetError(f"image_points: got {count!r}; expected an integer >= 2")
    dark = _dark_mask(p, data)
    per_row = np.count_nonzero(dark, axis=1)
    total = int(per_row.sum())
    if total == 0:
        raise DatasetError(
            f"{p}: image has no dark pixels; expected a dark drawing "
            "(luminance < 0.5, opaque) on a light or transparent background"
        )
    rng = np.random.default_rng(seed)
    rows, cols = _dark_pixels(dark, per_row, rng.integers(0, total, count))
    x = cols + rng.uniform(0.0, 1.0, count)
    y = rows + rng.uniform(0.0, 1.0, count)
    height, width = dark.shape
    scale = 2 * EXTENT / max(height, width)
    return np.stack([(x - width / 2) * scale, (height / 2 - y) * scale], axis=1)


def _dark_pixels(
    dark: np.ndarray, per_row: np.ndarray, picks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the dark pixels numbered ``picks`` in reading order (what
    ``np.nonzero(dark)`` indexed by ``picks`` gives, without listing every dark pixel)."""
    ends = np.cumsum(per_row)
    rows = np.searchsorted(ends, picks, side="right")
    within = picks - (ends[rows] - per_row[rows])
    cols = np.empty_like(picks)
    order = np.argsort(rows, kind="stable")
    first = np.flatnonzero(np.diff(rows[order], prepend=-1))
    for begin, end in zip(first, [*first[1:], len(order)], strict=True):
        group = order[begin:end]
        cols[group] = np.flatnonzero(dark[rows[group[0]]])[within[group]]
    return rows, cols


def _dark_mask(p: Path, data: bytes) -> np.ndarray:
    """A (H, W) bool mask of the opaque dark pixels, computed a strip of rows at a time."""
    pixels = _read_image(p, data)
    dark = np.empty(pixels.shape[:2], dtype=bool)
    step = max(1, _STRIP_PIXELS // pixels.shape[1])
    luminance = np.array([0.299, 0.587, 0.114])
    for top in range(0, len(pixels), step):
        strip = _to_unit(pixels[top : top + step])
        if strip.ndim == 2:
            dark[top : top + step] = strip < 0.5
        else:
            opaque = strip[..., 3] > 0.5
            dark[top : top + step] = (strip[..., :3] @ luminance < 0.5) & opaque
    return dark


def _read_image(p: Path, data: bytes) -> np.ndarray:
    """Decode to (H, W) grayscale or (H, W, 4) RGBA, in the file's own integer range; an
    image of more than `MAX_IMAGE_PIXELS` pixels is refused from its header, undecoded."""
    from PIL import Image  # here: Pillow's import is not paid on the way to the first frame

    try:
        with warnings.catch_warnings():  # Pillow's own, higher, limit: ours is checked here
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError:
        raise _too_large(p, f"more than {2 * Image.MAX_IMAGE_PIXELS:,}") from None
    except Exception as exc:  # decoders raise anything on corrupt data
        raise _unreadable(p, exc) from exc
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise _too_large(p, f"{width} x {height} = {width * height:,}")
    try:
        if image.mode.startswith(("I", "F")):  # 16-bit or float grayscale: keep the full range
            pixels = np.asarray(image)
        else:
            pixels = np.asarray(image.convert("RGBA"))
    except Exception as exc:
        raise _unreadable(p, exc) from exc
    layout_ok = pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 4)
    if not layout_ok or pixels.size == 0:
        raise DatasetError(f"{p}: image has shape {pixels.shape}; expected a 2D picture")
    return pixels


def _too_large(p: Path, pixels: str) -> DatasetError:
    return DatasetError(
        f"{p}: image has {pixels} pixels; expected at most {MAX_IMAGE_PIXELS:,} (scale it down)"
    )


def _unreadable(p: Path, exc: Exception) -> DatasetError:
    return DatasetError(
        f"{p}: could not read image ({type(exc).__name__}: {_show(str(exc), 80)}); "
        "expected a valid PNG or JPEG file"
    )


def _to_unit(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.bool_:
        return pixels.astype(np.float64)
    if pixels.dtype == np.uint8:
        return pixels / 255.0
    if pixels.dtype.kind in "iu":  # 16-bit PNG, read as uint16 or int32
        return pixels / 65535.0
    return np.nan_to_num(pixels.astype(np.float64), nan=1.0)


# --------------------------------------------------------------------------- finishing


def points_dataset(
    points: np.ndarray,
    labels: np.ndarray | None = None,
    name: str = "points",
    y_down: bool = False,
) -> Dataset:
    """An (N, 2) array of points in its own coordinates (with one integer label per point,
    optionally) as the custom dataset, checked and mapped into the domain as a file's points
    are.

    Raises
    ------
    DatasetError
        For a shape other than (N, 2), a non-finite point, or labels that do not match.
    """
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise DatasetError(f"{name}: points of shape {array.shape}; expected (N, 2)")
    bad = int((~np.isfinite(array).all(axis=1)).sum())
    if bad:
        raise DatasetError(f"{name}: {bad} points are not finite; expected finite numbers")
    label_array = None if labels is None else np.asarray(labels)
    if label_array is not None and (
        label_array.shape != (len(array),) or not all(_is_label(v) for v in label_array)
    ):
        raise DatasetError(
            f"{name}: labels of shape {label_array.shape}; expected one non-negative integer "
            f"per point ({len(array)})"
        )
    return _finish(Path(name), array, label_array, 0, y_down)


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
