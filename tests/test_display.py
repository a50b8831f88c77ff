"""The display check: a window is tried only where a display server answers (glfw aborts
the whole process when the server it is told of is not there)."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from dexplorer.headless import display_problem


def _free_display() -> int:
    return next(n for n in range(150, 400) if not Path(f"/tmp/.X11-unix/X{n}").exists())


def test_no_variable_means_no_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert display_problem() == "neither DISPLAY nor WAYLAND_DISPLAY is set"


def test_a_display_variable_pointing_nowhere_is_no_display(monkeypatch):
    number = _free_display()
    monkeypatch.setenv("DISPLAY", f":{number}")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    problem = display_problem()
    assert problem == f"DISPLAY=:{number}: no X server at /tmp/.X11-unix/X{number}"


def test_a_wayland_display_pointing_nowhere_is_no_display(monkeypatch, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-9")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "wayland-9").write_text("")  # a file, not a listening socket
    assert (
        display_problem()
        == f"WAYLAND_DISPLAY=wayland-9: no Wayland compositor at {tmp_path}/wayland-9"
    )


def test_a_listening_wayland_socket_is_a_display(monkeypatch, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", str(tmp_path / "wayland-1"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(tmp_path / "wayland-1"))
        server.listen(1)
        assert display_problem() == ""


def test_a_bad_display_name_is_named(monkeypatch):
    monkeypatch.setenv("DISPLAY", "nonsense")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert display_problem() == "DISPLAY=nonsense: not an X display name (expected e.g. :0)"


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb")
def test_a_running_x_server_is_a_display(monkeypatch):
    number = _free_display()
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        socket_path = Path(f"/tmp/.X11-unix/X{number}")
        deadline = time.time() + 20
        while not socket_path.exists() and time.time() < deadline:
            time.sleep(0.05)
        monkeypatch.setenv("DISPLAY", f":{number}")
        monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-nowhere")  # one answering is enough
        assert display_problem() == ""
    finally:
        server.terminate()
        server.wait(10)
