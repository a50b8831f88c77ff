"""A real glfw window under Xvfb: it opens, renders, a click on play moves time, and F11
goes fullscreen."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dexplorer.ui.controls import CONTROLS_WIDTH, TIME_BAR_HEIGHT

TOOLS = ("Xvfb", "xdotool", "import")
pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in TOOLS),
    reason="needs Xvfb, xdotool and ImageMagick's import (make test installs them)",
)
WIDTH, HEIGHT = 1000, 640


@pytest.fixture
def display():
    number = next(n for n in range(90, 200) if not Path(f"/tmp/.X{n}-lock").exists())
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.time() + 20
    while not socket.exists() and time.time() < deadline:
        time.sleep(0.1)
    yield f":{number}"
    server.terminate()
    server.wait(10)


def run(display, *command, timeout=30):
    env = {**os.environ, "DISPLAY": display}
    return subprocess.run(command, env=env, capture_output=True, timeout=timeout, check=True)


def grab(display, window, box, wait=0.0):
    """Pixels of box (x, y, w, h) of the window, from a screenshot of the whole screen (a
    Vulkan window's own drawable reads back black), taken after ``wait`` seconds."""
    time.sleep(wait)
    shell = run(display, "xdotool", "getwindowgeometry", "--shell", window).stdout.decode()
    where = dict(line.split("=") for line in shell.split())
    x, y = int(where["X"]) + int(box[0]), int(where["Y"]) + int(box[1])
    png = run(
        display, "import", "-window", "root", "-crop", f"{box[2]}x{box[3]}+{x}+{y}", "png:-"
    ).stdout
    import imageio.v3 as iio

    return iio.imread(png).astype(int)


def size_of(display, window):
    shell = run(display, "xdotool", "getwindowgeometry", "--shell", window).stdout.decode()
    where = dict(line.split("=") for line in shell.split())
    return int(where["WIDTH"]), int(where["HEIGHT"])


def test_window_opens_renders_and_play_moves_time(display, tmp_path):
    env = {**os.environ, "DISPLAY": display}
    app = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dexplorer",
            "--size",
            f"{WIDTH}x{HEIGHT}",
            "-n",
            "2000",
            "--steps",
            "20",
            "--paused",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        window = (
            run(display, "xdotool", "search", "--sync", "--name", "^dexplorer$", timeout=90)
            .stdout.decode()
            .split()[0]
        )
        scene_box = (CONTROLS_WIDTH, 0, WIDTH - CONTROLS_WIDTH, HEIGHT - 80)
        deadline = time.time() + 90  # first frames: shaders compile, trajectories compute
        while grab(display, window, scene_box).std() < 10:
            assert time.time() < deadline, "the window shows nothing"
            time.sleep(1)
        bar = (CONTROLS_WIDTH + 150, HEIGHT - TIME_BAR_HEIGHT + 4, WIDTH - CONTROLS_WIDTH - 500, 56)
        # The first frame comes before torch is loaded, and the bar says "loading" until it
        # is: paused, the bar changes once (the load) and then stays still.
        deadline = time.time() + 90
        before = grab(display, window, bar)
        while not np.array_equal(before, after := grab(display, window, bar, wait=1)):
            assert time.time() < deadline, "time moved while paused"
            before = after
        play = (CONTROLS_WIDTH + 8 + 32 + 8 + 32, HEIGHT - TIME_BAR_HEIGHT / 2)
        run(display, "xdotool", "mousemove", "--window", window, str(play[0]), str(play[1]))
        time.sleep(1)  # hover first, as a hand would: ImGui sees the button under the pointer
        run(display, "xdotool", "mousedown", "1")
        time.sleep(0.5)
        run(display, "xdotool", "mouseup", "1")
        deadline = time.time() + 60  # frames are slow on a software GPU: poll
        while np.abs(grab(display, window, bar) - before).max() <= 50:
            if time.time() > deadline:
                import imageio.v3 as iio

                shot = grab(display, window, (0, 0, WIDTH, HEIGHT)).astype(np.uint8)
                iio.imwrite(tmp_path / "window.png", shot)
                pytest.fail(f"clicking play did not move time (screenshot in {tmp_path})")
            time.sleep(0.5)
        run(display, "xdotool", "key", "--window", window, "F11")
        deadline = time.time() + 60
        while size_of(display, window) != (1280, 800):  # the whole Xvfb screen
            assert time.time() < deadline, f"F11 did not go fullscreen: {size_of(display, window)}"
            time.sleep(0.5)
    finally:
        app.terminate()
        output = app.communicate(timeout=20)[0]
    assert "Traceback" not in output, output
