"""Frames without a window: screenshots and videos through the offscreen canvas, with the
same scene and UI code as the window."""

from __future__ import annotations

import os
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


def prepare_environment() -> None:
    """Quiet the Vulkan loader's complaint about a missing XDG_RUNTIME_DIR."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(tempfile.gettempdir()) / f"dexplorer-runtime-{os.getuid()}"
        path.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(path)


def has_display() -> bool:
    """Whether a window can be opened (glfw aborts the process when it cannot)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def parse_size(text: str) -> tuple[int, int]:
    """ "1280x720" -> (1280, 720)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720") from None
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise ValueError(f"size {text!r}: width and height must be between 16 and 8192")
    return width, height


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
    canvas.request_draw(app.draw)
    return app


def screenshot(
    state: AppState, size: tuple[int, int], device: object, out: Path, ui: bool = True
) -> np.ndarray:
    """Compute the trajectories, draw one frame at ``state.t`` and save it as PNG."""
    import imageio.v3 as iio

    app = offscreen_app(state, size, device, ui=ui)
    app.settle()
    image = app.screenshot()
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
    app.settle()
    frames = max(2, round(seconds * fps))
    with Recorder(out, fps) as recorder:
        for i in range(frames):
            state.playing = False
            state.set_time(i / (frames - 1))
            recorder.add(app.screenshot())
            if progress is not None:
                progress(i + 1, frames)
    return frames
