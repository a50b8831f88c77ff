"""Where the packaged data folders (``assets``, ``shaders``) are, and the one loader of the
WGSL in ``shaders``: each file is read once and composed by pygfx's templating."""

from __future__ import annotations

import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder ``name``: inside the package when installed from a wheel, at the top of
    the checkout when installed in editable mode."""
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name


WGSL_CONTEXT = "dexplorer"
"""The name of the ``shaders`` folder in pygfx's WGSL loader."""


@functools.cache
def _wgsl_source(name: str) -> str:
    return (data_dir("shaders") / name).read_text()


@functools.cache
def _register_wgsl() -> None:
    from pygfx.renderers.wgpu import register_wgsl_loader  # only where shaders are used

    register_wgsl_loader(WGSL_CONTEXT, _wgsl_source)


def wgsl(name: str) -> str:
    """A shader template made of the file ``name`` of the shaders folder (an include that
    pygfx's templating fills in, with the shader's template variables)."""
    _register_wgsl()
    return f"{{$ include '{WGSL_CONTEXT}.{name}' $}}"
