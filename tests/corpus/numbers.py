"""Numbers on the command line out of their range."""

from . import Case

CASES = [
    Case(
        "sample --steps 0",
        lambda _: ["sample", "--exact", "moons", "--steps", "0", "--out", "x.npy"],
        "expected a positive integer, got 0",
    ),
    Case(
        "data -n -5",
        lambda _: ["data", "--dataset", "moons", "-n", "-5", "--out", "x.npy"],
        "expected a positive integer, got -5",
    ),
]
