"""Screenshots and recordings of what the window shows (the S and R keys)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import numpy as np

from .core import outputs


class Recorder:
    """Owns an open video file (MP4 via imageio-ffmpeg, or GIF) and appends frames to it.

    The frames go to a temporary file that :meth:`close` renames over ``path``; leaving a
    ``with`` block by an exception removes it instead, so ``path`` is never half-written."""

    def __init__(self, path: Path, fps: int = 30) -> None:
        import imageio.v2 as imageio

        if path.suffix.lower() == ".mp4":
            options = {"fps": fps, "codec": "libx264", "quality": 7, "macro_block_size": 8}
        else:  # Pillow's GIF writer takes each frame's duration in milliseconds
            options = {"duration": 1000 / fps, "loop": 0}
        self.path = path
        self.frames = 0
        with ExitStack() as stack:
            temporary = stack.enter_context(outputs.replacing(path))
            self._writer = imageio.get_writer(temporary, **options)
            self._file = stack.pop_all()

    def add(self, frame: np.ndarray) -> None:
        """Append an (H, W, 3 or 4) uint8 frame; frames must keep one size."""
        self._writer.append_data(np.ascontiguousarray(frame[..., :3]))
        self.frames += 1

    def close(self) -> None:
        """Finish the video and put it in place."""
        with self._file:
            self._writer.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None:
            self.close()
            return
        try:
            self._writer.close()
        finally:
            self._file.__exit__(kind, error, traceback)
