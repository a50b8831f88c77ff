"""The desktop window: a glfw canvas through rendercanvas, with the app drawing every frame."""

from __future__ import annotations

import torch

from .headless import prepare_environment
from .state import AppState


def run_window(state: AppState, device: torch.device, size: tuple[int, int]) -> None:
    """Open the window and run until it is closed. Call only where a display exists:
    glfw aborts the whole process otherwise."""
    prepare_environment()
    from rendercanvas.glfw import RenderCanvas, loop

    from .app import App

    canvas = RenderCanvas(size=size, title="dexplorer", update_mode="continuous", max_fps=120)
    app = App(canvas, state, device)
    canvas.request_draw(app.draw)
    loop.run()
