"""The commands that show the scene: the window (no command), ``screenshot``, ``render`` and
``serve``. Importing them does not import torch: their :class:`~dexplorer.app.App` loads it
in the background, so that the window's first frame does not wait for it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .cli import check_y_down
from .core import outputs
from .engine.devices import choose_device
from .explorer import VIDEO_SUFFIXES, Explorer, frames_problem
from .headless import offscreen_size, parse_size
from .state import AppState
from .user_files import UserError, check_output, check_suffix

if TYPE_CHECKING:
    import torch


def scene_state(args: argparse.Namespace, default_t: float) -> AppState:
    """The state of the scene the options describe, built by an :class:`Explorer` (a
    ``--data`` file shows its exact field unless ``--session`` says otherwise)."""
    check_y_down(args)
    options = {
        "dataset": args.dataset,
        "data": args.data,
        "model": None if args.data else args.model,
        "sampler": args.sampler,
        "steps": args.steps,
        "n": args.n,
        "seed": args.seed,
        "y_down": args.y_down,
        "device": args.device,
    }
    if args.session:
        explorer = Explorer.open_session(args.session, **options)
    else:
        explorer = Explorer(**options)
    if args.compare:
        try:
            explorer.compare(*args.compare)
        except ValueError as error:
            raise UserError(f"--compare {error}") from None
    if not args.session:
        explorer.theme = args.theme
    if args.t is not None or not args.session:  # an explicit --t wins over the session's
        explorer.t = default_t if args.t is None else args.t
    return explorer.state


def cmd_window(args: argparse.Namespace) -> None:
    from .headless import display_problem

    check_suffix(args.demo_out, VIDEO_SUFFIXES, "--demo-out")
    state = scene_state(args, 0.0)
    explorer = Explorer.from_state(state, args.device)
    problem = display_problem()
    if not problem:
        explorer.show(parse_size(args.size), playing=not args.paused)
        return
    out = check_output(args.demo_out, VIDEO_SUFFIXES, option="--demo-out")
    size = offscreen_size(args.size)
    print(
        f"dexplorer: no display ({problem}), so no window can open here; "
        f"rendering the demo to {out} instead",
        file=sys.stderr,
    )
    _render(state, explorer.device, size, out, 8.0, 30)


def cmd_screenshot(args: argparse.Namespace) -> None:
    import imageio.v3 as iio

    out = check_output(args.out, (".png",))
    size = offscreen_size(args.size)
    state = scene_state(args, 0.5)
    image = Explorer.from_state(state, args.device).snapshot(size=size, ui=not args.no_ui)
    with outputs.replacing(out) as temporary:
        iio.imwrite(temporary, image)
    print(f"wrote {out} ({image.shape[1]}x{image.shape[0]}, t = {state.t:.2f})")


def cmd_render(args: argparse.Namespace) -> None:
    out = check_output(args.out, VIDEO_SUFFIXES)
    problem = frames_problem(args.seconds, args.fps, ("--seconds", "--fps"))
    if problem:
        raise UserError(problem)
    state = scene_state(args, 0.0)
    _render(
        state, choose_device(args.device), offscreen_size(args.size), out, args.seconds, args.fps
    )


def _render(
    state: AppState,
    device: torch.device,
    size: tuple[int, int],
    out: Path,
    seconds: float,
    fps: int,
) -> None:
    from tqdm import tqdm

    explorer = Explorer.from_state(state, device)
    with tqdm(total=round(seconds * fps), desc=f"rendering {out}", unit="frame") as bar:
        frames = explorer.render(
            out, seconds, fps, size, progress=lambda done, total: bar.update(1)
        )
    print(f"wrote {out} ({frames} frames, {size[0]}x{size[1]}, {fps} fps)")


def cmd_serve(args: argparse.Namespace) -> None:
    from .serve import listen, serve

    sock = listen(args.host, args.port)  # first: a port in use is said before any work
    try:
        size = offscreen_size(args.size)
        state = scene_state(args, 0.0)
        state.playing = not args.paused
        serve(state, args.device, sock, args.host, size)
    finally:
        sock.close()
