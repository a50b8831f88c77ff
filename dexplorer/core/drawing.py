"""Draw mode: a distribution painted with a brush, with eraser, undo/redo and an autosave
file that a crash cannot leave half-written."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from . import outputs
from .datasets import DOMAIN, Dataset, DatasetError
from .importers import MAX_FILE_BYTES
from .inputs import read_bytes

MAX_UNDO = 100


class Drawing:
    """Owns the painted points and their class labels, the undo and redo history, the brush,
    and the autosave file (rewritten atomically after every stroke).

    Parameters
    ----------
    path : Path, optional
        The autosave file; restored from when it exists. ``None`` keeps nothing on disk. A
        file that cannot be restored is moved aside (``drawing-bad-<time>.json``), said in
        ``problem`` and as a warning, and the drawing starts empty.
    seed : int
        Seed of the brush's random scatter.
    """

    def __init__(self, path: Path | None = None, seed: int = 0) -> None:
        self.path = path
        self.rng = np.random.default_rng(seed)
        self.points = np.zeros((0, 2), np.float32)
        self.labels = np.zeros(0, np.int64)
        self.radius = 0.25
        self.density = 12
        """Points dropped per brush stamp."""
        self.label = 0
        self.eraser = False
        self._undo: list[tuple[np.ndarray, np.ndarray]] = []
        self._redo: list[tuple[np.ndarray, np.ndarray]] = []
        self._stroke: list[tuple[float, float]] | None = None
        self.made: Dataset | None = None
        """The dataset :meth:`dataset` made last (live edits of it come back here)."""
        self.problem = ""
        if path is not None and path.exists():
            self._restore(path)

    # --- strokes -------------------------------------------------------------------------

    def begin(self, x: float, y: float) -> None:
        """Start a stroke at world point (x, y)."""
        self._stroke = []
        self._undo.append((self.points, self.labels))
        del self._undo[:-MAX_UNDO]
        self._redo.clear()
        self.extend(x, y)

    def extend(self, x: float, y: float) -> None:
        """Move the brush to (x, y): paint there, or erase around it."""
        if self._stroke is None:
            return
        last = self._stroke[-1] if self._stroke else None
        self._stroke.append((x, y))
        stamps = [(x, y)]
        if last is not None:  # fill the gap so a fast stroke stays continuous
            gap = float(np.hypot(x - last[0], y - last[1]))
            count = int(gap / (0.5 * self.radius))
            stamps = [
                (
                    last[0] + (x - last[0]) * k / (count + 1),
                    last[1] + (y - last[1]) * k / (count + 1),
                )
                for k in range(1, count + 2)
            ]
        for sx, sy in stamps:
            self._stamp(sx, sy)

    def end(self) -> bool:
        """Finish the stroke and autosave; returns whether the points changed."""
        if self._stroke is None:
            return False
        self._stroke = None
        before = self._undo[-1]
        changed = len(before[0]) != len(self.points) or not np.array_equal(before[0], self.points)
        if not changed:
            self._undo.pop()
        self.save()
        return changed

    def _stamp(self, x: float, y: float) -> None:
        if self.eraser:
            keep = np.hypot(self.points[:, 0] - x, self.points[:, 1] - y) > self.radius
            self.points, self.labels = self.points[keep], self.labels[keep]
            return
        angle = self.rng.uniform(0, 2 * np.pi, self.density)
        distance = self.radius * np.sqrt(self.rng.uniform(0, 1, self.density))
        new = np.stack([x + distance * np.cos(angle), y + distance * np.sin(angle)], axis=1)
        new = new[(np.abs(new) <= DOMAIN).all(axis=1)].astype(np.float32)
        self.points = np.concatenate([self.points, new])
        self.labels = np.concatenate([self.labels, np.full(len(new), self.label)])

    # --- history ---------------------------------------------------------------------------

    def undo(self) -> None:
        if self._undo:
            self._redo.append((self.points, self.labels))
            self.points, self.labels = self._undo.pop()
            self.save()

    def redo(self) -> None:
        if self._redo:
            self._undo.append((self.points, self.labels))
            self.points, self.labels = self._redo.pop()
            self.save()

    def clear(self) -> None:
        """Remove every point (undoable)."""
        if len(self.points):
            self._undo.append((self.points, self.labels))
            self._redo.clear()
            self.points = np.zeros((0, 2), np.float32)
            self.labels = np.zeros(0, np.int64)
            self.save()

    # --- as data ---------------------------------------------------------------------------

    def dataset(self) -> Dataset:
        """The drawing as the ``custom`` dataset; labelled when more than one class is used.

        Raises
        ------
        DatasetError
            With fewer than 2 points, or a label past the classes the app supports.
        """
        if len(self.points) < 2:
            raise DatasetError("the drawing has fewer than 2 points: paint some first")
        classes = np.unique(self.labels)
        labels = self.labels if len(classes) > 1 else None
        self.made = Dataset.custom(self.points, labels, title="Drawing")  # it bounds the classes
        return self.made

    def mark(self) -> None:
        """Keep the points as they are for undo (before a live edit of :attr:`made`)."""
        self._undo.append((self.points, self.labels))
        del self._undo[:-MAX_UNDO]
        self._redo.clear()

    def adopt(self, dataset: Dataset) -> None:
        """Take the points of a live edit of :attr:`made` (one undo step per :meth:`mark`);
        ``dataset`` becomes :attr:`made`. Saved by :meth:`save`."""
        if dataset.labels is not None:
            labels = dataset.labels
        else:
            labels = np.full(len(dataset), self.labels[0] if len(self.labels) else self.label)
        self.points, self.labels = dataset.points, labels
        self.made = dataset

    def save(self) -> None:
        """Write the autosave file atomically (a temporary file, then a rename)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"points": self.points.round(5).tolist(), "labels": self.labels.tolist()}
        outputs.write_text(self.path, json.dumps(payload))

    def _restore(self, path: Path) -> None:
        try:
            self.points, self.labels = _read_autosave(path)
        except (OSError, ValueError, TypeError, RecursionError) as error:
            aside = _set_aside(path)
            self.problem = f"the saved drawing {path} could not be restored ({error}); {aside}"
            warnings.warn(self.problem, stacklevel=3)


def _read_autosave(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The points and labels of an autosave file, held to the rules of the dataset the
    drawing becomes (inside the domain, at most ``MAX_CLASSES`` classes)."""
    payload = json.loads(read_bytes(path, MAX_FILE_BYTES))
    if not isinstance(payload, dict) or sorted(payload) != ["labels", "points"]:
        raise ValueError('expected {"points": [[x, y], ...], "labels": [k, ...]}')
    if payload == {"points": [], "labels": []}:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.int64)
    data = Dataset.custom(payload["points"], payload["labels"])
    return data.points, data.labels


def _set_aside(path: Path) -> str:
    """Move a bad autosave out of the way (kept, not lost); says where it went."""
    aside = outputs.stamped(path.parent, f"{path.stem}-bad", path.suffix)
    try:
        os.replace(path, aside)
    except OSError as error:
        return f"it could not be moved aside ({error.strerror or error}); the drawing starts empty"
    return f"it was moved to {aside.name} and the drawing starts empty"
