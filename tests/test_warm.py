"""The C types parsed in one batch at start-up are exactly those cffi's own first use of
each would store, and anything the batch cannot take is left to cffi; compiled templates
kept in the cache folder render as freshly compiled ones."""

import functools
from pathlib import Path

import jinja2
import pytest
from cffi import FFI, CDefError
from wgpu.backends.wgpu_native._ffi import get_wgpu_header

from dexplorer.warm import TemplateCache, ctypes_file, prefill, remember

TYPES = [
    "WGPUStringView *",
    "WGPUChainedStruct * ",  # wgpu asks with a trailing space too: a key of its own
    "WGPUBindGroupLayoutEntry[]",
    "WGPURenderPipelineDescriptor *",
    "void(WGPULogLevel, WGPUStringView, void *)",
    "void(WGPUDevice const *, WGPUErrorType, WGPUStringView, void *, void *)",
    "char []",
    "uint32_t []",
    "uintptr_t",
    "intptr_t",
]
"""Strings wgpu-py asks for while the app starts: pointers to structs, arrays, function
types (callbacks), C's own types."""


@pytest.fixture
def ffi():
    """A fresh FFI declaring what wgpu's does, so no type is parsed yet."""
    fresh = FFI()
    fresh.cdef(get_wgpu_header())
    return fresh


def test_batch_stores_what_cffis_first_use_stores(ffi):
    assert prefill(ffi, TYPES) == len(TYPES)
    for cdecl in TYPES:
        batched = ffi._parsed_types.pop(cdecl)
        with ffi._lock:
            own = ffi._typeof_locked(cdecl)  # cffi's own path, one string at a time
        assert own[0] is batched[0]  # the very same ctype
        assert own[1] == batched[1] == cdecl.startswith("void(")
    assert ffi.sizeof("WGPUStringView") == ffi.sizeof("void *") + ffi.sizeof("size_t")
    callback = ffi.callback(TYPES[4], lambda *args: None)
    assert ffi.typeof(callback) is ffi.typeof("void(*)(WGPULogLevel, WGPUStringView, void *)")


def parsed(ffi: FFI) -> set[str]:
    """The type strings ``ffi`` has parsed (its dict also holds a module's attributes)."""
    return {cdecl for cdecl, found in ffi._parsed_types.items() if isinstance(found, tuple)}


def test_a_batch_with_a_string_cffi_refuses_is_left_to_cffi(ffi):
    assert prefill(ffi, ["WGPULimits *", "NoSuchType *"]) is None
    assert parsed(ffi) == set()
    with pytest.raises(CDefError):
        ffi.typeof("NoSuchType *")
    assert ffi.typeof("WGPULimits *").kind == "pointer"


def test_strings_cffi_rewrites_before_parsing_are_not_batched(ffi):
    rewritten = ["int[...]", "struct { int x; } *", "int /* a comment */", "int\n*"]
    assert prefill(ffi, rewritten) == 0
    assert parsed(ffi) == set()


def test_the_types_used_are_remembered_for_the_next_run(ffi, tmp_path):
    path = tmp_path / "wgpu" / "ctypes.txt"
    for cdecl in TYPES[:3]:
        ffi.typeof(cdecl)
    remember(ffi, path, set())
    assert path.read_text().splitlines() == sorted(TYPES[:3])
    path.write_text("stale\n")
    remember(ffi, path, set(TYPES[:3]))  # nothing new: the file is left as it is
    assert path.read_text() == "stale\n"
    fresh = FFI()
    fresh.cdef(get_wgpu_header())
    assert prefill(fresh, sorted(TYPES[:3])) == 3
    assert parsed(fresh) == set(TYPES[:3])


def test_the_file_is_kept_in_the_cache_folder_per_wgpu_version(monkeypatch, tmp_path):
    import wgpu

    monkeypatch.setenv("DEXPLORER_CACHE", str(tmp_path))
    assert ctypes_file() == tmp_path / "wgpu" / f"ctypes-{wgpu.__version__}.txt"


def counting(environment: jinja2.Environment) -> list[object]:
    """The sources ``environment`` compiles from now on (a list that grows)."""
    compiled = []
    original = environment.compile

    def compile(source, *args):
        compiled.append(source)
        return original(source, *args)

    environment.compile = compile
    return compiled


def cached_environment(folder: Path) -> tuple[jinja2.Environment, list[object]]:
    """A jinja2 environment with a template to include, through a :class:`TemplateCache`
    in ``folder``, and the sources it compiles."""
    environment = jinja2.Environment(
        loader=jinja2.DictLoader({"part.wgsl": "let y = {{ y }};"}),
        undefined=jinja2.StrictUndefined,
    )
    compiled = counting(environment)
    cache = TemplateCache(str(folder))
    environment.bytecode_cache = cache
    environment.compile = functools.partial(cache.compile, environment.compile, environment)
    return environment, compiled


SHADER = "let x = {{ x }};\n{% include 'part.wgsl' %}"


def test_compiled_templates_are_kept_for_the_next_run(tmp_path):
    first, compiled = cached_environment(tmp_path)
    shader = first.from_string(SHADER).render(x=1, y=2)
    assert shader == "let x = 1;\nlet y = 2;"
    assert len(compiled) == 2  # the string and the template it includes
    second, compiled = cached_environment(tmp_path)
    assert second.from_string(SHADER).render(x=1, y=2) == shader
    assert compiled == []  # both from the cache
    assert second.from_string("let z = {{ z }};").render(z=3) == "let z = 3;"
    assert compiled == ["let z = {{ z }};"]  # another source is compiled, not confused


def test_a_damaged_or_unwritable_cache_only_compiles_again(tmp_path):
    cached_environment(tmp_path)[0].from_string(SHADER).render(x=1, y=2)
    for kept in tmp_path.iterdir():
        kept.write_bytes(kept.read_bytes()[:40])
    environment, compiled = cached_environment(tmp_path)
    assert environment.from_string(SHADER).render(x=1, y=2) == "let x = 1;\nlet y = 2;"
    assert len(compiled) == 2
    gone = tmp_path / "gone"
    environment, compiled = cached_environment(gone)  # a folder that is not there
    assert environment.from_string(SHADER).render(x=4, y=5) == "let x = 4;\nlet y = 5;"
    assert len(compiled) == 2
