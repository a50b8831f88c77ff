"""The GLFW library pyGLFW chose is remembered and given back to it on the next import, when
its search would run on the same terms; otherwise pyGLFW searches as it does."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from dexplorer.warm import glfw_file, kept_glfw_library

pytestmark = pytest.mark.skipif(importlib.util.find_spec("glfw") is None, reason="no glfw")

IMPORT = """
import json, os, subprocess
searches = []
popen = subprocess.Popen.__init__

def counted(self, *args, **kwargs):  # pyGLFW asks each library's version in a process
    searches.append(args)
    popen(self, *args, **kwargs)

subprocess.Popen.__init__ = counted
from dexplorer.warm import kept_glfw_library
with kept_glfw_library():
    told = os.environ.get("PYGLFW_LIBRARY")
    import glfw
print(json.dumps({
    "library": glfw.library.glfw._name,
    "searched": bool(searches),
    "told": told,
    "after": os.environ.get("PYGLFW_LIBRARY"),
}))
"""


def imported(cache, **variables: str) -> dict:
    """An import of glfw in a fresh process with the cache folder ``cache``."""
    env = dict(os.environ, DEXPLORER_CACHE=str(cache), **variables)
    env.pop("PYGLFW_LIBRARY", None)
    found = subprocess.run(
        [sys.executable, "-c", IMPORT], capture_output=True, text=True, env=env, timeout=120
    )
    assert found.returncode == 0, found.stderr
    return json.loads(found.stdout.strip().splitlines()[-1])


def test_the_library_chosen_is_given_back_while_the_search_is_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("DEXPLORER_CACHE", str(tmp_path))
    variant = {"PYGLFW_LIBRARY_VARIANT": os.environ.get("PYGLFW_LIBRARY_VARIANT", "")}
    first = imported(tmp_path, **variant)
    assert first["searched"] and first["told"] is None
    assert json.loads(glfw_file().read_text())["library"] == first["library"]
    second = imported(tmp_path, **variant)
    assert not second["searched"]
    assert second["told"] == second["library"] == first["library"]
    assert second["after"] is None  # told for the import only

    other = "wayland" if variant["PYGLFW_LIBRARY_VARIANT"] == "x11" else "x11"
    changed = imported(tmp_path, PYGLFW_LIBRARY_VARIANT=other)  # other terms: searched
    assert changed["searched"] and changed["told"] is None
    assert not imported(tmp_path, PYGLFW_LIBRARY_VARIANT=other)["searched"]

    kept = json.loads(glfw_file().read_text())
    kept["stat"][0] += 1  # the library file is not the one remembered
    glfw_file().write_text(json.dumps(kept))
    assert imported(tmp_path, PYGLFW_LIBRARY_VARIANT=other)["searched"]
    glfw_file().write_text("{")  # damaged
    assert imported(tmp_path, PYGLFW_LIBRARY_VARIANT=other)["searched"]


def test_nothing_changes_where_glfw_is_told_its_library(tmp_path, monkeypatch):
    monkeypatch.setenv("DEXPLORER_CACHE", str(tmp_path))
    monkeypatch.setenv("PYGLFW_LIBRARY", "/somewhere/libglfw.so")
    with kept_glfw_library():
        assert os.environ["PYGLFW_LIBRARY"] == "/somewhere/libglfw.so"
    assert os.environ["PYGLFW_LIBRARY"] == "/somewhere/libglfw.so"
    assert not glfw_file().exists()
