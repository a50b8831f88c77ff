"""The C types parsed in one batch at start-up are exactly those cffi's own first use of
each would store, and anything the batch cannot take is left to cffi."""

import pytest
from cffi import FFI, CDefError
from wgpu.backends.wgpu_native._ffi import get_wgpu_header

from dexplorer.warm import ctypes_file, prefill, remember

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
