"""The library API: an :class:`Explorer` holds what the app shows (the one
:class:`~dexplorer.state.AppState`) and opens it as a window, a notebook widget, a picture,
a video or the trajectories themselves. The window and the CLI's scenes are built on it."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .core import limits
from .core.datasets import Dataset
from .core.importers import load_dataset_file, points_dataset
from .core.runs import Run
from .engine.devices import choose_device, device_problem
from .scene.theme import THEMES
from .state import LAYERS, AppState
from .user_files import UserError, check_output

if TYPE_CHECKING:
    import torch

    from .app import App
    from .core.user_models import UserModel

VIDEO_SUFFIXES = (".mp4", ".gif")


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (Jupyter, VS Code, Colab...)."""
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell is not None else None
    return ip is not None and hasattr(ip, "kernel")


def frames_problem(seconds: float, fps: int, names: tuple[str, str] = ("seconds", "fps")) -> str:
    """What keeps a video of ``seconds`` at ``fps`` from being rendered ('' when nothing);
    ``names`` are the option names the message uses."""
    problem = limits.VIDEO_SECONDS.problem(names[0], seconds) or limits.FPS.problem(names[1], fps)
    frames = round(seconds * fps)
    if problem or frames <= limits.MAX_FRAMES:
        return problem
    return (
        f"{names[0]} {seconds:g} at {names[1]} {fps} is {frames:,} frames; "
        f"a video has at most {limits.MAX_FRAMES:,}"
    )


class Explorer:
    """Owns one app state (the data, the runs shown, the look and the time) and the torch
    device its trajectories are computed on; everything the window can do is a method
    here or on :attr:`state`.

    Parameters
    ----------
    dataset : str
        A bundled dataset (``dexplorer list`` names them).
    data : str, os.PathLike or array_like, optional
        Your own points instead: a .csv, .json, .png or .jpg file (read as the app opens
        one), or an (N, 2) array in its own coordinates (mapped into the domain as a
        file's points are, and back for exports). It becomes the "custom" dataset.
    model : str, os.PathLike, UserModel or callable, optional
        ``"flow"`` or ``"diffusion"`` (the shipped models of the dataset), ``"exact"`` (the
        exact field of the data), a model file (.safetensors from ``dexplorer train``), or
        your own model: a :class:`~dexplorer.core.user_models.UserModel` that declares its
        convention, or a ``torch.nn.Module`` / callable ``f(x, t)`` predicting the velocity
        with t = 0 noise (our convention; wrap it in a ``UserModel`` for any other).
        By default the flow model, or the exact field of your ``data``.
    sampler, steps : str, int
        How the particles travel (``dexplorer list`` names the samplers).
    n, seed : int
        The number of particles and the seed of their starting noise.
    labels : array_like, optional
        One class per point of an array ``data`` (for conditional models).
    y_down : bool
        The ``data`` file's y axis points down (screen orientation).
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        For any bad setting, with the one-line message the app and CLI give.

    Examples
    --------
    >>> from dexplorer import Explorer
    >>> explorer = Explorer("moons", model="exact", steps=20, n=2000)
    >>> explorer.snapshot(0.5).shape
    (480, 640, 3)
    """

    def __init__(
        self,
        dataset: str = "smiley",
        data: str | os.PathLike[str] | npt.ArrayLike | None = None,
        model: str | os.PathLike[str] | UserModel | Callable | None = None,
        sampler: str = "heun",
        steps: int = 100,
        n: int = 20000,
        seed: int = 0,
        *,
        labels: npt.ArrayLike | None = None,
        y_down: bool = False,
        device: str = "auto",
    ) -> None:
        problem = device_problem(device)
        if problem:
            raise ValueError(problem)
        self._device: str | torch.device = device
        self.state = AppState()
        """The state the app reads and the controls change: every action of the window
        is one of its methods."""
        self._apps: list[App] = []
        state = self.state
        state.y_down = y_down
        if model is not None and not isinstance(model, str | os.PathLike):
            from .core.user_models import UserModel

            yours = model if isinstance(model, UserModel) else UserModel(model)
            model = None  # the run becomes "yours" once the data is in place
        else:
            yours = None
        named = model is not None and not _is_file(model)
        settings = {"dataset": dataset, "sampler": sampler, "steps": steps, "n": n, "seed": seed}
        if named and data is None:
            settings["model"] = model
        self.set(**settings)
        if data is not None:
            state.use_custom(_custom(data, labels, y_down))
            if named:
                self.set(model=model)
        if model is not None and not named:
            self._check(state.load_model(os.fspath(model), str(self.device)))
        if yours is not None:
            state.use_model(yours)

    @classmethod
    def from_state(cls, state: AppState, device: str | torch.device = "auto") -> Explorer:
        """An explorer of an existing app state (shared, not copied).

        Examples
        --------
        >>> from dexplorer.state import AppState
        >>> Explorer.from_state(AppState(), "cpu").state.data.dataset
        'smiley'
        """
        explorer = cls.__new__(cls)
        explorer._device, explorer.state, explorer._apps = device, state, []
        return explorer

    @property
    def device(self) -> torch.device:
        """The torch device the trajectories are computed on (chosen, and torch loaded, on
        first use: a window opens before torch is loaded and chooses it then)."""
        if isinstance(self._device, str):
            self._device = choose_device(self._device)
        return self._device

    @classmethod
    def open_session(cls, path: str | os.PathLike[str], **options: object) -> Explorer:
        """An explorer of a saved session (.toml, from :meth:`save_session` or the app);
        ``options`` are the constructor's (``device`` among them).

        Examples
        --------
        >>> explorer = Explorer("moons", n=500)
        >>> explorer.save_session("moons.toml")
        >>> Explorer.open_session("moons.toml").state.data.dataset
        'moons'
        """
        from .session import apply_session

        explorer = cls(**options)
        explorer._check(apply_session(explorer.state, Path(path), str(explorer._device)))
        return explorer

    def save_session(self, path: str | os.PathLike[str]) -> None:
        """Save the data, runs, look and time as a session (.toml), with the custom points
        and the loaded model beside it when they are used.

        Examples
        --------
        >>> Explorer("moons", n=500).save_session("moons.toml")
        """
        from .session import save_session

        try:
            save_session(self.state, Path(path))
        except OSError as error:
            raise ValueError(f"could not save the session to {path}: {error}") from None

    def _check(self, ok: bool) -> None:
        if not ok:
            raise ValueError(self.state.message)

    # --- what is shown ----------------------------------------------------------------------

    def set(self, **changes: object) -> Explorer:
        """Change the data (``dataset``, ``n``, ``seed``) and the single view's run (``model``,
        ``sampler``, ``steps``, ``eta``, ``noise_scale``, ``guidance``, ``label``) as the
        controls do; returns the explorer.

        Examples
        --------
        >>> Explorer(n=500).set(sampler="euler", steps=10).state.run.spec
        'flow:euler:10'
        """
        state = self.state
        state.message = ""
        self._check(state.change(**changes) or not state.message)
        return self

    def compare(self, *runs: str | Run) -> Explorer:
        """Compare 2 or 4 runs side by side, given as specs (``"diffusion:ddim:50:eta=0.5"``,
        see :mod:`dexplorer.core.runs`) or :class:`~dexplorer.core.runs.Run` values; with
        none, go back to the single view. Returns the explorer.

        Examples
        --------
        >>> explorer = Explorer("moons", n=500).compare("flow:heun:20", "flow:euler:4")
        >>> [run.spec for run in explorer.state.runs]
        ['flow:heun:20', 'flow:euler:4']
        """
        state = self.state
        if not runs:
            state.set_view(1)
            return self
        specs = [run.spec if isinstance(run, Run) else run for run in runs]
        self._check(state.set_runs(specs))
        return self

    @property
    def t(self) -> float:
        """The time shown, 0 (noise) to 1 (data).

        Examples
        --------
        >>> explorer = Explorer(n=500)
        >>> explorer.t = 0.25
        >>> explorer.t
        0.25
        """
        return self.state.t

    @t.setter
    def t(self, t: float) -> None:
        problem = limits.TIME.problem("t", t)
        if problem:
            raise ValueError(problem)
        self.state.set_time(t)

    @property
    def theme(self) -> str:
        """The colours: ``"light"`` or ``"dark"``.

        Examples
        --------
        >>> explorer = Explorer(n=500)
        >>> explorer.theme = "dark"
        """
        return self.state.look.theme

    @theme.setter
    def theme(self, theme: str) -> None:
        if theme not in THEMES:
            raise ValueError(f"unknown theme {theme!r}: choose {', '.join(THEMES)}")
        self.state.look.theme = theme

    def show_layers(self, **visible: bool) -> Explorer:
        """Show or hide layers by name (particles, density, mesh, paths, vectors, data,
        source, guess, likelihood, streaks); returns the explorer.

        Examples
        --------
        >>> Explorer(n=500).show_layers(mesh=True, density=False).state.look.visible["mesh"]
        True
        """
        for name in visible:
            if name not in LAYERS:
                raise ValueError(f"unknown layer {name!r}: choose {', '.join(LAYERS)}")
        self.state.look.visible.update({name: bool(shown) for name, shown in visible.items()})
        return self

    # --- outputs ----------------------------------------------------------------------------

    def trajectories(self) -> torch.Tensor | list[torch.Tensor]:
        """Compute the particles' paths: a (steps + 1, n, 2) float32 tensor on the
        explorer's device, row 0 the starting noise and the last row the samples, in the
        scene's coordinates (the data's, rescaled into [-3, 3]^2 when its file was
        outside); one tensor per run when comparing (each with at most the particles a
        panel runs). Particles that became non-finite are a warning; a trajectory that
        does not fit in memory whole is a MemoryError.

        Examples
        --------
        >>> Explorer("moons", model="exact", steps=20, n=500).trajectories().shape
        torch.Size([21, 500, 2])
        """
        from .engine.runs import Engine

        state = self.state
        engine = Engine(self.device)
        try:
            problems = engine.sync(state.request())
            if problems:
                raise ValueError(problems[0].message)
            engine.wait()
            paths = []
            for sim in engine.simulations:
                if sim.cache.state.error:
                    raise ValueError(sim.cache.state.error)
                if sim.notice:
                    warnings.warn(sim.notice, stacklevel=2)
                if sim.cache.particles is None:
                    raise MemoryError(
                        f"{sim.n:,} particles x {sim.run.steps} steps do not fit in memory "
                        "whole (the app keeps keyframes and a ring of steps): choose fewer "
                        "particles or steps"
                    )
                paths.append(sim.cache.particles.float().clone())
        finally:
            engine.close()
        return paths if state.comparing else paths[0]

    def snapshot(
        self, t: float | None = None, size: tuple[int, int] = (640, 480), ui: bool = False
    ) -> np.ndarray:
        """The frame at time ``t`` (the current time by default) as the window would draw
        it once everything is computed: an (H, W, 3) uint8 RGB array; ``ui`` draws the
        controls too (from 640 pixels wide). The time shown stays as it was.

        Examples
        --------
        >>> image = Explorer("moons", model="exact", steps=20, n=2000).snapshot(1.0)
        >>> image.shape, image.dtype
        ((480, 640, 3), dtype('uint8'))
        """
        from .headless import offscreen_app

        state = self.state
        canvas = self._size(size)
        kept = state.t, state.playing
        if t is not None:
            self.t = t
        state.playing = False
        try:
            app = offscreen_app(state, canvas, self.device, ui=ui)
            try:
                app.settle()
                return np.ascontiguousarray(app.screenshot()[..., :3])
            finally:
                app.close()
        finally:
            state.t, state.playing = kept

    def render(
        self,
        path: str | os.PathLike[str],
        seconds: float = 8.0,
        fps: int = 30,
        size: tuple[int, int] = (1280, 720),
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Render t from 0 to 1 over ``seconds`` into a video (.mp4 or .gif), with the
        controls as ``dexplorer render`` does; ``progress(done, total)`` is called after
        each frame. Returns the number of frames; a failed render leaves what was at
        ``path``.

        Examples
        --------
        >>> Explorer("moons", model="exact", steps=20, n=2000).render("moons.gif", 1, 10)
        10
        """
        from .headless import render_video

        try:
            out = check_output(os.fspath(path), VIDEO_SUFFIXES, "path")
        except UserError as error:
            raise ValueError(str(error)) from None
        problem = frames_problem(seconds, fps)
        if problem:
            raise ValueError(problem)
        canvas = self._size(size)
        kept = self.state.t, self.state.playing
        try:
            return render_video(self.state, canvas, self.device, out, seconds, fps, progress)
        finally:
            self.state.t, self.state.playing = kept

    def show(self, size: tuple[int, int] = (1280, 720), playing: bool = True) -> object | None:
        """Open the app on this explorer: in a notebook, return the live canvas widget
        (rendercanvas's anywidget, with the controls; display it as a cell's value);
        elsewhere open a window and return when it is closed.

        Raises
        ------
        RuntimeError
            Outside a notebook, when there is no display to open a window on.

        Examples
        --------
        >>> Explorer("moons").show()  # doctest: +SKIP
        """
        from .headless import display_problem, prepare_environment

        width, height = self._size(size)
        self.state.playing = playing
        if in_notebook():
            prepare_environment()
            from rendercanvas.anywidget import RenderCanvas

            from .app import App

            canvas = RenderCanvas(
                size=(width, height), title="dexplorer", update_mode="continuous", max_fps=30
            )
            app = App(canvas, self.state, self._device)
            canvas.request_draw(app.draw)
            self._apps.append(app)
            return canvas
        problem = display_problem()
        if problem:
            raise RuntimeError(
                f"no display ({problem}), so no window can open here: "
                "use snapshot() or render(), or a notebook"
            )
        from .window import run_window

        run_window(self.state, self._device, (width, height))
        return None

    def close(self) -> None:
        """Stop the apps that :meth:`show` opened in a notebook and their threads.

        Examples
        --------
        >>> with Explorer(n=500) as explorer:
        ...     widget = explorer.show()  # doctest: +SKIP
        """
        apps, self._apps = self._apps, []
        for app in apps:
            app.close()

    def __enter__(self) -> Explorer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @staticmethod
    def _size(size: tuple[int, int]) -> tuple[int, int]:
        """A canvas size checked as ``--size`` is."""
        from .headless import offscreen_size

        return offscreen_size(f"{size[0]}x{size[1]}")


def _is_file(model: object) -> bool:
    """Whether ``model`` names a model file rather than a model."""
    if isinstance(model, os.PathLike):
        return True
    if not isinstance(model, str):
        return False
    return model.endswith(".safetensors") or os.sep in model or Path(model).is_file()


def _custom(
    data: str | os.PathLike[str] | npt.ArrayLike, labels: npt.ArrayLike | None, y_down: bool
) -> Dataset:
    """The custom dataset of a file or an array, as the app opens one."""
    if isinstance(data, str | os.PathLike):
        return load_dataset_file(data, y_down=y_down)
    return points_dataset(data, labels, "array", y_down)
