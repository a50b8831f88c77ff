"""Bad session files (``--session``): each is refused, with the file and the key named,
before any data, model or setting is applied and before anything is rendered. (A bad
drawing autosave does not stop the app: tests/test_drawing.py shows it set aside.)"""

import os
from collections.abc import Callable
from pathlib import Path

from . import Case

HEAD = 'format = "dexplorer-session"\nversion = 1\n'
GOOD_DATA = (
    '[settings]\ndataset = "custom"\nmodel = "exact"\nsteps = 20\n[files]\ndata = "bad.data.json"\n'
)


def session(text: str, head: str = HEAD) -> Callable[[Path], list[str]]:
    """A command that writes ``bad.toml`` (and a small data file beside it) and takes a
    screenshot with it."""

    def command(folder: Path) -> list[str]:
        (folder / "bad.data.json").write_text('{"points": [[0, 1], [1, 0], [-1, 0]]}')
        (folder / "bad.toml").write_text(head + text + "\n")
        return ["screenshot", "--session", "bad.toml", "--size", "64x64", "--out", "x.png"]

    return command


def _fifo(folder: Path) -> list[str]:
    os.mkfifo(folder / "bad.toml")
    return ["screenshot", "--session", "bad.toml", "--size", "64x64", "--out", "x.png"]


def _huge(folder: Path) -> list[str]:
    with open(folder / "bad.toml", "wb") as file:
        file.truncate(2 << 20)
    return ["screenshot", "--session", "bad.toml", "--size", "64x64", "--out", "x.png"]


CASES = [
    Case("session: unknown top-level key", session("colour = 1"), "unknown key colour"),
    Case("session: unknown look key", session("[look]\nfoo = 1"), "unknown key look.foo"),
    Case(
        "session: unknown layer",
        session("[look.visible]\nstars = true"),
        "session bad.toml: unknown key look.visible.stars",
    ),
    Case(
        "session: version 99",
        session("version = 99", head='format = "dexplorer-session"\n'),
        "session bad.toml: version 99 is newer than this dexplorer reads (1)",
    ),
    Case(
        "session: version true",
        session("version = true", head='format = "dexplorer-session"\n'),
        "version = true: expected an integer",
    ),
    Case("session: t = 5", session("t = 5"), "t = 5: expected 0 to 1"),
    Case("session: t = nan", session("t = nan"), "t = nan: expected a finite number"),
    Case(
        "session: t = late after good data",
        session(f't = "late"\n{GOOD_DATA}'),
        't = "late": expected a number',
    ),
    Case("session: files = 3", session("files = 3"), "files = 3: expected a table"),
    Case("session: settings = 3", session("settings = 3"), "settings = 3: expected a table"),
    Case("session: look = x", session('look = "x"'), 'look = "x": expected a table'),
    Case(
        "session: look.visible = 5",
        session("[look]\nvisible = 5"),
        "look.visible = 5: expected a table",
    ),
    Case(
        "session: a layer shown = 1",
        session("[look.visible]\nmesh = 1"),
        "look.visible.mesh = 1: expected true or false",
    ),
    Case(
        "session: theme neon",
        session('[look]\ntheme = "neon"'),
        'look.theme = "neon": expected one of light, dark',
    ),
    Case(
        "session: point size huge",
        session('[look]\npoint_size = "huge"'),
        'look.point_size = "huge": expected a number',
    ),
    Case(
        "session: point size 1e9",
        session("[look]\npoint_size = 1e9"),
        "look.point_size = 1000000000.0: expected 1 to 12",
    ),
    Case(
        "session: opacity -4",
        session("[look]\nopacity = -4.0"),
        "look.opacity = -4.0: expected 0.001 to 1",
    ),
    Case(
        "session: steps true",
        session("[settings]\nsteps = true"),
        "settings.steps = true: expected an integer",
    ),
    Case(
        "session: seed -1",
        session("[settings]\nseed = -1"),
        "settings.seed = -1: seed: expected an integer from 0 to 4,294,967,295, got -1",
    ),
    Case(
        "session: class on an unconditional model",
        session("[settings]\nlabel = 0"),
        "settings.label = 0: the flow model of smiley has no classes",
    ),
    Case(
        "session: class that does not exist",
        session('[settings]\ndataset = "moons"\nlabel = 5'),
        "settings.label = 5: class 5 does not exist: choose 0 to 1",
    ),
    Case(
        "session: compare not a list",
        session('compare = "flow"'),
        'compare = "flow": expected a list of panel specs',
    ),
    Case(
        "session: normalisation without data",
        session("[files]\ndata_scale = [2.0, 2.0]"),
        "files.data_centre and files.data_scale are given without files.data",
    ),
    Case(
        "session: an integer of 5000 digits",
        session("[settings]\nseed = 1" + "0" * 5000),
        "session bad.toml: an integer has more than 4300 digits",
    ),
    Case(
        "session: nested too deep",
        session("t = " + "[" * 5000 + "]" * 5000),
        "session bad.toml: lists or tables nested too deep",
    ),
    Case("session: not TOML", session("t = [", head=""), "session bad.toml is not valid TOML"),
    Case(
        "session: not a session",
        session('format = "other"', head=""),
        "not a dexplorer session",
    ),
    Case(
        "session: a FIFO",
        lambda folder: _fifo(folder),
        "cannot read session bad.toml: is a FIFO (named pipe)",
    ),
    Case(
        "session: 2 MiB",
        lambda folder: _huge(folder),
        "session bad.toml: file is 2 MiB; expected at most 1 MiB",
    ),
]
