"""Data files a student might hand over: too large (from their size or an image's header,
refused before a byte is decoded), special files, broken text, and degenerate data."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from . import Case


def _train(name: str) -> list[str]:
    return ["train", "--data", name, "--steps", "1", "--out", "m.safetensors"]


def _text(name: str, content: bytes | str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)
        return _train(name)

    return build


def _sparse(name: str, size: int) -> Callable[[Path], list[str]]:
    """A file of ``size`` bytes that takes no disk (nothing is written into it)."""

    def build(folder: Path) -> list[str]:
        with open(folder / name, "wb") as file:
            file.truncate(size)
        return _train(name)

    return build


def _image(name: str, size: int) -> Callable[[Path], list[str]]:
    """A one-colour (black) square image: a few KB of PNG for any number of pixels."""

    def build(folder: Path) -> list[str]:
        Image.new("1", (size, size)).save(folder / name)
        return _train(name)

    return build


def _fifo(folder: Path) -> list[str]:
    os.mkfifo(folder / "fifo.csv")
    return ["screenshot", "--data", "fifo.csv", "--out", "s.png"]


def _device(folder: Path) -> list[str]:
    (folder / "zero.csv").symlink_to(os.devnull if os.name != "posix" else "/dev/zero")
    return _train("zero.csv")


def _folder(folder: Path) -> list[str]:
    (folder / "points.csv").mkdir()
    return _train("points.csv")


def _truncated_png(folder: Path) -> list[str]:
    Image.new("L", (64, 64)).save(folder / "whole.png")
    (folder / "cut.png").write_bytes((folder / "whole.png").read_bytes()[:60])
    return _train("cut.png")


GARBAGE = bytes((i * 167 + 89) % 256 for i in range(4096))
"""Binary noise (not UTF-8), the same every run."""

CASES = [
    Case(
        "train --data 12000x12000.png",
        _image("big.png", 12000),
        "12000 x 12000 = 144,000,000 pixels; expected at most 25,000,000",
    ),
    Case(
        "train --data 9000x9000.png",
        _image("mid.png", 9000),
        "9000 x 9000 = 81,000,000 pixels; expected at most 25,000,000",
    ),
    Case("train --data 2 GiB .csv", _sparse("big.csv", 2 << 30), "file is 2 GiB; expected at most"),
    Case(
        "train --data 3 GiB .json", _sparse("big.json", 3 << 30), "file is 3 GiB; expected at most"
    ),
    Case("train --data 100 MiB .png", _sparse("big.png", 100 << 20), "file is 100 MiB"),
    Case("screenshot --data fifo.csv", _fifo, "fifo.csv: is a FIFO (named pipe)"),
    Case("train --data /dev/zero as .csv", _device, "zero.csv: is a character device"),
    Case("train --data a folder named .csv", _folder, "points.csv: is a directory"),
    Case("train --data empty.csv", _text("empty.csv", ""), "file is empty"),
    Case("train --data garbage.csv", _text("garbage.csv", GARBAGE), "is not valid UTF-8"),
    Case(
        "train --data latin-1.csv",
        _text("latin.csv", b"x,y\n1,2\n3,\xe9\n"),
        "byte 10 is not valid UTF-8",
    ),
    Case(
        "train --data nan.csv",
        _text("nan.csv", "x,y\n1,2\nnan,2\n"),
        "line 3, column 1: got 'nan'; expected a finite number",
    ),
    Case(
        "train --data label 1e30",
        _text("label.csv", "0,0,0\n1,1,1e30\n"),
        "label '1e30' is not a non-negative integer",
    ),
    Case(
        "train --data labels.json label 1e30",
        _text("labels.json", '{"points": [[0, 0], [1, 1]], "labels": [0, 1e30]}'),
        "field 'labels[1]' is 1e+30; expected a non-negative integer",
    ),
    Case("train --data one.csv", _text("one.csv", "x,y\n1,2\n"), "found 1 point(s)"),
    Case("train --data cut.png", _truncated_png, "cut.png: could not read image"),
    Case(
        "train --data 100 identical points",
        _text("same.csv", "x,y\n" + "1,1\n" * 100),
        "no quality number: the data is one point repeated, no spread to compare with",
        code=0,
    ),
]
