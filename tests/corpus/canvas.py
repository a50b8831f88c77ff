"""Canvas sizes that no GPU here can draw, or that are not sizes at all."""

from . import Case

CASES = [
    Case(
        "screenshot --size 8192x8192",
        lambda _: ["screenshot", "--size", "8192x8192", "-n", "100", "--out", "x.png"],
        "--size 8192x8192: too large for this GPU",
    ),
    Case(
        "render --size 8000x8000",
        lambda _: ["render", "--size", "8000x8000", "-n", "100", "--out", "x.mp4"],
        "--size 8000x8000: too large for this GPU",
    ),
    Case(
        "screenshot --size 0x10",
        lambda _: ["screenshot", "--size", "0x10", "--out", "x.png"],
        "width and height must be between 16 and 8192",
    ),
    Case(
        "screenshot --size 9000x9000",
        lambda _: ["screenshot", "--size", "9000x9000", "--out", "x.png"],
        "width and height must be between 16 and 8192",
    ),
    Case(
        "screenshot --size abc",
        lambda _: ["screenshot", "--size", "abc", "--out", "x.png"],
        "expected WIDTHxHEIGHT, e.g. 1280x720",
    ),
    Case(
        "screenshot --size 100x100x3",
        lambda _: ["screenshot", "--size", "100x100x3", "--out", "x.png"],
        "expected WIDTHxHEIGHT, e.g. 1280x720",
    ),
]
