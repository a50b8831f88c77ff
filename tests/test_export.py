"""Screenshots and recordings to a file of one's choosing (the controls' export row): the
file is written whole where asked, and a path that cannot be written is a message."""

from __future__ import annotations

import imageio.v3 as iio
import pytest
from test_compare import needs_gpu

from dexplorer.state import AppState

SIZE = (320, 200)


@pytest.fixture(scope="module")
def app():
    from dexplorer.headless import offscreen_app

    state = AppState()
    state.change(n=300, steps=5)
    app = offscreen_app(state, SIZE, "cpu", ui=False)
    app.settle()
    app.screenshot()
    yield app
    app.close()


@needs_gpu
def test_a_screenshot_goes_to_the_file_asked_for(app, tmp_path):
    path = tmp_path / "lesson.png"
    app.state.export("screenshot", str(path))
    app.screenshot()
    image = iio.imread(path)
    assert image.shape == (SIZE[1], SIZE[0], 3) and image.std() > 5
    assert app.state.message == f"saved {path}" and app.state.exports == []


@needs_gpu
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("lesson.txt", "expected a file ending in .png"),
        ("missing/lesson.png", "does not exist"),
    ],
)
def test_a_screenshot_that_cannot_be_written_is_a_message(app, tmp_path, name, message):
    app.state.export("screenshot", str(tmp_path / name))
    app.screenshot()
    assert app.state.message.startswith("no screenshot saved: ") and message in app.state.message
    assert list(tmp_path.rglob("*")) == []


@needs_gpu
def test_a_recording_goes_to_the_file_asked_for_until_stopped(app, tmp_path):
    path = tmp_path / "lesson.mp4"
    app.state.export("record", str(path))
    for _ in range(4):  # each frame from the one that started it
        app.screenshot()
    assert app.status.recording and not path.exists()  # written whole, at the end
    app.state.export("record")
    app.screenshot()
    assert not app.status.recording and app.state.message.startswith("saved 4 frames")
    assert len(iio.imread(path)) == 4


@needs_gpu
def test_a_recording_to_a_bad_path_is_a_message_and_nothing_records(app, tmp_path):
    app.state.export("record", str(tmp_path / "lesson.gif"))
    app.screenshot()
    assert app.state.message.startswith("not recording: ") and not app.status.recording
    assert "expected a file ending in .mp4" in app.state.message
