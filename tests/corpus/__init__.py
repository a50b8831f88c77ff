"""The hostile input corpus: bad inputs a class of students might hand dexplorer, each built
as a fixture in a fresh folder, with the one-line message it must answer with. Every module
here holds a list ``CASES``; ``test_corpus.py`` runs them all, and ``python -m corpus`` (with
``tests`` on the path) prints the table of case, exit code and message."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import pkgutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dexplorer.cli import main

LIMIT_SECONDS = 60


@dataclass(frozen=True)
class Case:
    """One bad input: how to build it and what dexplorer must say about it.

    ``command`` writes the fixture files into the folder it is given (the working directory
    when the case runs) and returns the command line. ``message`` is a fragment of the last
    line on stderr (which reads ``dexplorer: error: ...`` when ``code`` is 2)."""

    name: str
    command: Callable[[Path], list[str]]
    message: str
    code: int = 2


@dataclass(frozen=True)
class Result:
    """What a case did: its exit code and everything it printed."""

    code: int
    out: str
    err: str

    @property
    def line(self) -> str:
        """The last line on stderr (the error), or on stdout for a success."""
        lines = (self.err if self.code else self.out).strip().splitlines()
        return lines[-1] if lines else ""


class Hang(Exception):
    """A case ran past :data:`LIMIT_SECONDS`."""


def cases() -> list[Case]:
    """Every case of every module in this package."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            found += importlib.import_module(f"{__name__}.{module.name}").CASES
    return found


def run(case: Case, folder: Path) -> Result:
    """Build ``case`` in ``folder`` and run its command line in-process, from that folder."""
    out, err = io.StringIO(), io.StringIO()

    def hang(*_: object) -> None:
        raise Hang(f"{case.name}: still running after {LIMIT_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, hang)
    here = Path.cwd()
    os.chdir(folder)
    try:
        argv = case.command(folder)
        signal.alarm(LIMIT_SECONDS)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(here)
    return Result(code, out.getvalue(), err.getvalue())
