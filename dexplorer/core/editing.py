"""Live edits of the custom data: drag, add or erase one point at a time. Each edit is a new
dataset (the normalisation of an imported file kept) and a record of which points left and
which came, from which the engine recomputes only the particles they reach."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np

from .datasets import DOMAIN, Dataset, DatasetError

TOOLS = ("brush", "drag", "add", "erase")
"""What a press in draw mode does: paint with the brush (strokes, see
:mod:`~dexplorer.core.drawing`), or edit the data live: drag a point, add one, erase one."""
EDIT_TOOLS = TOOLS[1:]
MIN_POINTS = 2
"""The data keeps at least this many points (the drawing's own minimum)."""
MAX_CHAIN = 64
"""Edits linked back to the dataset the engine last saw; an engine further behind restarts
in full."""
MAX_HISTORY = 100
_NUMBERS = itertools.count(1)


class EditError(DatasetError):
    """An edit that cannot be made: says why; the data is left as it was."""


@dataclass(frozen=True, eq=False)
class Edit:
    """One live edit: the dataset before and after, the points that left (``removed``) and
    came (``added``), in model coordinates, and the edit before it (``previous``), so that
    edits made between two frames are taken together. ``number`` is new for every edit."""

    before: Dataset
    after: Dataset
    removed: np.ndarray
    added: np.ndarray
    previous: Edit | None = None
    number: int = 0
    depth: int = 1
    """How many edits the chain from this one back holds."""

    def since(self, dataset: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
        """The points removed and added by the edits from ``dataset`` to this one's
        ``after``; ``None`` when ``dataset`` is not among the last :data:`MAX_CHAIN`."""
        removed, added, edit = [], [], self
        while edit is not None:
            removed.append(edit.removed)
            added.append(edit.added)
            if edit.before is dataset:
                return np.concatenate(removed), np.concatenate(added)
            edit = edit.previous
        return None

    def undone(self, previous: Edit | None) -> Edit:
        """The edit that takes this one back (after ``previous``, the last edit made)."""
        return make_edit(self.after, self.before, self.added, self.removed, previous)


def make_edit(
    before: Dataset,
    after: Dataset,
    removed: np.ndarray,
    added: np.ndarray,
    previous: Edit | None,
) -> Edit:
    """An :class:`Edit` with a new number, linked to ``previous`` when that one ended at
    ``before`` (and its chain is shorter than :data:`MAX_CHAIN`)."""
    linked = previous is not None and previous.after is before and previous.depth < MAX_CHAIN
    removed = np.asarray(removed, np.float32).reshape(-1, 2)
    added = np.asarray(added, np.float32).reshape(-1, 2)
    if not linked:
        return Edit(before, after, removed, added, None, next(_NUMBERS))
    return Edit(before, after, removed, added, previous, next(_NUMBERS), previous.depth + 1)


def nearest(dataset: Dataset, x: float, y: float, reach: float) -> int | None:
    """The index of the data point nearest to (x, y) within ``reach``, or ``None``."""
    distance = np.hypot(dataset.points[:, 0] - x, dataset.points[:, 1] - y)
    index = int(np.argmin(distance))
    return index if distance[index] <= reach else None


def _inside(x: float, y: float) -> np.ndarray:
    if not (np.isfinite(x) and np.isfinite(y)) or max(abs(x), abs(y)) > DOMAIN:
        raise EditError(
            f"({x:.3g}, {y:.3g}) is outside the domain [-{DOMAIN:g}, {DOMAIN:g}]^2: "
            "a data point must stay inside it"
        )
    return np.array([[x, y]], np.float32)


def _with(dataset: Dataset, points: np.ndarray, labels: np.ndarray | None) -> Dataset:
    """``dataset`` with other points (its name, title, classes and normalisation kept)."""
    return replace(dataset, points=np.ascontiguousarray(points, np.float32), labels=labels)


def moved(dataset: Dataset, index: int, x: float, y: float, previous: Edit | None) -> Edit:
    """Move point ``index`` to (x, y).

    Raises
    ------
    EditError
        When (x, y) is outside the domain.
    """
    point = _inside(x, y)
    points = dataset.points.copy()
    old = points[index : index + 1].copy()
    points[index] = point[0]
    return make_edit(dataset, _with(dataset, points, dataset.labels), old, point, previous)


def added(dataset: Dataset, x: float, y: float, label: int, previous: Edit | None) -> Edit:
    """Add a point at (x, y), of class ``label`` when the data is labelled (the nearest
    class it has otherwise).

    Raises
    ------
    EditError
        When (x, y) is outside the domain.
    """
    point = _inside(x, y)
    points = np.concatenate([dataset.points, point])
    labels = dataset.labels
    if labels is not None:
        if label not in labels:
            label = int(labels[nearest(dataset, x, y, np.inf)])
        labels = np.concatenate([labels, [label]])
    return make_edit(dataset, _with(dataset, points, labels), np.zeros((0, 2)), point, previous)


def erased(dataset: Dataset, index: int, previous: Edit | None) -> Edit:
    """Erase point ``index``.

    Raises
    ------
    EditError
        When the data would keep fewer than :data:`MIN_POINTS` points.
    """
    if len(dataset) <= MIN_POINTS:
        raise EditError(
            f"the data has {len(dataset)} points, the fewest it may have: "
            "add one before erasing another"
        )
    keep = np.arange(len(dataset)) != index
    labels = None if dataset.labels is None else dataset.labels[keep]
    old = dataset.points[index : index + 1].copy()
    return make_edit(
        dataset, _with(dataset, dataset.points[keep], labels), old, np.zeros((0, 2)), previous
    )


@dataclass
class Editor:
    """Owns the live-editing tool and its reach, the point being dragged, the last edit
    and the undo history of data that is not the drawing (the drawing keeps its own, see
    :mod:`~dexplorer.core.drawing`)."""

    tool: str = "brush"
    reach: float = 0.2
    """How far from the pointer a point is picked to drag or erase (world units)."""
    dragging: int | None = None
    last: Edit | None = None
    history: list[Dataset] = field(default_factory=list)
    """The data before each edit, newest last."""

    @property
    def live(self) -> bool:
        """Whether presses edit the data live (a tool other than the brush)."""
        return self.tool in EDIT_TOOLS
