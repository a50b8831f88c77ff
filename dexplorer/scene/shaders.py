"""The WGSL of the scene, read once and composed by pygfx's templating: the ``shaders``
folder is registered as the ``dexplorer`` context of pygfx's WGSL loader, so a shader's code
is an include of its file, filled in with the shader's template variables."""

from __future__ import annotations

import functools

from pygfx.renderers.wgpu import register_wgsl_loader

from ..resources import data_dir

CONTEXT = "dexplorer"


@functools.cache
def _source(name: str) -> str:
    return (data_dir("shaders") / name).read_text()


register_wgsl_loader(CONTEXT, _source)


def include(name: str) -> str:
    """The code of a shader made of the file ``name`` of the shaders folder."""
    return f"{{$ include '{CONTEXT}.{name}' $}}"
