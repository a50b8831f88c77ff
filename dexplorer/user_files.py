"""The files a user names on the command line, checked before any work and written
atomically, and the error for a user's mistake (one line on stderr, exit code 2)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .core import outputs

POINT_SUFFIXES = (".npy", ".csv")


class UserError(Exception):
    """A mistake on the command line or in an input file: one line on stderr, exit code 2."""


def check_suffix(path: str, suffixes: Sequence[str], option: str = "--out") -> Path:
    """``path`` if it ends in one of ``suffixes``."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise UserError(f"{option} {path}: expected a file ending in {' or '.join(suffixes)}")
    return out


def check_output(path: str, suffixes: Sequence[str], option: str = "--out") -> Path:
    """Fail early (before any work) when ``path`` cannot be written as one of ``suffixes``:
    a wrong suffix, a folder or special file in its place, or a folder that does not exist
    or where no file can be created."""
    out = check_suffix(path, suffixes, option)
    if out.is_dir():
        raise UserError(f"{option} {path}: is a folder, expected a file")
    if out.exists() and not out.is_file():
        raise UserError(f"{option} {path}: is not a regular file (a device, pipe or socket)")
    if not out.parent.is_dir():
        raise UserError(f"{option} {path}: the folder {out.parent} does not exist")
    probe = outputs.temporary_name(out)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as error:
        raise UserError(
            f"{option} {path}: cannot create a file in {out.parent} ({error.strerror})"
        ) from None
    probe.unlink()
    return out


def write_points(path: Path, points: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Save (N, 2) points, or a (steps + 1, N, 2) trajectory, as .npy or .csv (atomically:
    a failed or killed write leaves what was at ``path``)."""
    with outputs.replacing(path) as temporary:
        if path.suffix.lower() == ".npy":
            np.save(temporary, points)
        else:
            _write_csv(temporary, points, labels)


def _write_csv(path: Path, points: np.ndarray, labels: np.ndarray | None) -> None:
    """A trajectory is written a step at a time, so its table is never whole in memory."""
    with open(path, "w") as file:
        if points.ndim == 3:
            file.write("step,particle,x,y\n")
            index = np.arange(points.shape[1])
            for step, positions in enumerate(points):
                table = np.column_stack([np.full_like(index, step), index, positions])
                np.savetxt(file, table, delimiter=",", fmt=["%d", "%d", "%.6f", "%.6f"])
        elif labels is not None:
            table = np.column_stack([points, labels])
            np.savetxt(
                file,
                table,
                delimiter=",",
                header="x,y,label",
                comments="",
                fmt=["%.6f", "%.6f", "%d"],
            )
        else:
            np.savetxt(file, points, delimiter=",", header="x,y", comments="", fmt="%.6f")
