"""Every file dexplorer writes goes through here: written to a temporary file in the same
folder, synced and renamed over the destination, so a killed or failed write never leaves a
half-written file in its place. Temporary names carry the writer's process id; those of
processes that are gone are removed the next time something is written to that folder."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TEMPORARY = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.partial(\.[^.]+)?$")


def stamped(folder: Path, stem: str, suffix: str) -> Path:
    """A new file name like ``dexplorer-20261126-154801.png`` in ``folder``."""
    base = folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base.with_suffix(suffix), 1
    while path.exists():
        path, k = base.with_name(f"{base.name}-{k}").with_suffix(suffix), k + 1
    return path


def temporary_name(path: Path) -> Path:
    """A unique temporary file beside ``path`` that keeps its suffix (writers such as
    ``np.save`` and imageio choose the format from it)."""
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    return path.with_name(f".{path.stem}.{tag}.partial{path.suffix}")


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is synced and renamed over ``path``,
    on any failure (an exception, Ctrl-C) it is removed and ``path`` is left as it was."""
    path = Path(path)
    sweep(path.parent)
    temporary = temporary_name(path)
    try:
        yield temporary
        _sync_file(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with replacing(path) as temporary:
        temporary.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode())


def sweep(folder: Path) -> list[Path]:
    """Remove the temporary files in ``folder`` left by writers that are no longer running;
    returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or _running(int(match.group(1))):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _sync_file(path: Path) -> None:
    with open(path, "rb+") as file:
        os.fsync(file.fileno())


def _sync_directory(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
