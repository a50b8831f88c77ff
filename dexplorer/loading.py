"""Torch, the device and the engine with its first runs, loaded in a thread while the app
draws its first frames: importing torch alone takes seconds on a small machine, and nothing
the first frame shows needs it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from .core.runs import Request
    from .engine.runs import Engine, Problem


class Loader:
    """Owns the thread that imports torch, chooses the device and starts an engine on the
    request it was given; :attr:`engine` and :attr:`problems` (or :attr:`error`) are there
    once :attr:`done`. The app takes the engine on its own thread and brings it to the
    state as it is by then."""

    def __init__(self, device: str | torch.device, request: Request) -> None:
        self.engine: Engine | None = None
        self.problems: list[Problem] = []
        """The runs that could not start (see :meth:`~dexplorer.engine.runs.Engine.sync`)."""
        self.error = ""
        """Why nothing could be loaded ('' when it was)."""
        self._thread = threading.Thread(
            target=self._load, args=(device, request), name="dexplorer-load", daemon=True
        )
        self._thread.start()

    def _load(self, device: str | torch.device, request: Request) -> None:
        try:
            import torch

            from .core.threads import use_cpu_threads
            from .engine.devices import choose_device
            from .engine.runs import Engine

            use_cpu_threads()
            chosen = choose_device(device) if isinstance(device, str) else torch.device(device)
            engine = Engine(chosen)
            self.problems = engine.sync(request)
            self.engine = engine
        except Exception as error:  # the thread's end: what went wrong is the app's message
            self.error = f"could not load torch and the engine: {error}"

    @property
    def done(self) -> bool:
        """Whether the thread has ended (loaded, or failed)."""
        return not self._thread.is_alive()

    def wait(self) -> None:
        """Block until the thread has ended."""
        self._thread.join()
