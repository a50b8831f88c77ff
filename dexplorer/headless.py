"""Frames without a window: screenshots and videos through the offscreen canvas, with the
same scene and UI code as the window."""

from __future__ import annotations

import functools
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .state import AppState

if TYPE_CHECKING:
    from .app import App


MIN_UI_WIDTH = 640
DISPLAY_TIMEOUT = 2.0
"""Seconds to wait for a display server to accept a connection."""


DEVICE_LIMITS = ("max-storage-buffer-binding-size", "max-buffer-size", "max-texture-dimension-2d")
"""Limits the device takes at the adapter's own values, not WebGPU's defaults (128 MiB for
a storage buffer, where a GPU binds gigabytes: the particles' accumulator of a large panel
needs more)."""


def prepare_environment() -> None:
    """Quiet the Vulkan loader's complaint about a missing XDG_RUNTIME_DIR, parse the C
    types wgpu will ask for in one pass, keep pygfx's compiled shader templates and its
    font manager's index (:mod:`dexplorer.warm`), and ask for the adapter's own
    :data:`DEVICE_LIMITS` before the device exists."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(tempfile.gettempdir()) / f"dexplorer-runtime-{os.getuid()}"
        path.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(path)
    from .warm import warm_ctypes, warm_fonts, warm_templates

    warm_fonts()
    warm_ctypes()
    warm_templates()
    _ask_adapter_limits()


@functools.cache
def _ask_adapter_limits() -> None:
    import wgpu.utils.device

    helper = wgpu.utils.device.helper
    if helper._the_device is not None or os.environ.get("PYGFX_WGPU_ADAPTER_NAME"):
        return  # already made (its limits are checked where they matter), or chosen by name
    adapter = wgpu.gpu.request_adapter_sync()
    limits = {name: adapter.limits[name] for name in DEVICE_LIMITS}
    wgpu.utils.device.preconfigure_default_device(
        "dexplorer", adapter=adapter, required_limits=limits
    )


def display_problem() -> str:
    """Why no window can open here ('' when one can), found by connecting to the display
    server that DISPLAY or WAYLAND_DISPLAY names, before glfw is touched: glfw aborts the
    whole process when the server it is told of is not there."""
    if sys.platform in ("win32", "darwin"):
        return ""
    x11, wayland = os.environ.get("DISPLAY", ""), os.environ.get("WAYLAND_DISPLAY", "")
    if not (x11 or wayland):
        return "neither DISPLAY nor WAYLAND_DISPLAY is set"
    problems = []
    if x11:
        problem = _x11_problem(x11)
        if not problem:
            return ""
        problems.append(f"DISPLAY={x11}: {problem}")
    if wayland:
        problem = _wayland_problem(wayland)
        if not problem:
            return ""
        problems.append(f"WAYLAND_DISPLAY={wayland}: {problem}")
    return "; ".join(problems)


def _connects(family: int, address: str | bytes | tuple[str, int]) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as connection:
        connection.settimeout(DISPLAY_TIMEOUT)
        try:
            connection.connect(address)
        except OSError:
            return False
    return True


def _x11_problem(display: str) -> str:
    """'' when an X server accepts connections at ``display`` ([host]:number[.screen])."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return "not an X display name (expected e.g. :0)"
    if host.startswith("/"):  # a socket path (XQuartz style)
        return "" if _connects(socket.AF_UNIX, display) else f"no X server at {display}"
    if host and host != "unix":
        address = (host, 6000 + int(number))
        reachable = _connects(socket.AF_INET, address)
        return "" if reachable else f"no X server at {host} port {address[1]}"
    path = f"/tmp/.X11-unix/X{number}"
    if _connects(socket.AF_UNIX, "\0" + path) or _connects(socket.AF_UNIX, path):
        return ""
    return f"no X server at {path}"


def _wayland_problem(name: str) -> str:
    """'' when a Wayland compositor accepts connections at ``name`` (a path, or a name in
    XDG_RUNTIME_DIR)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if not name.startswith("/") and not runtime:
        return "XDG_RUNTIME_DIR is not set, so the socket cannot be found"
    path = str(Path(runtime) / name)
    return "" if _connects(socket.AF_UNIX, path) else f"no Wayland compositor at {path}"


def parse_size(text: str) -> tuple[int, int]:
    """ "1280x720" -> (1280, 720)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720") from None
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise ValueError(f"size {text!r}: width and height must be between 16 and 8192")
    return width, height


def offscreen_size(text: str) -> tuple[int, int]:
    """The canvas size of a screenshot or video (``--size`` WIDTHxHEIGHT), checked against
    the limits of the device that will draw it, before any work starts."""
    size = parse_size(text)
    prepare_environment()
    from .scene.view import canvas_problem

    problem = canvas_problem(size)
    if problem:
        raise ValueError(f"--size {text}: too large for this GPU: {problem}")
    return size


def offscreen_app(
    state: AppState, size: tuple[int, int], device: object, ui: bool = True, fast: bool = True
) -> App:
    """An :class:`~dexplorer.app.App` on an offscreen canvas of ``size`` logical pixels
    (without the controls below ``MIN_UI_WIDTH``, where they would cover the scene)."""
    prepare_environment()
    from rendercanvas.offscreen import RenderCanvas

    from .app import App

    canvas = RenderCanvas(size=size, pixel_ratio=1)
    app = App(canvas, state, device, ui=ui and size[0] >= MIN_UI_WIDTH, fast=fast)
    app.settled = True  # every frame shows what it asks for, as the window would in time
    canvas.request_draw(app.draw)
    return app


def screenshot(
    state: AppState, size: tuple[int, int], device: object, out: Path, ui: bool = True
) -> np.ndarray:
    """Compute the trajectories, draw one frame at ``state.t`` and save it as PNG."""
    import imageio.v3 as iio

    app = offscreen_app(state, size, device, ui=ui)
    try:
        app.settle()
        image = app.screenshot()
    finally:
        app.close()
    iio.imwrite(out, image[..., :3])
    return image


def render_video(
    state: AppState,
    size: tuple[int, int],
    device: object,
    out: Path,
    seconds: float,
    fps: int,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Render t from 0 to 1 over ``seconds`` into an MP4 (or GIF) through a
    :class:`~dexplorer.recording.Recorder` (a failed or killed render leaves what was at
    ``out``); returns the frame count."""
    from .recording import Recorder

    app = offscreen_app(state, size, device)
    app.frame_seconds = 1 / fps
    frames = max(2, round(seconds * fps))
    try:
        app.settle()
        with Recorder(out, fps) as recorder:
            for i in range(frames):
                state.playing = False
                state.set_time(i / (frames - 1))
                recorder.add(app.screenshot())
                if progress is not None:
                    progress(i + 1, frames)
    finally:
        app.close()
    return frames
