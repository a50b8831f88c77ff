"""Draw mode: brush, eraser, undo/redo, classes, and an autosave that survives a kill."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dexplorer.core.datasets import DatasetError
from dexplorer.core.drawing import Drawing


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
    with pytest.warns(UserWarning, match="could not be restored"):
        broken = Drawing(path)
    assert len(broken.points) == 0 and "could not be restored" in broken.problem


def test_killed_while_drawing_loses_at_most_the_current_stroke(tmp_path):
    path = tmp_path / "drawing.json"
    painter = (
        "import sys\n"
        "from pathlib import Path\n"
        "from dexplorer.core.drawing import Drawing\n"
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


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "Expecting property name"),
        ('{"points": [[0, 0], [1, 1]], "labels": [0, 1000000000000000000000000000000]}', "labels"),
        (
            json.dumps({"points": [[0, 0]] * 300, "labels": list(range(300))}),
            "largest label is 299; expected at most 255",
        ),
        ('{"points": [[0, 0], [9, 1]], "labels": [0, 0]}', "lies outside [-3.5, 3.5]^2"),
        ('{"points": [[0, NaN], [1, 1]], "labels": [0, 0]}', "expected finite coordinates"),
        ('{"points": [[0, 0], [1, 1]], "labels": [0]}', "labels: expected shape (2,)"),
        ('{"points": [[0, 0], [1, 1]], "labels": [0, -1]}', "non-negative integer"),
        ('{"points": [0, 0, 1], "labels": [0]}', "points: expected shape (M, 2)"),
        ('{"points": [], "labels": [], "brush": 2}', "expected {"),
        ("[1, 2]", "expected {"),
        ("[" * 100000, "recursion"),
    ],
)
def test_a_bad_autosave_is_set_aside_and_the_drawing_starts_empty(tmp_path, text, reason):
    path = tmp_path / "drawing.json"
    path.write_text(text)
    with pytest.warns(UserWarning) as caught:
        drawing = Drawing(path)
    assert len(drawing.points) == 0 and len(drawing.labels) == 0
    assert [str(w.message) for w in caught] == [drawing.problem]
    assert str(path) in drawing.problem and reason in drawing.problem
    (aside,) = tmp_path.glob("drawing-bad-*.json")
    assert aside.read_text() == text and not path.exists()  # kept, out of the way
    assert f"moved to {aside.name}" in drawing.problem and "\n" not in drawing.problem
    assert stroke(drawing, [(0.0, 0.0), (1.0, 0.0)])
    again = Drawing(path)  # the next start is clean, with the new strokes
    assert again.problem == "" and len(again.points) == len(drawing.points)


def test_an_empty_or_single_point_autosave_restores(tmp_path):
    path = tmp_path / "drawing.json"
    path.write_text('{"points": [], "labels": []}')
    assert Drawing(path).problem == ""
    path.write_text('{"points": [[0.5, -3.5]], "labels": [3]}')
    drawing = Drawing(path)
    assert drawing.problem == "" and drawing.points.tolist() == [[0.5, -3.5]]
    assert drawing.labels.tolist() == [3]


def test_a_bad_autosave_that_cannot_be_moved_is_still_said(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "drawing.json"
    path.write_text('{"points": [[0, 0], [9, 1]], "labels": [0, 0]}')
    folder.chmod(0o500)
    try:
        with pytest.warns(UserWarning):
            drawing = Drawing(path)
    finally:
        folder.chmod(0o700)
    if os.geteuid() == 0:  # root may write anywhere: the file was moved
        assert "moved to drawing-bad-" in drawing.problem
    else:
        assert "could not be moved aside" in drawing.problem and path.exists()
    assert len(drawing.points) == 0 and "lies outside" in drawing.problem


def test_the_app_opens_with_a_bad_autosave_and_says_so(tmp_path, capsys):
    """A bad autosave once stopped every command that opens the app (screenshot, render,
    the window); now the app opens with an empty drawing and says which file and why."""
    from dexplorer.app import drawing_path
    from dexplorer.cli import main
    from dexplorer.headless import screenshot
    from dexplorer.state import AppState

    path = drawing_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"points": [[0, 0]] * 3, "labels": [0, 1, 299]}))
    state = AppState()
    state.change(n=200, steps=10)
    with pytest.warns(UserWarning):
        screenshot(state, (64, 64), "cpu", tmp_path / "a.png", ui=False)
    assert state.drawing.problem in state.message and str(path) in state.message
    assert len(state.drawing.points) == 0 and state.custom is None
    path.write_text('{"points": [[0, 0], [1, 1]], "labels": [0, 1000000000000000000000]}')
    argv = [
        "screenshot",
        "--size",
        "64x64",
        "--no-ui",
        "-n",
        "200",
        "--steps",
        "10",
        "--out",
        str(tmp_path / "b.png"),
    ]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    warning = [line for line in err if line.startswith("dexplorer: warning: ")]
    assert len(warning) == 1 and str(path) in warning[0] and "could not be restored" in warning[0]
    assert len(list(path.parent.glob("drawing-bad-*.json"))) == 2 and not path.exists()


def test_a_label_past_the_supported_classes_is_refused_before_naming_them():
    """A drawing with a label of 10**10 (from its saved file) named 10**10 classes (past
    6 GB); the classes are bounded where the app decides how many it supports."""
    drawing = Drawing()
    drawing.points = np.array([[0, 0], [1, 1], [1, 0]], np.float32)
    drawing.labels = np.array([0, 10**10, 0], np.int64)
    with pytest.raises(DatasetError, match="largest label is 10000000000; expected at most 255"):
        drawing.dataset()
