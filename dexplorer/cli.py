"""The ``dexplorer`` command line: list, data, train and sample."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from . import __version__
from .core import limits
from .core.choices import (
    OBJECTIVE_NOTES,
    PRECISIONS,
    REFLOW_PAIRS,
    REFLOW_STEPS,
    SAMPLER_NOTES,
    SCHEDULES,
    ReflowSettings,
    TrainingError,
)
from .core.datasets import DATASETS
from .core.runs import SPEC_SYNTAX
from .user_files import UserError

DATASET_CHOICES = (*DATASETS, "custom")
OBJECTIVE_CHOICES = tuple(OBJECTIVE_NOTES)
SAMPLER_HELP = f"one of {', '.join(SAMPLER_NOTES)}"
SCHEDULE_CHOICES = SCHEDULES


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see {self.prog} --help)")


@dataclass(frozen=True)
class Number:
    """An argparse type for the numbers of one :class:`~dexplorer.core.limits.Range` (one
    rule per kind of number, whichever command takes it)."""

    limit: limits.Range

    def __call__(self, text: str) -> int | float:
        try:
            return self.limit.parse(text)
        except limits.LimitError as error:
            raise argparse.ArgumentTypeError(str(error)) from None


def add_y_down(parser: argparse.ArgumentParser) -> None:
    """The orientation of a --data file."""
    parser.add_argument(
        "--y-down",
        action="store_true",
        help="the --data file's y axis points down (screen orientation, e.g. a JSON dataset "
        "of the original Diffusion Explorer): turn it the right way up",
    )


def add_scene_options(parser: argparse.ArgumentParser, size: str = "1280x720") -> None:
    """What the window, screenshots and videos show."""
    parser.add_argument("--dataset", choices=DATASET_CHOICES[:-1], default="smiley")
    parser.add_argument("--data", metavar="FILE", help="show points from a .csv, .json or image")
    add_y_down(parser)
    parser.add_argument("--session", metavar="FILE", help="open a saved session (.toml)")
    parser.add_argument(
        "--model",
        "--objective",
        dest="model",
        default="flow",
        choices=("flow", "diffusion", "exact"),
        help="a shipped model of the dataset, or its exact field",
    )
    parser.add_argument("--sampler", default="heun", help=SAMPLER_HELP)
    parser.add_argument("--steps", type=Number(limits.STEPS), default=100)
    parser.add_argument(
        "-n", type=Number(limits.PARTICLES), default=20000, help="number of particles"
    )
    parser.add_argument("--seed", type=Number(limits.SEED), default=0)
    parser.add_argument(
        "--t", type=Number(limits.TIME), default=None, help="time in [0, 1] to show"
    )
    parser.add_argument(
        "--compare",
        action="append",
        metavar="SPEC",
        help=f"a comparison panel, {SPEC_SYNTAX}; give it 2 or 4 times. MODEL is flow, "
        "diffusion or exact; eta is for ddim, noise for euler_maruyama, class and guidance "
        "for conditional models. The panels share the dataset, seed and starting particles "
        "(at most 10,000 per panel, 5,000 with 4 panels), "
        "e.g. --compare flow:heun:50 --compare diffusion:ddim:50:eta=0",
    )
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--size", default=size, help="WIDTHxHEIGHT in pixels")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def build_parser() -> Parser:
    parser = Parser(
        prog="dexplorer",
        description="Diffusion Explorer: watch 2D samples flow from noise (t=0) to data (t=1). "
        "Without a command it opens the window (or, with no display, renders the demo video).",
    )
    parser.add_argument("--version", action="version", version=f"dexplorer {__version__}")
    add_scene_options(parser)
    parser.add_argument("--paused", action="store_true", help="open the window paused")
    parser.add_argument(
        "--demo-out",
        default="dexplorer-demo.mp4",
        help="where the demo video goes when there is no display",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    commands.add_parser("list", help="datasets, objectives, samplers, presets, shipped models")

    data = commands.add_parser("data", help="export a dataset's points (.npy or .csv)")
    data.add_argument("--dataset", required=True, choices=DATASET_CHOICES[:-1])
    data.add_argument("-n", type=Number(limits.PARTICLES), default=5000, help="number of points")
    data.add_argument("--seed", type=Number(limits.SEED), default=0)
    data.add_argument("--out", required=True, help="output file, .npy or .csv")

    train = commands.add_parser("train", help="train a model and save it (.safetensors)")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=DATASET_CHOICES[:-1], help="a bundled dataset")
    source.add_argument("--data", metavar="FILE", help="points from a .csv, .json, .png or .jpg")
    source.add_argument(
        "--all", action="store_true", help="every bundled dataset x {flow, diffusion}"
    )
    add_y_down(train)
    train.add_argument("--objective", choices=OBJECTIVE_CHOICES, default="flow")
    train.add_argument(
        "--source",
        metavar="DATASET|FILE",
        default="gaussian",
        help="what the flow starts from at t = 0: gaussian (the default), a bundled dataset "
        "or a points file (flow matching only)",
    )
    train.add_argument("--schedule", choices=SCHEDULE_CHOICES, help="noise schedule (path)")
    train.add_argument("--ot", action="store_true", help="minibatch OT coupling (flow only)")
    train.add_argument("--preset", choices=("default", "original"), default="default")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument(
        "--seconds", type=Number(limits.TRAIN_SECONDS), help="time budget (default 10 s)"
    )
    budget.add_argument("--steps", type=Number(limits.TRAIN_STEPS), help="optimiser step budget")
    train.add_argument("--lr", type=Number(limits.LEARNING_RATE), help="learning rate")
    train.add_argument("--batch-size", type=Number(limits.BATCH_SIZE))
    train.add_argument(
        "-n", type=Number(limits.PARTICLES), default=20000, help="points drawn from --dataset"
    )
    train.add_argument("--seed", type=Number(limits.SEED), default=0)
    train.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    train.add_argument("--out", required=True, help="model file (.safetensors); folder for --all")

    smp = commands.add_parser("sample", help="sample particles from a model (.npy or .csv)")
    add_model_choice(smp)
    smp.add_argument("--data", metavar="FILE", help="points (.csv, .json or image) for --exact")
    smp.add_argument(
        "--source",
        metavar="DATASET|FILE",
        default="gaussian",
        help="what the particles start from at t = 0: gaussian (N(0, I), the default), a "
        "bundled dataset or a points file (flow matching between two shapes: --exact or a "
        "flow model trained from that source; diffusion keeps the Gaussian)",
    )
    smp.add_argument(
        "--objective", choices=("flow", "diffusion"), default="flow", help="the path of --exact"
    )
    smp.add_argument("--sampler", default="heun", help=SAMPLER_HELP)
    smp.add_argument("--steps", type=Number(limits.STEPS), default=50)
    smp.add_argument("-n", type=Number(limits.PARTICLES), default=10000, help="number of particles")
    smp.add_argument("--seed", type=Number(limits.SEED), default=0)
    smp.add_argument(
        "--guidance",
        type=Number(limits.GUIDANCE),
        default=1.0,
        help="guidance scale w (with --class)",
    )
    smp.add_argument(
        "--class", dest="label", type=Number(limits.CLASS), help="class of a conditional model"
    )
    smp.add_argument(
        "--eta", type=Number(limits.ETA), default=0.0, help="DDIM stochasticity in [0, 1]"
    )
    smp.add_argument(
        "--noise-scale",
        type=Number(limits.NOISE_SCALE),
        default=1.0,
        help="Euler-Maruyama noise in [0, 10]",
    )
    smp.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="the Triton kernel's hidden layers (CUDA only): tf32 (the default), bf16 or ieee",
    )
    smp.add_argument(
        "--trajectory",
        action="store_true",
        help="save every step, and print the paths' straightness (0 = straight)",
    )
    smp.add_argument(
        "--guess",
        action="store_true",
        help="also write the denoiser's guesses x1_hat = E[x1 | x_t] of the particles at each "
        "saved step (every step with --trajectory, else the last) beside the output, as "
        "NAME.guess.npy or NAME.guess.csv, in the same format",
    )
    smp.add_argument(
        "--verbose",
        action="store_true",
        help="say which sampling back-end ran and why the others were skipped (on stderr)",
    )
    smp.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    smp.add_argument("--out", required=True, help="output file, .npy or .csv")

    flow = commands.add_parser(
        "reflow",
        help="straighten a flow model's paths (rectified flow) and save the new model",
        description="Sample pairs (noise, endpoint) from a flow model, train a new flow model "
        "on the straight lines between them (starting from the model's weights), and save it. "
        "Prints the straightness and the 1/2/4-step Euler quality before and after.",
    )
    flow.add_argument("--model", metavar="FILE", required=True, help="a flow model file")
    flow.add_argument(
        "--pairs",
        type=Number(REFLOW_PAIRS),
        default=ReflowSettings.pairs,
        help=f"pairs sampled from the model ({REFLOW_PAIRS.describe()})",
    )
    flow.add_argument(
        "--steps",
        type=Number(REFLOW_STEPS),
        default=ReflowSettings.steps,
        help=f"optimiser steps on the pairs ({REFLOW_STEPS.describe()})",
    )
    flow.add_argument("--seed", type=Number(limits.SEED), default=0)
    flow.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    flow.add_argument("--out", required=True, help="the reflowed model (.safetensors)")
    add_density_parser(commands)

    shot = commands.add_parser("screenshot", help="render one frame offscreen to a PNG")
    add_scene_options(shot)
    shot.add_argument("--no-ui", action="store_true", help="the scene without the controls")
    shot.add_argument("--out", required=True, help="output file (.png)")

    render = commands.add_parser("render", help="render t = 0 to 1 to a video (.mp4 or .gif)")
    add_scene_options(render)
    render.add_argument("--seconds", type=Number(limits.VIDEO_SECONDS), default=8.0)
    render.add_argument("--fps", type=Number(limits.FPS), default=30)
    render.add_argument("--out", required=True, help="output file (.mp4 or .gif)")

    serve = commands.add_parser(
        "serve", help="the app in browsers: a control link drives it, view links watch"
    )
    add_scene_options(serve)
    serve.add_argument("--paused", action="store_true", help="start paused")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: this machine only; 0.0.0.0: every network)",
    )
    serve.add_argument(
        "--port", type=Number(limits.PORT), default=8765, help="TCP port (0: any free one)"
    )
    return parser


def add_model_choice(command: argparse.ArgumentParser) -> None:
    """The one model a command uses: ``--model FILE``, ``--pretrained D/O`` or ``--exact``
    (a bundled dataset, or the ``--data`` file's points)."""
    model = command.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--model", metavar="FILE", help="a .safetensors model, or the original tool's model.json"
    )
    model.add_argument("--pretrained", metavar="DATASET/OBJECTIVE", help="a shipped model")
    model.add_argument(
        "--exact",
        metavar="DATASET",
        nargs="?",
        const="",
        help="the exact field of a bundled dataset, or of the --data file's points (memorises "
        f"them); DATASET is one of {', '.join(DATASET_CHOICES[:-1])}",
    )


def add_density_parser(commands: argparse._SubParsersAction) -> None:
    """``density``: the model's own log p_t on a grid and the NLL of its data."""
    dens = commands.add_parser(
        "density", help="the model's own density log p_t on a grid (.npz) and its data's NLL"
    )
    add_model_choice(dens)
    dens.add_argument(
        "--data",
        metavar="FILE",
        help="points from a .csv, .json or image: the exact field's data (--exact), or the "
        "points whose NLL is measured (--model)",
    )
    add_y_down(dens)
    dens.add_argument(
        "--objective", choices=("flow", "diffusion"), default="flow", help="the path of --exact"
    )
    dens.add_argument("--t", type=Number(limits.TIME), default=1.0, help="time in [0, 1]")
    dens.add_argument(
        "--grid", type=Number(limits.DENSITY_GRID), default=128, help="cells on a side"
    )
    dens.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    dens.add_argument("--out", required=True, help="output file (.npz: x, y, logp)")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line. Options given before the command (``dexplorer --t 1
    screenshot``) apply to it when it takes them; otherwise, or when given again after it,
    they are refused with a message naming them, never dropped."""
    parser = build_parser()
    args = parser.parse_args(argv)
    at = _command_index(parser, argv)
    if at is None:
        return args
    before = _given(build_parser(), argv[:at])
    command = _subparser(build_parser(), args.command)
    after = _given(command, argv[at + 1 :])
    takes = {action.dest for action in command._actions}
    foreign = [name for name in before if name not in takes]
    twice = [name for name in before if name in after]
    if foreign:
        raise UserError(
            f"{_names(parser, foreign)} before {args.command!r}: not an option of "
            f"{args.command!r} (see dexplorer {args.command} --help)"
        )
    if twice:
        raise UserError(f"{_names(parser, twice)} given both before and after {args.command!r}")
    for name, value in before.items():
        setattr(args, name, value)
    return args


def _command_index(parser: argparse.ArgumentParser, argv: Sequence[str]) -> int | None:
    """Where the command is in ``argv`` (None without one): the first token that is not an
    option of the top-level parser or an option's value."""
    actions = parser._option_string_actions
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            return None
        if not token.startswith("-") or token == "-":
            return index
        action = actions.get(token.split("=", 1)[0])
        joined = "=" in token or action is None  # --opt=value, -n5, or unknown (argparse said)
        index += 1 if joined or action.nargs == 0 else 2
    return None


def _given(parser: argparse.ArgumentParser, tokens: Sequence[str]) -> dict[str, object]:
    """The options ``tokens`` give explicitly, by destination, as ``parser`` reads them."""
    unset = object()
    actions = [a for a in parser._actions if a.dest not in ("help", "version", "command")]
    dests = {a.dest for a in actions}
    # An append action builds on its default, so it starts from None, which it never leaves.
    collects = (argparse._AppendAction, argparse._AppendConstAction, argparse._CountAction)
    parser.set_defaults(**{a.dest: None if isinstance(a, collects) else unset for a in actions})
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.choices.clear()
    values, _ = parser.parse_known_args(list(tokens))
    given = {name: value for name, value in vars(values).items() if name in dests}
    return {
        name: value for name, value in given.items() if value is not unset and value is not None
    }


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    raise KeyError(command)


def _names(parser: argparse.ArgumentParser, dests: list[str]) -> str:
    """The option strings of ``dests`` as a user typed them (the longest of each)."""
    names = {a.dest: max(a.option_strings, key=len) for a in parser._actions if a.option_strings}
    return ", ".join(names.get(dest, dest) for dest in dests)


SCENE_COMMANDS = (None, "screenshot", "render", "serve")
"""The commands :mod:`dexplorer.scenes` runs (None: the window)."""


def run_command(args: argparse.Namespace) -> None:
    """Dispatch a parsed command line; user mistakes raise :class:`UserError`. The scene
    commands start without torch (their app loads it in the background, see
    :mod:`dexplorer.scenes`); the others load it first."""
    if args.command in SCENE_COMMANDS:
        from . import scenes as module
    else:
        from . import commands as module
        from .core.threads import use_cpu_threads

        use_cpu_threads()
    handler = getattr(module, f"cmd_{args.command or 'window'}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _show_warning
            handler(args)
    except (
        ValueError,  # DatasetError and CheckpointError among them
        TrainingError,
        OSError,
        MemoryError,  # the engine's refusal of trajectories that would not fit
    ) as error:
        raise UserError(str(error)) from None
    except RuntimeError as error:  # torch.OutOfMemoryError, without importing torch here
        if type(error).__name__ != "OutOfMemoryError":
            raise
        first = str(error).split(". ")[0].strip()
        raise UserError(f"{first}: choose fewer particles or steps") from None


def _show_warning(message: Warning | str, *_: object, **__: object) -> None:
    warn(str(message))


def warn(message: str) -> None:
    """A warning: one line on stderr."""
    print(f"dexplorer: warning: {message}", file=sys.stderr, flush=True)


def check_y_down(args: argparse.Namespace) -> None:
    """--y-down only with a --data file."""
    if args.y_down and not args.data:
        raise UserError("--y-down is the orientation of a --data file; give --data FILE too")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for user mistakes)."""
    try:
        args = parse(sys.argv[1:] if argv is None else list(argv))
        run_command(args)
    except UserError as error:
        print(f"dexplorer: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dexplorer: interrupted", file=sys.stderr)
        return 130
    return 0
