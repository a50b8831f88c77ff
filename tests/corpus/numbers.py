"""Numbers on the command line out of their range: each option of each command, with the
same rule wherever an option is taken (dexplorer.core.limits)."""

from . import Case

INTEGER = "expected an integer from"
POSITIVE = "expected a number above 0"


def number_case(command: list[str], option: str, value: str, message: str) -> Case:
    """``command`` with ``option value`` (refused by its range before anything runs)."""
    return Case(
        f"{command[0] if command else 'dexplorer'} {option} {value}",
        lambda _: [*command, option, value],
        f"argument {option}: {message}, got {value}",
    )


DATA = ["data", "--dataset", "moons", "--out", "x.npy"]
TRAIN = ["train", "--dataset", "moons", "--out", "m.safetensors"]
SAMPLE = ["sample", "--exact", "moons", "--out", "x.npy"]
SHOT = ["screenshot", "--out", "x.png"]
RENDER = ["render", "--out", "v.mp4"]
PARTICLES = f"{INTEGER} 1 to 10,000,000"
SEED = f"{INTEGER} 0 to 4,294,967,295"
STEPS = f"{INTEGER} 1 to 1,000"

CASES = [
    number_case(SAMPLE, "--steps", "0", STEPS),
    number_case(SAMPLE, "--steps", "1001", STEPS),
    number_case(SHOT, "--steps", "2.5", STEPS),
    number_case(RENDER, "--steps", "-3", STEPS),
    number_case(DATA, "-n", "-5", PARTICLES),
    number_case(DATA, "-n", "1000000000000", PARTICLES),
    number_case(TRAIN, "-n", "1000000000000", PARTICLES),
    number_case(SAMPLE, "-n", "1000000000000", PARTICLES),
    number_case(SHOT, "-n", "0", PARTICLES),
    number_case(RENDER, "-n", "1e9", PARTICLES),
    number_case(DATA, "--seed", "-1", SEED),
    number_case(TRAIN, "--seed", "-1", SEED),
    number_case(SAMPLE, "--seed", "-1", SEED),
    number_case(SAMPLE, "--seed", str(10**30), SEED),
    number_case(SHOT, "--seed", "4294967296", SEED),
    number_case(RENDER, "--seed", "nan", SEED),
    number_case(TRAIN, "--seconds", "0", f"{POSITIVE} and at most 86,400"),
    number_case(TRAIN, "--seconds", "-1", f"{POSITIVE} and at most 86,400"),
    number_case(TRAIN, "--seconds", "1e308", f"{POSITIVE} and at most 86,400"),
    number_case(TRAIN, "--seconds", "nan", f"{POSITIVE} and at most 86,400"),
    number_case(TRAIN, "--steps", "0", f"{INTEGER} 1 to 1,000,000"),
    number_case(TRAIN, "--steps", "10000000", f"{INTEGER} 1 to 1,000,000"),
    number_case(TRAIN, "--lr", "nan", f"{POSITIVE} and at most 1"),
    number_case(TRAIN, "--lr", "0", f"{POSITIVE} and at most 1"),
    number_case(TRAIN, "--lr", "inf", f"{POSITIVE} and at most 1"),
    number_case(TRAIN, "--batch-size", "1", f"{INTEGER} 2 to 65,536"),
    number_case(TRAIN, "--batch-size", "1000000000", f"{INTEGER} 2 to 65,536"),
    number_case(SAMPLE, "--guidance", "inf", "expected a number from 0 to 10"),
    number_case(SAMPLE, "--guidance", "-1", "expected a number from 0 to 10"),
    number_case(SAMPLE, "--class", "-1", f"{INTEGER} 0 to 255"),
    number_case(SAMPLE, "--class", str(10**30), f"{INTEGER} 0 to 255"),
    number_case(SAMPLE, "--eta", "2", "expected a number from 0 to 1"),
    number_case(SAMPLE, "--eta", "nan", "expected a number from 0 to 1"),
    number_case(SAMPLE, "--noise-scale", "-1", "expected a number from 0 to 10"),
    number_case(SAMPLE, "--noise-scale", "1e6", "expected a number from 0 to 10"),
    number_case(SHOT, "--t", "5", "expected a number from 0 to 1"),
    number_case(SHOT, "--t", "nan", "expected a number from 0 to 1"),
    number_case(RENDER, "--t", "-0.1", "expected a number from 0 to 1"),
    number_case(RENDER, "--seconds", "0", f"{POSITIVE} and at most 600"),
    number_case(RENDER, "--seconds", "1e308", f"{POSITIVE} and at most 600"),
    number_case(RENDER, "--fps", "1000000", f"{INTEGER} 1 to 60"),
    number_case(RENDER, "--fps", "0", f"{INTEGER} 1 to 60"),
    number_case([], "--t", "inf", "expected a number from 0 to 1"),
    Case(
        "render --seconds 600 --fps 60",
        lambda _: [*RENDER, "--seconds", "600", "--fps", "60"],
        "--seconds 600 at --fps 60 is 36,000 frames; a video has at most 18,000",
    ),
]
