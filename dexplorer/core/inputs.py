"""Every file dexplorer reads whole goes through here: only a regular file is opened for
reading (a FIFO, a device or a folder is refused before anything blocks or streams), and its
size is checked against the reader's limit before a byte is read. Each kind of file keeps
its limit beside its reader; this module decides only how the check is made."""

from __future__ import annotations

import os
import stat

__all__ = ["TYPE_WORDS", "InputFileError", "describe_bytes", "file_size", "read_bytes"]


TYPE_WORDS = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}
"""How a message names the type of a value read from a file (JSON metadata, TOML)."""


class InputFileError(ValueError):
    """A file that is not read: not a regular file, or larger than its reader's limit. The
    message says why without the file's name (the reader adds it). A missing or unreadable
    file raises the usual :class:`OSError` instead."""


def file_size(path: str | os.PathLike[str]) -> int:
    """The size of the regular file ``path`` in bytes, from its metadata (nothing is read).

    Raises
    ------
    InputFileError
        It is not a regular file.
    OSError
        It does not exist or cannot be looked at.
    """
    info = os.stat(path)
    _check_kind(info.st_mode)
    return info.st_size


def read_bytes(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file ``path``, refused before reading if it holds more than
    ``limit`` bytes.

    The file is opened without blocking (a FIFO would wait for a writer) and checked on the
    open descriptor, so a file swapped after a look at its name is checked too; at most
    ``limit`` + 1 bytes are ever read (a file that grows while it is read is refused).

    Raises
    ------
    InputFileError
        Not a regular file, or larger than ``limit``.
    OSError
        Missing or unreadable.
    """
    file_size(path)  # a folder is refused here: opening one would fail with a vaguer error
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(descriptor, "rb") as file:
        info = os.fstat(descriptor)
        _check_kind(info.st_mode)
        _check_size(info.st_size, limit)
        data = file.read(limit + 1)
    _check_size(len(data), limit)
    return data


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise InputFileError(
            f"file is {describe_bytes(size)}; expected at most {describe_bytes(limit)}"
        )


def _check_kind(mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a FIFO (named pipe)",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    kind = next((name for test, name in kinds.items() if test(mode)), "not a regular file")
    raise InputFileError(f"is {kind}; expected a regular file")


def describe_bytes(count: int) -> str:
    """A byte count for a message: ``'2 GiB'``, ``'1.5 MiB'``, ``'812 bytes'``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            value = count / (1 << shift)
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{count} bytes"
