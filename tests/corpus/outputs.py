"""Output paths that cannot be written, refused before any work: a wrong suffix, a folder
or a special file in the way, a folder that does not exist or where nothing can be created."""

import os
from pathlib import Path

from . import Case

DATA = ["data", "--dataset", "moons", "-n", "10"]


def fifo(folder: Path) -> list[str]:
    os.mkfifo(folder / "pipe.csv")
    return [*DATA, "--out", "pipe.csv"]


def link_to_null(folder: Path) -> list[str]:
    (folder / "null.npy").symlink_to(os.devnull)
    return ["sample", "--exact", "moons", "-n", "10", "--out", "null.npy"]


def folder_in_the_way(folder: Path) -> list[str]:
    (folder / "v.mp4").mkdir()
    return ["render", "--out", "v.mp4"]


CASES = [
    Case(
        "data --out /proc/x.npy",
        lambda _: [*DATA, "--out", "/proc/x.npy"],
        "--out /proc/x.npy: cannot create a file in /proc",
    ),
    Case(
        "sample --out /proc/self/x.csv",
        lambda _: ["sample", "--exact", "moons", "--out", "/proc/self/x.csv"],
        "--out /proc/self/x.csv: cannot create a file in /proc/self",
    ),
    Case(
        "data --out x.txt",
        lambda _: [*DATA, "--out", "x.txt"],
        "--out x.txt: expected a file ending in .npy or .csv",
    ),
    Case(
        "data --out missing/x.npy",
        lambda _: [*DATA, "--out", "missing/x.npy"],
        "the folder missing does not exist",
    ),
    Case("data --out a FIFO", fifo, "--out pipe.csv: is not a regular file"),
    Case("sample --out a link to /dev/null", link_to_null, "null.npy: is not a regular file"),
    Case("render --out a folder", folder_in_the_way, "--out v.mp4: is a folder"),
    Case(
        "render --out v.txt",
        lambda _: ["render", "--out", "v.txt"],
        "--out v.txt: expected a file ending in .mp4 or .gif",
    ),
    Case(
        "screenshot --out x.jpg",
        lambda _: ["screenshot", "--out", "x.jpg"],
        "--out x.jpg: expected a file ending in .png",
    ),
    Case(
        "train --out m.pt",
        lambda _: ["train", "--dataset", "moons", "--out", "m.pt"],
        "--out m.pt: expected a file ending in .safetensors",
    ),
    Case(
        "--demo-out x.txt",
        lambda _: ["--demo-out", "x.txt"],
        "--demo-out x.txt: expected a file ending in .mp4 or .gif",
    ),
]
