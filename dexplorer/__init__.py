"""Diffusion Explorer: watch 2D samples flow from a Gaussian (t=0) to data (t=1).

``dexplorer.Explorer`` is the library API (see :mod:`dexplorer.explorer`); it is imported
on first use, so that ``import dexplorer`` stays light."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["Explorer"]

if TYPE_CHECKING:
    from .explorer import Explorer


def __getattr__(name: str) -> object:
    if name == "Explorer":
        from .explorer import Explorer

        return Explorer
    raise AttributeError(f"module 'dexplorer' has no attribute {name!r}")
