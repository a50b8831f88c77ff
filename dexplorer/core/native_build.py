"""Builds and loads the C kernels shipped in the package (``<name>.c``, see ``KERNELS``).

A kernel is compiled for the CPU it runs on (``-O3 -march=native``) by the C compiler that
``$DEXPLORER_CC``, ``$CC`` or the PATH (``cc``, ``gcc``, ``clang``) names, and kept in the
user cache folder (a temporary folder where that cannot be written) under a name that hashes
the source, the compiler, the flags and the CPU, so a changed kernel or another machine gets
a build of its own. A kernel may include the headers (``.h``) of its package, which are
hashed with it. The kernels use no C library (``-nostdlib``): a compiler alone is enough.

Without a compiler, or when a build fails, :func:`load` says why, and the callers use torch.
``python -m dexplorer.core.native_build`` builds every kernel ahead of time (the set-up does);
otherwise the app builds one in the background the first time it could use it.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path

FLAGS = ("-O3", "-march=native", "-std=gnu11", "-shared", "-fPIC", "-nostdlib")
KERNELS = {
    "mlp_sampler": ("dexplorer.core", "torch will be used instead"),
    "splat": ("dexplorer.scene", "the device's passes will draw the particles and the density"),
    "density": ("dexplorer.engine", "torch will compute the particles' density"),
    "coupling_field": ("dexplorer.core", "torch will compute the exact field of a point source"),
}
"""Each kernel's package (where its source is) and what is used without it."""
COMPILE_SECONDS = 300


@dataclass(frozen=True)
class Build:
    """A kernel's shared library once loaded, or why there is none (``reason``)."""

    library: ctypes.CDLL | None
    reason: str | None = None
    path: Path | None = None


BUILDING = Build(None, "it is being built")
"""What :func:`load` answers without waiting while a build runs in the background."""

_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="dexplorer-cpu")
_builds: dict[str, Build] = {}
_workers: dict[str, threading.Thread] = {}
_loaders: dict[str, threading.Thread] = {}
_lock = threading.Lock()


def compiler() -> list[str] | None:
    """The command that runs the C compiler: ``$DEXPLORER_CC``, ``$CC`` (either may carry
    arguments, e.g. ``ccache gcc``), or the first of cc, gcc and clang on the PATH; ``None``
    when there is none."""
    wanted = os.environ.get("DEXPLORER_CC")
    for command in [wanted] if wanted else [os.environ.get("CC"), "cc", "gcc", "clang"]:
        try:
            words = shlex.split(command or "")
        except ValueError:  # unbalanced quotes: not a command
            continue
        found = words and shutil.which(words[0])
        if found:
            return [found, *words[1:]]
    return None


def cache_root() -> Path:
    """The app's cache folder: ``$DEXPLORER_CACHE``, else the user cache folder."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("DEXPLORER_CACHE") or user_cache_dir("dexplorer"))


def cache_dir() -> Path:
    """Where built kernels are kept: ``native`` in :func:`cache_root`."""
    return cache_root() / "native"


def _writable_dir() -> Path:
    """The cache folder, or a temporary one when the cache folder cannot be written."""
    for folder in (cache_dir(), Path(tempfile.gettempdir()) / f"dexplorer-{os.getuid()}"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    raise OSError(f"neither {cache_dir()} nor a temporary folder can be written")


def _cpu_signature() -> str:
    """What ``-march=native`` depends on: the CPU's model and feature flags where Linux
    lists them, else the platform's description."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    wanted = ("model name", "flags", "Features", "CPU part")
    described = sorted({line for line in lines if line.split(":")[0].strip() in wanted})
    return "\n".join(described) or platform.platform() + platform.processor()


def _run(command: list[str], seconds: float) -> subprocess.CompletedProcess:
    """Run ``command`` in a session of its own, so that a timeout ends the compiler's
    children (cc1, as) too."""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as process:
        try:
            out, err = process.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def build(name: str, flags: tuple[str, ...] = FLAGS, compile_missing: bool = True) -> Build:
    """Compile the kernel ``name`` with ``flags`` (unless a build of the same source,
    compiler, flags and CPU is cached) and load it; with ``compile_missing=False`` a
    kernel that is not cached is :data:`BUILDING`. Never raises: a failure is the returned
    build's ``reason``."""
    cc = compiler()
    if cc is None:
        wanted = os.environ.get("DEXPLORER_CC")
        missing = f"the C compiler {wanted!r} was not found" if wanted else "no C compiler found"
        return Build(None, f"{missing} (install gcc, or set CC)")
    try:
        folder = resources.files(KERNELS[name][0])
        source = folder.joinpath(f"{name}.c").read_bytes()
        headers = {f.name: f.read_bytes() for f in folder.iterdir() if f.name.endswith(".h")}
        version = _run([*cc, "--version"], 30).stdout
        key = hashlib.sha256()
        parts = (source, *headers.values(), " ".join(cc), version, " ".join(flags))
        for part in (*parts, _cpu_signature()):
            key.update(part if isinstance(part, bytes) else part.encode())
        target = _writable_dir() / f"{name}-{key.hexdigest()[:16]}.so"
        if not target.exists():
            if not compile_missing:
                return BUILDING
            with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
                for header, text in headers.items():
                    (Path(scratch) / header).write_bytes(text)
                c_file = Path(scratch) / f"{name}.c"
                c_file.write_bytes(source)
                built = Path(scratch) / target.name
                done = _run([*cc, *flags, "-o", str(built), str(c_file)], COMPILE_SECONDS)
                if done.returncode != 0:
                    errors = [line for line in done.stderr.splitlines() if line.strip()]
                    detail = errors[-1] if errors else f"exit status {done.returncode}"
                    return Build(None, f"{Path(cc[0]).name} could not build {name}.c: {detail}")
                os.replace(built, target)  # atomic: another process may build it too
        return Build(ctypes.CDLL(str(target)), None, target)
    except subprocess.TimeoutExpired:
        return Build(None, f"building {name}.c took longer than {COMPILE_SECONDS} s")
    except (OSError, subprocess.SubprocessError) as error:
        return Build(None, f"building {name}.c failed: {error}")


def load(name: str, wait: bool = True) -> Build:
    """The kernel ``name`` (one of ``KERNELS``), loaded from the cache or, the first time,
    compiled in a background thread; remembered for the process, a failure included. With
    ``wait=False`` a kernel still being compiled is :data:`BUILDING` (the caller goes on
    without it). Thread-safe."""
    with _lock:
        if name not in _builds:
            _builds[name] = build(name, compile_missing=False)
            if _builds[name] is BUILDING:
                worker = threading.Thread(target=_build_in_background, args=(name,), daemon=True)
                _workers[name] = worker
                worker.start()
        worker = _workers.get(name)
    if wait and worker is not None:
        worker.join()
    with _lock:
        return _builds[name]


def ready(name: str) -> Build | None:
    """The kernel ``name`` if it is loaded (or known not to be had), else ``None`` after
    starting to load it in a background thread: finding the build runs the compiler, which
    a frame should not wait for."""
    with _lock:
        built = _builds.get(name)
        if built is not None and built is not BUILDING:
            return built
        if name not in _loaders:
            _loaders[name] = threading.Thread(target=load, args=(name,), daemon=True)
            _loaders[name].start()
    return None


def _build_in_background(name: str) -> None:
    built = build(name)
    with _lock:
        if _workers.get(name) is threading.current_thread():  # not forgotten meanwhile
            _builds[name] = built


def in_pieces(count: int, pieces: int, threads: int, work: Callable[[int, int, int], None]) -> None:
    """``work(begin, end, worker)`` for ``pieces`` consecutive pieces of ``range(count)``,
    taken in turn by ``threads`` workers at once (numbered from 0; ctypes lets go of the
    interpreter during a kernel's call), so that a core slowed by other work takes fewer.
    Returns once every worker is done (none may write afterwards), raising the first error."""
    if count <= 0:
        return
    pieces = max(1, min(pieces, count))
    bounds = [count * i // pieces for i in range(pieces + 1)]
    queue = iter(pairwise(bounds))
    lock = threading.Lock()

    def worker(index: int) -> None:
        while True:
            with lock:
                piece = next(queue, None)
            if piece is None:
                return
            work(*piece, index)

    workers = [_pool.submit(worker, index) for index in range(threads)]
    wait(workers)
    for done in workers:
        done.result()


def forget() -> None:
    """Drop what :func:`load` remembers, so the next call looks again (for tests)."""
    with _lock:
        _builds.clear()
        _workers.clear()
        _loaders.clear()


def main() -> int:
    """Build every kernel now and say how it went (the set-up runs this)."""
    for name, (_, instead) in KERNELS.items():
        start = time.perf_counter()
        built = load(name)
        if built.library is None:
            print(f"native {name}: not built, {instead}: {built.reason}")
        else:
            print(f"native {name}: ready ({time.perf_counter() - start:.1f} s, {built.path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
