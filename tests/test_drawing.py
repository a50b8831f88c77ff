"""Draw mode: brush, eraser, undo/redo, classes, and an autosave that survives a kill."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dexplorer.core.datasets import DatasetError
from dexplorer.ui.drawing import Drawing


def stroke(drawing, points):
    drawing.begin(*points[0])
    for point in points[1:]:
        drawing.extend(*point)
    return drawing.end()


def test_a_stroke_paints_points_along_its_path():
    drawing = Drawing(seed=0)
    assert stroke(drawing, [(-2.0, 0.0), (2.0, 0.0)])
    x, y = drawing.points.T
    assert len(drawing.points) > 100
    assert x.min() > -2.3 and x.max() < 2.3 and np.abs(y).max() <= drawing.radius + 1e-6
    # no gaps along a fast stroke: every stretch of 0.25 has points
    assert np.all(np.histogram(x, bins=16, range=(-2, 2))[0] > 0)


def test_eraser_undo_redo_clear_and_classes():
    drawing = Drawing(seed=1)
    stroke(drawing, [(-1.0, 1.0), (1.0, 1.0)])
    drawing.label = 2
    stroke(drawing, [(-1.0, -1.0), (1.0, -1.0)])
    painted = len(drawing.points)
    assert set(drawing.labels) == {0, 2}
    dataset = drawing.dataset()
    assert dataset.num_classes == 3 and dataset.class_names[2] == "class 2"
    drawing.eraser, drawing.radius = True, 0.5
    stroke(drawing, [(0.0, -1.0)])
    near = np.hypot(drawing.points[:, 0], drawing.points[:, 1] + 1) <= 0.5
    assert len(drawing.points) < painted and not near.any()
    drawing.undo()
    assert len(drawing.points) == painted
    drawing.redo()
    assert len(drawing.points) < painted
    drawing.clear()
    assert len(drawing.points) == 0
    drawing.undo()
    assert len(drawing.points) > 0
    with pytest.raises(DatasetError, match="fewer than 2"):
        Drawing().dataset()


def test_autosave_restores_the_drawing(tmp_path):
    path = tmp_path / "drawing.json"
    first = Drawing(path, seed=0)
    stroke(first, [(0.0, 0.0), (1.0, 1.0)])
    again = Drawing(path)
    assert np.allclose(again.points, first.points, atol=1e-5) and again.problem == ""
    path.write_text("{not json")
    broken = Drawing(path)
    assert len(broken.points) == 0 and "could not be restored" in broken.problem


def test_killed_while_drawing_loses_at_most_the_current_stroke(tmp_path):
    path = tmp_path / "drawing.json"
    painter = (
        "import sys\n"
        "from pathlib import Path\n"
        "from dexplorer.ui.drawing import Drawing\n"
        "d = Drawing(Path(sys.argv[1]))\n"
        "for i in range(100000):\n"
        "    d.begin(-2.0, (i % 40) / 10 - 2)\n"
        "    d.extend(2.0, (i % 40) / 10 - 2)\n"
        "    d.end()\n"
        "    print(i, flush=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", painter, str(path)], stdout=subprocess.PIPE, text=True
    )
    for _ in range(5):
        process.stdout.readline()  # a few strokes saved
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    restored = Drawing(path)
    assert restored.problem == "" and len(restored.points) > 0


def test_a_label_past_the_supported_classes_is_refused_before_naming_them():
    """A drawing with a label of 10**10 (from its saved file) named 10**10 classes (past
    6 GB); the classes are bounded where the app decides how many it supports."""
    drawing = Drawing()
    drawing.points = np.array([[0, 0], [1, 1], [1, 0]], np.float32)
    drawing.labels = np.array([0, 10**10, 0], np.int64)
    with pytest.raises(DatasetError, match="largest label is 10000000000; expected at most 255"):
        drawing.dataset()
