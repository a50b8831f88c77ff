"""Screenshots and recordings of what the window shows (the S and R keys)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def stamped(folder: Path, stem: str, suffix: str) -> Path:
    """A new file name like ``dexplorer-20261126-154801.png`` in ``folder``."""
    base = folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base.with_suffix(suffix), 1
    while path.exists():
        path, k = base.with_name(f"{base.name}-{k}").with_suffix(suffix), k + 1
    return path


class Recorder:
    """Owns an open video file (MP4 via imageio-ffmpeg, or GIF) and appends frames to it."""

    def __init__(self, path: Path, fps: int = 30) -> None:
        import imageio.v2 as imageio

        options = {"fps": fps}
        if path.suffix.lower() == ".mp4":
            options.update(codec="libx264", quality=7, macro_block_size=8)
        self.path = path
        self.frames = 0
        self._writer = imageio.get_writer(path, **options)

    def add(self, frame: np.ndarray) -> None:
        """Append an (H, W, 3 or 4) uint8 frame; frames must keep one size."""
        self._writer.append_data(np.ascontiguousarray(frame[..., :3]))
        self.frames += 1

    def close(self) -> None:
        self._writer.close()
