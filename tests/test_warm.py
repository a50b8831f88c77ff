"""The C types parsed in one batch at start-up are exactly those cffi's own first use of
each would store, and anything the batch cannot take is left to cffi; the declarations of
wgpu's header kept in the cache folder are those cffi's parse makes; compiled templates kept
there render as freshly compiled ones."""

import functools
from pathlib import Path

import cffi.model
import jinja2
import pytest
from cffi import FFI, CDefError
from wgpu.backends.wgpu_native._ffi import get_wgpu_header

from dexplorer.warm import (
    PARSER_STATE,
    TemplateCache,
    ctypes_file,
    declarations_key,
    keep_declarations,
    kept_declarations,
    kept_types,
    prefill,
    remember,
    restore_declarations,
    types_file,
)

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


@pytest.fixture(scope="module")
def header(tmp_path_factory) -> Path:
    """wgpu's header as cffi declares it, kept in a file (restoring is faster than a parse)."""
    path = tmp_path_factory.mktemp("header") / "declarations.pickle"
    declared = FFI()
    declared.cdef(get_wgpu_header())
    keep_declarations(declared, path, declarations_key(get_wgpu_header()))
    return path


def declared_again(header: Path, *sources: str) -> FFI:
    """A fresh FFI declaring wgpu's header (and ``sources``), with model objects of its own."""
    fresh = FFI()
    assert restore_declarations(
        fresh, get_wgpu_header(), header, declarations_key(get_wgpu_header())
    )
    for source in sources:
        fresh.cdef(source)
    return fresh


def test_the_kept_parse_of_the_batch_gives_what_cffis_first_use_gives(
    ffi, header, tmp_path, monkeypatch
):
    path = tmp_path / "types.pickle"
    assert prefill(ffi, TYPES, path) == len(TYPES)  # parsed, and the parse kept
    fresh = declared_again(header)

    def refused(*args):
        raise AssertionError("parsed again")

    monkeypatch.setattr("dexplorer.warm.parse_types", refused)
    assert prefill(fresh, TYPES, path) == len(TYPES)  # from the file
    for cdecl in TYPES:
        kept = fresh._parsed_types.pop(cdecl)
        with fresh._lock:
            own = fresh._typeof_locked(cdecl)  # cffi's own parse
        assert own[0] is kept[0]  # the very same ctype
        assert own[1] == kept[1]
    limits = fresh.typeof("WGPULimits *")  # structs are the parser's own objects
    assert limits.item is fresh.typeof("WGPULimits") and limits.item.fields
    assert prefill(declared_again(header), TYPES[:1], path) == 1  # a part of the batch


def test_a_kept_parse_for_other_declarations_or_damaged_is_not_taken(ffi, header, tmp_path):
    path = tmp_path / "types.pickle"
    prefill(ffi, TYPES, path)
    assert set(kept_types(declared_again(header), path)) == set(TYPES)
    assert kept_types(declared_again(header, "typedef int myint;"), path) == {}
    other = declared_again(header, "typedef int myint;")
    assert prefill(other, [*TYPES, "myint *"], path) == len(TYPES) + 1  # parsed
    assert set(kept_types(other, path)) == {*TYPES, "myint *"}  # kept for those
    path.write_bytes(path.read_bytes()[:200])
    assert kept_types(other, path) == {}
    assert prefill(declared_again(header, "typedef int myint;"), TYPES, path) == len(TYPES)


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
    assert types_file() == tmp_path / "wgpu" / f"types-{wgpu.__version__}.pickle"


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


def described(value: object, seen: set[int] | None = None) -> object:
    """Everything of a cffi model value that can differ, as plain data (a struct seen
    before on the way down as its name: structs refer to each other)."""
    seen = set() if seen is None else seen
    if isinstance(value, list | tuple | set | frozenset):
        items = [described(item, seen) for item in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, dict):
        return {key: described(item, seen) for key, item in sorted(value.items())}
    if hasattr(value, "_get_c_name"):
        name = (type(value).__name__, value._get_c_name())
        if id(value) in seen:
            return name
        seen.add(id(value))
        return (*name, described(vars(value), seen))
    return value


def sizes(ffi: FFI, name: str) -> tuple[int, int] | None:
    """The size and alignment of the struct ``name`` as ``ffi`` builds it (None: opaque)."""
    struct = ffi._parser._declarations[name][0]
    if struct.fldnames is None:
        return None
    with ffi._lock:
        ctype = ffi._get_cached_btype(struct)
    return ffi._backend.sizeof(ctype), ffi._backend.alignof(ctype)


def test_kept_declarations_are_what_cffi_declares(ffi, tmp_path):
    path = tmp_path / "declarations.pickle"
    source, key = get_wgpu_header(), declarations_key(get_wgpu_header())
    keep_declarations(ffi, path, key)
    restored = FFI()
    assert restore_declarations(restored, source, path, key)
    for name in PARSER_STATE:
        assert described(getattr(restored._parser, name)) == described(
            getattr(ffi._parser, name)
        ), name
    void = restored._parser._declarations["typedef WGPUProc"][0].result
    assert void is cffi.model.void_type  # cffi's shared types stay shared
    assert restored._cdefsources == ffi._cdefsources == [source]
    structs = [name for name in ffi._parser._declarations if name.startswith("struct ")]
    assert [sizes(restored, s) for s in structs] == [sizes(ffi, s) for s in structs]
    assert prefill(restored, TYPES) == len(TYPES)
    for cdecl in TYPES:
        assert str(restored._parsed_types[cdecl][0]) == str(ffi._typeof(cdecl, True))


def test_declarations_kept_for_another_source_or_damaged_are_parsed_again(ffi, tmp_path):
    path = tmp_path / "declarations.pickle"
    source = get_wgpu_header()
    keep_declarations(ffi, path, declarations_key(source))
    assert not restore_declarations(FFI(), source, path, declarations_key(source + " "))
    path.write_bytes(path.read_bytes()[:1000])
    fresh = FFI()
    assert not restore_declarations(fresh, source, path, declarations_key(source))
    assert fresh._cdefsources == [] and fresh._parser._declarations == {}


def test_the_first_cdef_of_the_header_keeps_and_the_next_restores(tmp_path):
    path, source, declared = tmp_path / "declarations.pickle", get_wgpu_header(), []
    cdef = FFI.cdef
    with kept_declarations(source, path, declared.append):
        first = FFI()
        first.cdef(source)
        other = FFI()
        other.cdef("typedef int myint;")  # any other source is cffi's own
    assert declared == [first] and path.exists()
    assert FFI.cdef is cdef  # cffi's own again after the context
    with kept_declarations(source, path, declared.append):
        second = FFI()
        second.cdef(source)
    assert declared == [first, second]
    assert described(second._parser._declarations) == described(first._parser._declarations)
    assert "typedef myint" in other._parser._declarations
