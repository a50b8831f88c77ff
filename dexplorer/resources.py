"""Where the packaged data folders (``assets``, ``shaders``) are."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder ``name``: inside the package when installed from a wheel, at the top of
    the checkout when installed in editable mode."""
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name
