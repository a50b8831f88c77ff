"""The index of pygfx's font manager kept in the cache folder is the one pygfx builds, the
font manager made at pygfx's import takes it and selects the same fonts and glyphs as
pygfx's own, and a kept index that is stale (another index file, another pygfx) or damaged
is built again by pygfx."""

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pygfx
import pytest
from pygfx.utils.text import FontManager, FontProps, shape_text

from dexplorer.warm import (
    FONT_INDEX_STATE,
    FONT_MODULE,
    FontIndexFinder,
    FontIndexLoader,
    font_index_file,
    font_index_source,
    load_font_index,
    module_head,
)

TEXT = "t = 0.50 → ∑ مرحبا नमस्ते ✓ \U0001d11e"
"""Latin, an arrow and mathematics, Arabic, Devanagari, a check mark and a codepoint none
of the shipped fonts draws (the musical G clef)."""

pygfx_own = FontManager._load_default_font_index


def refused(manager: object) -> None:
    raise AssertionError("pygfx's own path was taken")


def font_module(monkeypatch: pytest.MonkeyPatch, cache: Path) -> ModuleType:
    """pygfx's font manager module run afresh through a :class:`FontIndexLoader` with the
    cache folder ``cache`` (not put in sys.modules)."""
    monkeypatch.setenv("DEXPLORER_CACHE", str(cache))
    origin = importlib.util.find_spec(FONT_MODULE).origin
    loader = FontIndexLoader(FONT_MODULE, origin)
    module = importlib.util.module_from_spec(
        importlib.util.spec_from_loader(FONT_MODULE, loader, origin=origin)
    )
    loader.exec_module(module)
    return module


def selected(manager: FontManager) -> list[tuple[str, str, list[int]]]:
    """Each piece of :data:`TEXT` with the font file ``manager`` selects for it and the
    glyphs that font shapes it into."""
    return [
        (piece, font.filename, shape_text(piece, font.filename)[0].tolist())
        for piece, font in manager.select_font(TEXT, FontProps())
    ]


@pytest.fixture(scope="module")
def own() -> FontManager:
    """A font manager made by pygfx's own path."""
    return FontManager()


def test_the_kept_index_is_the_one_pygfx_builds(own, tmp_path):
    path, source = tmp_path / "index.marshal", font_index_source()
    first, second = SimpleNamespace(), SimpleNamespace()
    assert not load_font_index(first, pygfx_own, source, path)  # built, and kept
    assert load_font_index(second, refused, source, path)  # from the file
    for name in FONT_INDEX_STATE:
        assert getattr(second, name) == getattr(first, name) == getattr(own, name), name
    assert len(own._default_font_map) > 70_000  # the whole index
    assert set(vars(first)) == set(vars(second)) == set(FONT_INDEX_STATE)


def test_the_font_manager_made_at_import_selects_as_pygfxs_own(own, monkeypatch, tmp_path):
    built = font_module(monkeypatch, tmp_path)  # the first run builds the index and keeps it
    path = font_index_file()
    assert path == tmp_path / "pygfx" / f"font-index-{pygfx.__version__}.marshal"
    assert path.exists()
    kept = font_module(monkeypatch, tmp_path)
    assert selected(built.font_manager) == selected(kept.font_manager) == selected(own)
    pieces = selected(own)
    assert len({font for _, font, _ in pieces}) >= 3  # several fonts take part
    assert pieces[-1][0] == "\U0001d11e" and pieces[-1][1] == own._fallback_font.filename
    for name in FONT_INDEX_STATE:
        assert getattr(kept.font_manager, name) == getattr(own, name), name


def test_the_font_manager_made_at_import_takes_the_kept_file(own, monkeypatch, tmp_path):
    monkeypatch.setenv("DEXPLORER_CACHE", str(tmp_path))

    def marked(manager: object) -> None:  # pygfx's index with one entry changed
        for name in FONT_INDEX_STATE:
            setattr(manager, name, dict(getattr(own, name)))
        manager._default_font_map[ord("t")] = ("Humor Sans",)

    assert not load_font_index(SimpleNamespace(), marked, font_index_source(), font_index_file())
    module = font_module(monkeypatch, tmp_path)
    assert module.font_manager._default_font_map[ord("t")] == ("Humor Sans",)
    load = module.FontManager._load_default_font_index  # the class's own after the import
    assert (load.__module__, load.__qualname__) == (FONT_MODULE, pygfx_own.__qualname__)


def counting(source: Path) -> list[object]:
    """A stand-in for pygfx's own load, which reads ``source`` (the two attributes as
    JSON); its ``calls`` are the managers it loaded."""

    def own(manager: object) -> None:
        own.calls.append(manager)
        for name, value in json.loads(source.read_text()).items():
            setattr(manager, name, value)

    own.calls = []
    return own


def test_an_index_kept_for_another_file_or_pygfx_or_damaged_is_built_again(monkeypatch, tmp_path):
    source, path = tmp_path / "index.json", tmp_path / "kept" / "index.marshal"
    index = {"_default_family_to_fname": {"A": "a.ttf"}, "_default_font_map": {"65": "A"}}
    source.write_text(json.dumps(index))
    own = counting(source)
    assert not load_font_index(SimpleNamespace(), own, source, path)
    assert load_font_index(loaded := SimpleNamespace(), own, source, path)
    assert vars(loaded) == index and len(own.calls) == 1

    index["_default_family_to_fname"]["A"] = "b.ttf"  # pygfx ships another index
    source.write_text(json.dumps(index))
    assert not load_font_index(rebuilt := SimpleNamespace(), own, source, path)
    assert vars(rebuilt) == index and len(own.calls) == 2
    assert load_font_index(loaded := SimpleNamespace(), own, source, path)  # kept anew
    assert vars(loaded) == index

    monkeypatch.setattr(pygfx, "__version__", "0.0.1")  # another pygfx, same file
    assert not load_font_index(SimpleNamespace(), own, source, path)
    assert len(own.calls) == 3

    path.write_bytes(path.read_bytes()[:20])  # damaged
    assert not load_font_index(rebuilt := SimpleNamespace(), own, source, path)
    assert vars(rebuilt) == index and len(own.calls) == 4


def test_a_load_that_sets_more_than_the_index_is_not_kept(tmp_path):
    source, path = tmp_path / "index.json", tmp_path / "index.marshal"
    source.write_text(json.dumps({name: {} for name in (*FONT_INDEX_STATE, "_other")}))
    own = counting(source)
    assert not load_font_index(SimpleNamespace(), own, source, path)
    assert not path.exists()
    source.unlink()  # a missing index file is pygfx's to report
    with pytest.raises(FileNotFoundError):
        load_font_index(SimpleNamespace(), own, source, path)


def test_only_a_module_ending_with_the_font_manager_is_split():
    namespace: dict = {}
    exec(module_head("x = 1\nfont_manager = FontManager()\n", "m.py"), namespace)
    assert namespace["x"] == 1 and "font_manager" not in namespace
    assert module_head("font_manager = FontManager()\nx = 1\n", "m.py") is None
    assert module_head("font_manager = FontManager(fast=True)\n", "m.py") is None


def test_the_finder_gives_the_font_module_the_loader():
    finder = FontIndexFinder()
    assert finder.find_spec("pygfx.utils.text._shaper", pygfx.utils.text.__path__) is None
    spec = finder.find_spec(FONT_MODULE, pygfx.utils.text.__path__)
    assert isinstance(spec.loader, FontIndexLoader)
    assert spec.origin == sys.modules[FONT_MODULE].__file__
