"""Start-up work paid once instead of on every run: cffi's parse of wgpu's C header and of
the C types wgpu-py asks for, the compiled code of pygfx's shader templates, the index of
pygfx's font manager and pyGLFW's search for its library.

wgpu declares its header (some two thousand declarations) to cffi on import, and cffi
parses it every time. What the parse leaves in cffi's parser is kept in the cache folder,
keyed by the header's text and the cffi, pycparser and Python versions, and given back to
the parser in place of the parse when the key matches (:func:`kept_declarations`).

cffi parses each new C type string on its first use, and each parse re-reads a typedef for
every type wgpu declares (hundreds), tens of milliseconds a string. A frame of the app asks
for some eighty strings. The strings a run asked for are remembered in the cache folder;
the next run parses them in one pass and stores each result where cffi's own first use
would have stored it (``FFI._parsed_types``: the ctype and whether it was a function type),
so that cffi then finds it. A string the pass cannot take exactly as cffi would is left to
cffi's own path, one at a time on first use. What the pass gives (cffi's model types) is
kept in the cache folder too, keyed by all that was declared, and taken in place of the
pass when the key matches (:func:`kept_types`).

pygfx writes its shaders (WGSL) from jinja2 templates, which jinja2 compiles to Python code
on every run. That code is kept in the cache folder through jinja2's own bytecode cache
(checked against the template's source, the Python and jinja2 versions), for the templates
pygfx includes and, under their source's checksum, for those it compiles from a string.

pygfx's font manager, made when pygfx is imported, reads which of the Noto fonts draws each
codepoint (some 78,000) from a JSON file pygfx ships and builds a dict of it, a few tenths of
a second of every start. What that leaves on the font manager is kept in the cache folder,
keyed by the file's content and the pygfx and Python versions, and given to the font manager
in place of the build when the key matches (:func:`load_font_index`); pygfx defines the
class and makes the font manager in one module, so that module is run through
:class:`FontIndexLoader`.

pyGLFW, on its import, looks for the GLFW library and asks each one it finds for its version
in a fresh Python process (a Python start-up). The library it chose is remembered in the
cache folder and given to it the next time through ``PYGLFW_LIBRARY``, its own way of being
told one (:func:`kept_glfw_library`).
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import functools
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import marshal
import os
import pickle
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import CodeType, ModuleType
from typing import TYPE_CHECKING

import jinja2

if TYPE_CHECKING:
    from cffi import FFI

from .core.native_build import cache_root

BATCHED = re.compile(r"[A-Za-z_][A-Za-z0-9_ *\[\](),]*")
"""The strings parsed in a batch: type names, pointers, arrays and function types, each on
one line with nothing cffi's preprocessing rewrites (no '...', comments or braces)."""

DECLARATION = "void __dummy(\n%s\n);"
"""How cffi wraps a type string to parse it (``Parser.parse_type_and_quals``)."""


def ctypes_file() -> Path:
    """Where the type strings of wgpu's FFI are remembered (one file per wgpu version)."""
    import wgpu

    return cache_root() / "wgpu" / f"ctypes-{wgpu.__version__}.txt"


def declarations_file() -> Path:
    """Where the declarations of wgpu's header, as cffi parsed them, are kept."""
    import wgpu

    return cache_root() / "wgpu" / f"declarations-{wgpu.__version__}.pickle"


def types_file() -> Path:
    """Where cffi's parse of those type strings is kept (:func:`keep_types`)."""
    import wgpu

    return cache_root() / "wgpu" / f"types-{wgpu.__version__}.pickle"


def wgpu_header() -> str:
    """The C source wgpu declares to cffi, read as wgpu reads it (``get_wgpu_header`` in
    ``wgpu.backends.wgpu_native._ffi``, whose import declares it); '' when not found."""
    from wgpu._coreutils import get_header_filename

    try:
        with open(get_header_filename("combined_header.h"), encoding="utf-8") as header:
            return header.read()
    except (OSError, RuntimeError, UnicodeDecodeError):
        return ""


@functools.cache
def warm_ctypes() -> None:
    """Parse the type strings remembered from earlier runs into wgpu's FFI (once a
    process), right after its header is declared (from :func:`declarations_file` when
    it holds that header's), and remember at exit the strings this process used."""
    import wgpu

    path = ctypes_file()
    try:
        remembered = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        remembered = []
    filled: list[int | None] = []

    def declared(ffi: FFI) -> None:
        filled.append(prefill(ffi, remembered, types_file()))

    if "wgpu.backends.wgpu_native" not in sys.modules:
        with kept_declarations(wgpu_header(), declarations_file(), declared):
            import wgpu.backends.wgpu_native._ffi  # noqa: F401 (declares the header)
    from wgpu.backends.wgpu_native._ffi import ffi

    if not filled:  # imported before, or declared otherwise
        declared(ffi)
    known = {c for c in remembered if BATCHED.fullmatch(c)} if filled[0] is not None else set()
    atexit.register(remember, ffi, path, known)


PARSER_STATE = (
    "_declarations",
    "_included_declarations",
    "_anonymous_counter",
    "_int_constants",
    "_uses_new_feature",
)
"""What cffi's parser keeps from a ``cdef`` (``Parser.__init__`` starts each empty)."""


@contextlib.contextmanager
def kept_declarations(source: str, path: Path, declared: Callable[[FFI], None]) -> Iterator:
    """Within the context, the first ``cdef`` of exactly ``source`` on a fresh FFI takes
    the parser's state from ``path`` when that file was written from the same source
    with the same cffi, pycparser and Python (else parses, and writes the file), then
    calls ``declared(ffi)``; any other ``cdef`` is cffi's own."""
    import cffi.api

    original = cffi.api.FFI.cdef

    def cdef(ffi: FFI, csource: str, override=False, packed=False, pack=None) -> None:
        fresh = not (ffi._cdefsources or ffi._parser._declarations)
        if csource != source or override or packed or pack or not fresh:
            return original(ffi, csource, override=override, packed=packed, pack=pack)
        cffi.api.FFI.cdef = original  # once
        key = declarations_key(source)
        if not restore_declarations(ffi, source, path, key):
            original(ffi, csource)
            keep_declarations(ffi, path, key)
        declared(ffi)

    cffi.api.FFI.cdef = cdef
    try:
        yield
    finally:
        cffi.api.FFI.cdef = original


def declarations_key(source: str) -> str:
    """What a parse of ``source`` depends on: the source, cffi, pycparser and Python."""
    import cffi
    import pycparser

    versions = f"{cffi.__version__} {pycparser.__version__} {sys.version}\n"
    return hashlib.sha256((versions + source).encode("utf-8")).hexdigest()


def _singletons() -> dict[str, object]:
    """cffi's shared model types (``model.void_type`` ...), which its parser compares by
    identity: kept by name, not copied."""
    from cffi import model

    return {
        name: value
        for name, value in vars(model).items()
        if isinstance(value, model.BaseTypeByIdentity)
    }


def keep_declarations(ffi: FFI, path: Path, key: str) -> None:
    """Write the state ``ffi``'s parser has after its one ``cdef`` to ``path`` (nothing
    when the parse left work for later, or the folder cannot be written)."""
    parser = ffi._parser
    if parser._recomplete or len(ffi._cdefsources) != 1:
        return
    names = {id(value): name for name, value in _singletons().items()}
    state = tuple(getattr(parser, name) for name in PARSER_STATE)
    kept = io.BytesIO()
    pickler = pickle.Pickler(kept, pickle.HIGHEST_PROTOCOL)
    pickler.persistent_id = lambda value: names.get(id(value))
    try:
        pickler.dump((key, state))
    except (pickle.PicklingError, RecursionError):
        return
    _write_atomically(path, kept.getvalue())


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it, so that a reader
    never finds half a file; a folder that cannot be written is left."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name)
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)


def restore_declarations(ffi: FFI, source: str, path: Path, key: str) -> bool:
    """Give ``ffi`` the state :func:`keep_declarations` wrote, as its ``cdef`` of
    ``source`` would; False (``ffi`` untouched) when the file is missing, damaged or for
    another ``key``."""
    singletons = _singletons()
    try:
        with open(path, "rb") as kept:
            unpickler = pickle.Unpickler(kept)
            unpickler.persistent_load = singletons.__getitem__
            found, state = unpickler.load()
    except Exception:  # no file, or not one this code wrote: parse
        return False
    if found != key or not isinstance(state, tuple) or len(state) != len(PARSER_STATE):
        return False
    with ffi._lock:  # what FFI._cdef does around the parse
        ffi._cdef_version = object()
        for name, value in zip(PARSER_STATE, state, strict=True):
            setattr(ffi._parser, name, value)
        ffi._cdefsources.append(source)
    return True


def prefill(ffi: object, cdecls: Iterable[str], kept: Path | None = None) -> int | None:
    """Store in ``ffi`` what its first ``typeof`` of each of ``cdecls`` would store, from
    one parse of them all, or from the parse kept at ``kept`` (:func:`kept_types`, where
    the parse of the batch is then kept); the count stored, or None when the batch could
    not be taken as cffi's own parses (then nothing is stored, or only the ctypes built
    before a ctype cffi could not build either)."""
    with ffi._lock:
        parsed = ffi._parsed_types
        missing = list(dict.fromkeys(c for c in cdecls if BATCHED.fullmatch(c)))
        missing = [c for c in missing if c not in parsed]
        if not missing:
            return 0
        try:
            types = kept_types(ffi, kept) if kept else {}
            fresh = [c for c in missing if c not in types]
            if fresh:
                types.update(zip(fresh, parse_types(ffi._parser, fresh), strict=True))
            for cdecl in missing:
                ctype = types[cdecl]
                function = ctype.is_raw_function
                if function:
                    ctype = ctype.as_function_pointer()
                parsed[cdecl] = (ffi._get_cached_btype(ctype), function)
        except Exception:  # anything cffi's own path would meet on the string's first use
            return None
        if kept and fresh:
            keep_types(ffi, kept, {cdecl: types[cdecl] for cdecl in missing})
    return len(missing)


def parse_types(parser: object, cdecls: list[str]) -> list[object]:
    """cffi's model type of each of ``cdecls`` (as ``parser.parse_type`` gives it), from
    one parse of their declarations one after another, each checked to be the single
    declaration on the lines its string was put on."""
    from cffi.model import BaseTypeByIdentity
    from pycparser import c_ast

    ast, macros, _ = parser._parse("\n".join(DECLARATION % cdecl for cdecl in cdecls))
    ours = [node for node in ast.ext if node.coord.file == "<cdef source string>"]
    lines = DECLARATION.count("\n") + 1
    if macros or len(ours) != len(cdecls):
        raise ValueError("the batch does not parse as one declaration per type")
    types = []
    for index, node in enumerate(ours):
        if node.name != "__dummy" or node.coord.line != 1 + lines * index:
            raise ValueError(f"declaration {index} is not where its type was put")
        argument = node.type.args.params[0]
        if isinstance(argument, c_ast.ID):
            raise ValueError(f"unknown identifier {argument.name!r}")
        ctype = parser._get_type_and_quals(argument.type)[0]
        if not isinstance(ctype, BaseTypeByIdentity):
            raise ValueError(f"{cdecls[index]!r} is not a type")
        types.append(ctype)
    return types


def types_key(ffi: FFI) -> str:
    """What a parse of a type string depends on: everything ``ffi`` declared, cffi,
    pycparser and Python."""
    return declarations_key("".join(ffi._cdefsources))


def _declared(ffi: FFI) -> dict[int, tuple[str, str]]:
    """Where cffi's shared model types and the model types ``ffi`` declared are found, by
    their ids: kept by name, so that a type kept refers to the very objects the parser
    holds (cffi builds one ctype per struct object)."""
    from cffi.model import BaseTypeByIdentity

    names = {id(value): ("model", name) for name, value in _singletons().items()}
    for name, (value, _) in ffi._parser._declarations.items():
        if isinstance(value, BaseTypeByIdentity):
            names.setdefault(id(value), ("declared", name))
    return names


def keep_types(ffi: FFI, path: Path, types: dict[str, object]) -> None:
    """Write the model types ``types`` (type string: model type) parsed for ``ffi`` to
    ``path`` (nothing when they cannot be pickled or the folder cannot be written)."""
    names = _declared(ffi)
    kept = io.BytesIO()
    pickler = pickle.Pickler(kept, pickle.HIGHEST_PROTOCOL)
    pickler.persistent_id = lambda value: names.get(id(value))
    try:
        pickler.dump((types_key(ffi), types))
    except (pickle.PicklingError, RecursionError):
        return
    _write_atomically(path, kept.getvalue())


def kept_types(ffi: FFI, path: Path) -> dict[str, object]:
    """The model types :func:`keep_types` wrote to ``path`` for what ``ffi`` declared, as
    ``parse_types`` gives them ({} when the file is missing, damaged or for other
    declarations)."""
    from cffi.model import BaseTypeByIdentity

    objects = {"model": _singletons(), "declared": ffi._parser._declarations}

    def load(found: tuple[str, str]) -> object:
        kind, name = found
        value = objects[kind][name]
        return value[0] if kind == "declared" else value

    try:
        with open(path, "rb") as kept:
            unpickler = pickle.Unpickler(kept)
            unpickler.persistent_load = load
            key, types = unpickler.load()
    except Exception:  # no file, or not one this code wrote for these declarations
        return {}
    if key != types_key(ffi) or not isinstance(types, dict):
        return {}
    return {
        cdecl: ctype
        for cdecl, ctype in types.items()
        if isinstance(cdecl, str) and isinstance(ctype, BaseTypeByIdentity)
    }


def remember(ffi: object, path: Path, known: set[str]) -> None:
    """Write the type strings ``ffi`` has parsed to ``path`` when some are not ``known``
    (the file's own, when its batch was taken); a folder that cannot be written is left."""
    with ffi._lock:  # its keys also hold a module's attributes (__name__ ...): not types
        parsed = ffi._parsed_types.items()
        used = {c for c, found in parsed if isinstance(found, tuple) and BATCHED.fullmatch(c)}
    if used <= known:
        return
    text = "".join(f"{cdecl}\n" for cdecl in sorted(used | known))
    _write_atomically(path, text.encode("utf-8"))


@functools.cache
def warm_templates() -> None:
    """Give pygfx's template environment a :class:`TemplateCache` in the cache folder (once
    a process; not when the environment has a bytecode cache already or the folder cannot
    be made)."""
    import pygfx
    from pygfx.renderers.wgpu.shader.templating import jinja_env

    versions = f"pygfx-{pygfx.__version__}-jinja2-{jinja2.__version__}"
    folder = cache_root() / "templates" / versions
    if jinja_env.bytecode_cache is not None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    cache = TemplateCache(str(folder))
    jinja_env.bytecode_cache = cache
    jinja_env.compile = functools.partial(cache.compile, jinja_env.compile, jinja_env)


class TemplateCache(jinja2.FileSystemBytecodeCache):
    """Owns the compiled templates kept in one folder. A file that cannot be read is
    compiled again, one that cannot be written is not kept: neither stops a template."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # a damaged file: what jinja2 does without one
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            return

    def compile(
        self,
        compile: Callable[..., CodeType | str],
        environment: jinja2.Environment,
        source: object,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> CodeType | str:
        """``environment.compile`` of a template given as a string (``from_string``: no
        name, which jinja2 caches only for the templates it loads) through this cache,
        under the source's checksum; anything else straight to ``compile``."""
        if name is not None or filename is not None or raw or not isinstance(source, str):
            return compile(source, name, filename, raw, defer_init)
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
        bucket = self.get_bucket(environment, f"<string {digest} {defer_init}>", None, source)
        if bucket.code is None:
            bucket.code = compile(source, name, filename, raw, defer_init)
            self.set_bucket(bucket)
        return bucket.code


FONT_MODULE = "pygfx.utils.text._fontmanager"
FONT_MANAGER = "font_manager = FontManager()"
"""The statement of :data:`FONT_MODULE` that makes pygfx's font manager, its last."""
FONT_INDEX_STATE = ("_default_family_to_fname", "_default_font_map")
"""What ``FontManager._load_default_font_index`` sets on the font manager."""


@functools.cache
def warm_fonts() -> None:
    """Have the import of pygfx make its font manager with the index kept in the cache
    folder (once a process; nothing when pygfx's font manager exists already)."""
    if FONT_MODULE not in sys.modules:
        sys.meta_path.insert(0, FontIndexFinder())


class FontIndexFinder(importlib.abc.MetaPathFinder):
    """Finds :data:`FONT_MODULE` where Python would and gives it a :class:`FontIndexLoader`
    when it is a plain source file (else leaves it to Python)."""

    def find_spec(
        self, fullname: str, path: object, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != FONT_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return None
        spec.loader = FontIndexLoader(fullname, spec.origin)
        return spec


class FontIndexLoader(importlib.machinery.SourceFileLoader):
    """Runs pygfx's font manager module as pygfx wrote it, except that its last statement,
    :data:`FONT_MANAGER`, runs with the index loaded by :func:`load_font_index`. A module
    that does not end with that statement is run as it is."""

    def exec_module(self, module: ModuleType) -> None:
        head = module_head(self.get_source(self.name), self.path)
        if head is None:
            super().exec_module(module)
            return
        exec(head, module.__dict__)
        manager = module.FontManager
        own = getattr(manager, "_load_default_font_index", None)
        if own is None:
            module.font_manager = manager()
            return

        def load(font_manager: object) -> None:
            load_font_index(font_manager, own, font_index_source(), font_index_file())

        manager._load_default_font_index = load
        try:
            module.font_manager = manager()
        finally:
            manager._load_default_font_index = own


def module_head(source: str, filename: str) -> CodeType | None:
    """The code of ``source`` without its last statement when that is :data:`FONT_MANAGER`
    (else None)."""
    body = ast.parse(source, filename).body
    if not body or ast.unparse(body[-1]) != FONT_MANAGER:
        return None
    return compile(ast.Module(body[:-1], type_ignores=[]), filename, "exec")


def font_index_source() -> Path:
    """The index file pygfx's font manager reads (``_load_default_font_index``)."""
    from pygfx.utils import get_resources_dir

    return Path(get_resources_dir()) / "noto_default_index.json"


def font_index_file() -> Path:
    """Where the font manager's index is kept (one file per pygfx version)."""
    import pygfx

    return cache_root() / "pygfx" / f"font-index-{pygfx.__version__}.marshal"


def font_index_key(source: bytes) -> str:
    """What the index depends on: the index file's content, pygfx and Python."""
    import pygfx

    versions = f"pygfx {pygfx.__version__} {sys.version} marshal {marshal.version}\n"
    return hashlib.sha256(versions.encode("utf-8") + source).hexdigest()


def load_font_index(
    manager: object, own: Callable[[object], None], source: Path, path: Path
) -> bool:
    """Set on ``manager`` what ``own(manager)`` (pygfx's ``_load_default_font_index``,
    reading ``source``) sets: from ``path`` when it was kept from the same source by the
    same pygfx and Python, else by ``own``, whose result is then kept there. Whether it
    came from ``path``."""
    try:
        key = font_index_key(source.read_bytes())
    except OSError:  # pygfx's own path says what is wrong
        own(manager)
        return False
    try:
        found, state = marshal.loads(path.read_bytes())  # marshal.load reads in small pieces
    except Exception:  # no file, or not one this code wrote
        found = state = None
    if found == key and isinstance(state, tuple) and len(state) == len(FONT_INDEX_STATE):
        for name, value in zip(FONT_INDEX_STATE, state, strict=True):
            setattr(manager, name, value)
        return True
    before = set(vars(manager))
    own(manager)
    if set(vars(manager)) - before != set(FONT_INDEX_STATE):
        return False  # it sets something else: not kept
    try:
        state = tuple(_shared_values(getattr(manager, name)) for name in FONT_INDEX_STATE)
        kept = marshal.dumps((key, state))
    except (AttributeError, TypeError, ValueError):  # not plain data: not kept
        return False
    _write_atomically(path, kept)
    return False


def _shared_values(mapping: dict) -> dict:
    """``mapping`` with equal values made one object (marshal writes each once)."""
    shared: dict = {}
    return {key: shared.setdefault(value, value) for key, value in mapping.items()}


GLFW_SEARCH = ("PYGLFW_LIBRARY_VARIANT", "XDG_SESSION_TYPE", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")
"""The environment variables pyGLFW's search for its library reads."""


def glfw_file() -> Path:
    """Where the library pyGLFW chose is remembered."""
    return cache_root() / "glfw" / "library.json"


@contextlib.contextmanager
def kept_glfw_library() -> Iterator[None]:
    """Within the context, an import of glfw loads the library it chose the last time, when
    its search would run on the same terms (pyGLFW's code, the variables it reads, Python's
    prefix) and that file is unchanged; else glfw searches, and the library it chose is
    remembered. A library put later in a folder pyGLFW looks in is not looked for while
    those terms stay the same. Nothing is changed where glfw is imported already, is told
    its library (``PYGLFW_LIBRARY``), or does not start processes to search (Windows, a
    frozen app)."""
    if (
        "glfw" in sys.modules
        or os.environ.get("PYGLFW_LIBRARY")
        or sys.platform == "win32"
        or getattr(sys, "frozen", False)
    ):
        yield
        return
    path, search = glfw_file(), glfw_search()
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = None
    found = isinstance(kept, dict) and search is not None and kept.get("search") == search
    library = kept.get("library") if found else None
    if not isinstance(library, str) or _file_stat(library) != kept.get("stat"):
        library = None
    if library is not None:
        os.environ["PYGLFW_LIBRARY"] = library
    try:
        yield
    finally:
        if library is not None:
            os.environ.pop("PYGLFW_LIBRARY", None)
    chosen = getattr(getattr(sys.modules.get("glfw.library"), "glfw", None), "_name", None)
    if library is None and search is not None and isinstance(chosen, str):
        remembered = {"search": search, "library": chosen, "stat": _file_stat(chosen)}
        _write_atomically(path, json.dumps(remembered).encode("utf-8"))


def glfw_search() -> dict | None:
    """What pyGLFW's search for its library depends on besides the folders it looks in (as
    JSON would give it back); None when glfw is not installed."""
    spec = importlib.util.find_spec("glfw")
    if spec is None or not spec.submodule_search_locations:
        return None
    code = str(Path(spec.submodule_search_locations[0]) / "library.py")
    return {
        "pyglfw": [code, _file_stat(code)],
        "prefix": sys.prefix,
        "variables": {name: os.environ.get(name, "") for name in GLFW_SEARCH},
    }


def _file_stat(path: str) -> list[int] | None:
    """The size and modification time of the file at ``path`` (None: not there)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]
