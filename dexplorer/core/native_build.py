"""Builds and loads the C kernels shipped beside this module (``<name>.c``).

A kernel is compiled on first use for the CPU it runs on (``-O3 -march=native``) by the C
compiler that ``$DEXPLORER_CC``, ``$CC`` or the PATH (``cc``, ``gcc``, ``clang``) names, and
kept in the user cache folder under a name that hashes the source, the compiler, the flags
and the CPU, so a changed kernel or a different machine gets a fresh build. The kernels use
no C library (``-nostdlib``): a compiler alone is enough.

Without a compiler, or when a build fails, :func:`load` says why, and the callers fall back
to torch. ``python -m dexplorer.core.native_build`` builds every kernel ahead of time (the
set-up does).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

FLAGS = ("-O3", "-march=native", "-std=gnu11", "-shared", "-fPIC", "-nostdlib")
KERNELS = ("mlp_sampler",)
COMPILE_SECONDS = 300


@dataclass(frozen=True)
class Build:
    """A kernel's shared library once loaded, or why there is none (``reason``)."""

    library: ctypes.CDLL | None
    reason: str | None = None
    path: Path | None = None


_builds: dict[str, Build] = {}
_lock = threading.Lock()


def compiler() -> str | None:
    """The C compiler to use: ``$DEXPLORER_CC``, ``$CC``, or the first of cc, gcc and clang
    on the PATH; ``None`` when there is none."""
    wanted = os.environ.get("DEXPLORER_CC")
    if wanted:
        return shutil.which(wanted)
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        found = name and shutil.which(name)
        if found:
            return found
    return None


def cache_dir() -> Path:
    """Where built kernels are kept: ``$DEXPLORER_CACHE``, else the user cache folder."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("DEXPLORER_CACHE") or user_cache_dir("dexplorer")) / "native"


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


def _compiler_version(cc: str) -> str:
    try:
        done = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown ({error})"
    return done.stdout


def _build(name: str) -> Build:
    source = resources.files("dexplorer.core").joinpath(f"{name}.c").read_bytes()
    cc = compiler()
    if cc is None:
        wanted = os.environ.get("DEXPLORER_CC")
        missing = f"the C compiler {wanted!r} was not found" if wanted else "no C compiler found"
        return Build(None, f"{missing} (install gcc, or set CC)")
    key = hashlib.sha256()
    for part in (source, cc.encode(), _compiler_version(cc).encode(), " ".join(FLAGS).encode()):
        key.update(part)
    key.update(_cpu_signature().encode())
    target = cache_dir() / f"{name}-{key.hexdigest()[:16]}.so"
    if not target.exists():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
                c_file = Path(scratch) / f"{name}.c"
                c_file.write_bytes(source)
                built = Path(scratch) / target.name
                done = subprocess.run(
                    [cc, *FLAGS, "-o", str(built), str(c_file)],
                    capture_output=True,
                    text=True,
                    timeout=COMPILE_SECONDS,
                )
                if done.returncode != 0:
                    errors = [line for line in done.stderr.splitlines() if line.strip()]
                    detail = errors[-1] if errors else f"exit status {done.returncode}"
                    return Build(None, f"{Path(cc).name} could not build {name}.c: {detail}")
                os.replace(built, target)  # atomic: another process may build it too
        except (OSError, subprocess.SubprocessError) as error:
            return Build(None, f"building {name}.c failed: {error}")
    try:
        return Build(ctypes.CDLL(str(target)), None, target)
    except OSError as error:
        return Build(None, f"could not load {target}: {error}")


def load(name: str) -> Build:
    """The kernel ``name`` (``mlp_sampler``), built on first use; a failed build is not
    tried again in this process. Thread-safe."""
    with _lock:
        if name not in _builds:
            _builds[name] = _build(name)
        return _builds[name]


def forget() -> None:
    """Drop what :func:`load` remembers, so the next call looks again (for tests)."""
    with _lock:
        _builds.clear()


def main() -> int:
    """Build every kernel now and say how it went (the set-up runs this)."""
    for name in KERNELS:
        start = time.perf_counter()
        build = load(name)
        if build.library is None:
            print(f"native {name}: not built, torch will be used instead: {build.reason}")
        else:
            print(f"native {name}: ready ({time.perf_counter() - start:.1f} s, {build.path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
