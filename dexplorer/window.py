"""The desktop window: a glfw canvas through rendercanvas, with the app drawing every frame."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .headless import prepare_environment
from .state import AppState

if TYPE_CHECKING:
    import torch


class Fullscreen:
    """Owns the window's place and size while it is fullscreen (F11 toggles)."""

    def __init__(self, canvas: object) -> None:
        self.canvas = canvas
        self.windowed: tuple[int, int, int, int] | None = None

    def toggle(self) -> None:
        import glfw

        window = self.canvas._window  # rendercanvas keeps the glfw window here
        if self.windowed is None:
            x, y = glfw.get_window_pos(window)
            width, height = glfw.get_window_size(window)
            self.windowed = (x, y, width, height)
            monitor = glfw.get_primary_monitor()
            mode = glfw.get_video_mode(monitor)
            glfw.set_window_monitor(
                window, monitor, 0, 0, mode.size.width, mode.size.height, mode.refresh_rate
            )
        else:
            x, y, width, height = self.windowed
            self.windowed = None
            glfw.set_window_monitor(window, None, x, y, width, height, 0)


def run_window(state: AppState, device: str | torch.device, size: tuple[int, int]) -> None:
    """Open the window and run until it is closed (its app loads torch after the first
    frame; ``device`` may be a name). Call only where a display exists: glfw aborts the
    whole process otherwise."""
    from .warm import kept_glfw_library

    prepare_environment()
    with kept_glfw_library():
        from rendercanvas.glfw import RenderCanvas, loop

    from .app import App

    canvas = RenderCanvas(size=size, title="dexplorer", update_mode="continuous", max_fps=120)
    app = App(canvas, state, device)
    app.on_fullscreen = Fullscreen(canvas).toggle
    canvas.request_draw(app.draw)
    try:
        loop.run()
    finally:
        app.close()
