"""The app: wires the state, the simulation (engine), the view (scene) and the UI on one
canvas, a window or an offscreen one. Importing it does not import torch: the first frames
show the controls and the starting particles while torch and the engine load in the
background (:mod:`dexplorer.loading`)."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .core import outputs
from .core.datasets import DOMAIN
from .core.drawing import Drawing
from .core.outputs import stamped
from .core.sources import Source
from .engine.pace import Pace
from .engine.runs import DENSITY_RESOLUTION, MESH_COUNT, VECTOR_COUNT
from .engine.start import shown_dataset, starting_points
from .loading import Loader
from .recording import Recorder
from .scene.density import DensityLayer
from .scene.layout import CAPTION_LINES, CAPTION_SIZE, layout, wrapped_lines
from .scene.panel import Panel
from .scene.particles import ParticlesLayer
from .scene.renderer import Renderer, software_adapter
from .scene.streaks import WIDTH as STREAK_WIDTH
from .scene.streaks import tracers_for
from .scene.theme import THEMES
from .scene.view import View
from .state import AppState
from .timings import Timings
from .ui.controls import (
    CONTROLS_WIDTH,
    TIME_BAR_HEIGHT,
    Status,
    computing_text,
    controls_window,
    explain_window,
    keys_window,
    time_bar,
    tool_window,
)
from .ui.keys import binding_for
from .ui.schedule import schedule_window
from .user_files import UserError, check_output

if TYPE_CHECKING:
    import torch

    from .core.datasets import Dataset
    from .engine.rows import DeviceRows
    from .engine.runs import Engine, Problem
    from .engine.simulation import Simulation


def drawing_path() -> Path:
    """Where the drawing is autosaved: the user data folder (platformdirs)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("dexplorer", appauthor=False)) / "drawing.json"


CLICK_TOLERANCE = 4.0
KEYS_BEFORE_IMGUI = -100
"""The order of the app's key handler among the canvas's: before ImGui's (-99), which stops
a key from reaching later handlers whenever ImGui wants the keyboard."""
TIME_LABEL_SIZE = 40.0
LOADING = "loading torch and the models..."
"""What the controls say until the engine is loaded."""


class App:
    """Owns the renderer, the engine, the view and the ImGui overlay on a canvas, and draws a
    frame: advance time, bring the engine to the state's data and runs, update every panel
    from its run's simulation, render.

    With ``fast`` (always on a CPU adapter, see :func:`software_adapter`) the renderer draws
    at the canvas's own pixels without antialiasing; otherwise with pygfx's defaults.

    Until torch and the engine are loaded (a :class:`~dexplorer.loading.Loader`, started
    here) every panel shows the starting particles and the data, the controls say so and
    time does not run; what the user changes meanwhile is in the state, which the engine
    follows once loaded. A settled app (headless) waits for the load.
    """

    def __init__(
        self,
        canvas: object,
        state: AppState,
        device: str | torch.device,
        ui: bool = True,
        fast: bool = False,
    ) -> None:
        self.canvas = canvas
        self.state = state
        self.device: torch.device | None = None
        """The torch device, once loaded (``device``: its name, or "auto")."""
        fast = fast or software_adapter()
        options = {"pixel_ratio": 1, "ppaa": "none"} if fast else {}
        self.renderer = Renderer(canvas, **options)
        self.engine: Engine | None = None
        """The simulations of the runs shown, once loaded."""
        self._device_asked = device
        self.loader: Loader | None = None
        """The load of torch and the engine (started after the first frame)."""
        self._start: tuple[tuple, np.ndarray, Dataset] | None = None
        """While loading: what the starting particles and the data shown were made for (the
        data, the particles, the custom dataset and source), and them."""
        self._side_for: object = None
        """The dataset the data side view shows."""
        self._source_for: object = None
        """The source the source side view shows."""
        self.view = self._build_view()
        self.status = Status(device="", device_name="", loading=LOADING)
        self.ui = None
        if ui:
            from imgui_bundle import imgui_md, implot

            from .ui.backend import ControlsRenderer

            self.ui = ControlsRenderer(self.renderer.device, canvas)
            implot.create_context()
            # imgui_md keeps its fonts globally: bind them to this ImGui context's atlas.
            imgui_md.de_initialize_markdown()
            imgui_md.initialize_markdown()
            imgui_md.get_font_loader_function()()
            self.ui.set_gui(self._gui)
            canvas.add_event_handler(self._on_canvas_key, "key_down", order=KEYS_BEFORE_IMGUI)
            canvas.add_event_handler(self._on_canvas_char, "char", order=KEYS_BEFORE_IMGUI)
            canvas.add_event_handler(self._on_pointer, "pointer_down", "pointer_up")
            canvas.add_event_handler(self._on_pointer_move, "pointer_move")
        self._char_pending = False
        """Whether the last key pressed did nothing: the character it types may (see
        :meth:`_on_char`)."""
        self._press: tuple[float, float] | None = None
        self._edit_panel: int | None = None
        """The panel a live edit's drag started in."""
        self._theme = state.look.theme
        self.recorder: Recorder | None = None
        self._screenshots: list[tuple[Path, Path | None]] = []
        """The screenshots asked for (folder, path), saved from the next frame's scene."""
        self.on_fullscreen: Callable[[], None] | None = None
        """Set by the window (an offscreen canvas has no fullscreen)."""
        if state.drawing is None:
            state.drawing = Drawing(drawing_path())
        if state.drawing.problem:
            state.message = state.drawing.problem
        elif state.custom is None and len(state.drawing.points) >= 2:
            state.custom = state.drawing.dataset()  # restored: offered as "custom"
        self._last = time.perf_counter()
        self._notice: tuple[int, str] = (0, "")
        """The run (generation) and notice last seen: each notice goes to the message once."""
        self._shown: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        """What each particles layer and its density show: (run, density layer, t, steps
        ready, density shown)."""
        self._rows: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        """The steps each particles layer holds on the device (:mod:`.engine.rows`)."""
        self._pace = Pace()
        """The measured rate of the steps computed, for the time left."""
        self._drawn_problem = ""
        """What kept the last frame from drawing the particles (said once in the message)."""
        self._settled = False
        self._load_failed = ""
        """Why torch and the engine could not be loaded ('' unless they could not)."""
        self.timings = Timings()
        """Start-up moments written for the benchmarks (``DEXPLORER_TIMINGS``)."""
        self.frame_seconds: float | None = None
        """Seconds the streaks move each frame: a video's 1 / fps (each frame then waits for
        the field at its t); None for the wall clock."""
        self._elapsed = 0.0
        self._streaks_notice = ""

    # --- building -------------------------------------------------------------------------------

    def _build_view(self) -> View:
        """The view with the side views of the data shown (filled when the view is single),
        its panels showing the starting particles until the engine is loaded."""
        resolution = DENSITY_RESOLUTION[1]
        view = View(
            self.renderer,
            THEMES[self.state.look.theme],
            Source().density(resolution, DOMAIN),
            np.zeros((resolution, resolution), np.float32),
            np.zeros((0, 2), np.float32),
        )
        self._show_start(view)
        return view

    def _add_panels(self, view: View) -> None:
        """One panel for each simulation (the panels after them are dropped)."""
        simulations = self.engine.simulations
        view.set_count(len(simulations))
        for sim in simulations[len(view.panels) :]:
            arrays = (sim.positions.array, sim.density.array, sim.dataset.points)
            view.add_panel(*arrays, sim.mesh_count, sim.vector_count)

    def _sync_engine(self) -> None:
        """Bring the engine to the state's data and runs."""
        self._report(self.engine.sync(self.state.request()))

    def _report(self, problems: list[Problem]) -> None:
        """A run that could not start goes back to what still runs, with a message; a
        comparison that could not start at all goes back to the single view."""
        state = self.state
        simulations = self.engine.simulations
        for problem in problems:
            message = problem.message
            if state.comparing:
                message = f"panel {problem.index + 1}: {message}"
            if len(simulations) != len(state.runs):
                if simulations:
                    state.set_view(len(simulations))  # what ran before: the single view
            else:
                sim = simulations[problem.index]
                state.data, state.runs[problem.index] = sim.data, sim.run
            state.message = message

    def _update_side_views(self) -> None:
        """The data side view shows the single panel's data (when it changed)."""
        sim = self.engine.simulations[0]
        if self.view.count == 1 and sim.dataset is not self._side_for:
            self._side_for = sim.dataset
            self.view.set_side_data(sim.data_density(), sim.dataset.points)
        if self.view.count == 1 and sim.source is not self._source_for:
            self._source_for = sim.source
            density = sim.source.density(DENSITY_RESOLUTION[1], DOMAIN)
            self.view.set_side_source(density, sim.source.points)

    # --- per frame --------------------------------------------------------------------------

    def update(self) -> None:
        """Bring every panel to the state's current time."""
        now = time.perf_counter()
        elapsed, self._last = now - self._last, now
        self._elapsed = elapsed
        self.status.fps = 0.9 * self.status.fps + 0.1 / max(elapsed, 1e-6)
        if self.engine is None and not self._take_engine():
            self._update_start()
            return
        self.state.advance(elapsed, self._computed_time())
        self.state.poll_training()
        self.state.poll_reflow()
        self._take_exports()
        self._sync_engine()
        state, view, look = self.state, self.view, self.state.look
        self._apply_look()
        simulations = self.engine.simulations
        self._add_panels(view)
        for panel, sim in zip(view.panels, simulations, strict=True):
            self._update_panel(panel, sim)
        self._update_side_views()
        captions = [self._caption(sim) for sim in simulations] if self.comparing else []
        rooms = [self._caption_room(sim) for sim in simulations] if self.comparing else []
        font = CAPTION_SIZE * look.ui_scale

        def lines(width: float) -> int:
            """The lines the captions take wrapped within panels of ``width``, at least as
            many as the longest they can be (the panels stay put as runs are measured)."""
            wrapped = [wrapped_lines(text, width, font) for text in (*captions, *rooms)]
            return max([CAPTION_LINES + look.visible["likelihood"], *wrapped])  # the NLL's line

        self._lay_out(len(simulations), lines, *self._time_shown(state.t))
        if look.visible["streaks"]:  # after the layout: their number follows the panel's size
            for panel, sim in zip(view.panels, simulations, strict=True):
                self._show_streaks(panel, sim, state.t)
        view.set_pan_zoom(state.mode != "draw")
        self.status.computed, self.status.wanted = self.engine.progress
        self._pace.update(self.status.computed, self.status.wanted, now)
        self.status.seconds_left = self._pace.seconds_left()
        names = (sim.cache.state.backend for sim in simulations)
        self.status.backend = ", ".join(dict.fromkeys(filter(None, names)))
        self._show_drawing(simulations[0].dataset.points)
        self._show_training_preview()
        self.status.sweep = self.engine.sweep
        self.status.live = "; ".join(filter(None, (sim.live_note for sim in simulations)))
        notes = (sim.memory_note for sim in simulations)
        self.status.memory = "\n".join(dict.fromkeys(filter(None, notes)))
        self.status.recompute = "; ".join(filter(None, (sim.recompute_note for sim in simulations)))
        if self.comparing:
            for index, caption in enumerate(captions):
                view.set_caption(index, caption, look.ui_scale)
            return
        self._show_notice(simulations[0])
        self.status.straightness = self._straightness(simulations[0])
        shown = look.visible["likelihood"]
        self.status.likelihood = self._likelihood_text(simulations[0]) if shown else ""
        view.set_caption(0, self.status.likelihood or " ", look.ui_scale)  # the NLL on screen

    def _computed_time(self) -> float:
        """The time every run has computed up to: playback waits there, as a video player
        waits for what it has not loaded (not for a run that failed)."""
        ends = [1.0]
        for sim in self.engine.simulations:
            state = sim.cache.state
            ends.append(1.0 if state.done or state.error else state.ready / sim.run.steps)
        return min(ends)

    def _time_shown(self, t: float) -> tuple[float, str]:
        """The time of the single view's picture and, when it is not ``t``, why: its run is
        still computing, failed there, or is recomputing t (a bounded run). A comparison
        shows ``t``, each caption its own progress."""
        from .engine.trajectory import STEP_SNAP

        if self.comparing:
            return t, ""
        sim = self.engine.simulations[0]
        step, fraction = sim.cache.shown_position(t)
        shown = (step + fraction) / sim.run.steps
        if abs(shown - t) < STEP_SNAP:
            return t, ""
        state = sim.cache.state
        return shown, "failed" if state.error else "recomputing" if state.done else "computing"

    def _lay_out(
        self, count: int, lines: int | Callable[[float], int], t: float, note: str = ""
    ) -> None:
        """Place ``count`` panels (captions of ``lines`` lines, or as many as the function
        says for a panel's width) beside the controls and above the time bar, and the time
        label showing t (and the ``note`` on it)."""
        look, view = self.state.look, self.view
        shown = self.ui is not None and look.show_ui
        left = CONTROLS_WIDTH * look.ui_scale if shown else 0.0
        bottom = TIME_BAR_HEIGHT * look.ui_scale if shown else 0.0
        size = TIME_LABEL_SIZE * look.ui_scale
        view.time_label.set_size(size)
        view.time_label.update(t, note)
        width, height = self.renderer.logical_size
        view.set_layout(layout(width, height, count, left, bottom, look.ui_scale, size, lines))

    def _show_drawing(self, points: np.ndarray) -> None:
        """In draw mode (single view), the strokes drawn, or in a live edit the data
        ``points`` being edited."""
        state = self.state
        drawing = state.mode == "draw" and not self.comparing
        self.view.drawing.set_visible(drawing)
        if drawing and state.editor.live:
            self.view.drawing.update(points)
        elif drawing:
            self.view.drawing.update(state.drawing.points)

    # --- while loading ---------------------------------------------------------------------

    def _begin_loading(self) -> None:
        """Start loading torch and the engine on the state's request (once)."""
        if self.loader is None:
            self.loader = Loader(self._device_asked, self.state.request())

    def _take_engine(self) -> bool:
        """Take the loaded engine once the loader is done, and bring it to the state as it
        is now; whether there is one. A failed load says why (once) in the message and the
        panels keep the starting particles."""
        loader = self.loader
        if loader is None or not loader.done or self._load_failed:
            return False
        engine = loader.engine
        if engine is not None:
            self.engine = engine
            self._report(loader.problems)  # what could not start, in the message
            if not engine.simulations:
                self.engine = None
                engine.close()
        if self.engine is None:
            self._load_failed = loader.error or self.state.message or "no run could start"
            self.state.message = self._load_failed
            self.status.loading = "not loaded: the message says why"
            return False
        from .engine.devices import describe_device

        self.device = engine.device
        self.status.device = describe_device(engine.device)
        self.status.device_name = engine.device.type
        self.status.loading = ""
        self.timings.note("loaded")
        return True

    def wait_loaded(self) -> None:
        """Load torch and the engine now if not yet and wait for them (headless).

        Raises
        ------
        ValueError
            With the message, when they could not be loaded or no run could start.
        """
        if self.engine is not None:
            return
        self._begin_loading()
        self.loader.wait()
        if not self._take_engine():
            raise ValueError(self._load_failed)

    def _show_start(self, view: View) -> None:
        """While loading: a panel for each run of the state, each showing the starting
        particles and the data (made again when the data or the particles change)."""
        state, look = self.state, self.state.look
        request = state.request()
        made_for = (request.data, request.n, request.custom, request.custom_source)
        held = self._start
        if held is None or any(a is not b for a, b in zip(held[0], made_for, strict=True)):
            try:
                dataset = shown_dataset(request.data, request.custom)
                start = starting_points(request.data, request.n, request.custom_source)
            except ValueError as error:
                state.message = str(error)
                if held is None:
                    raise
                dataset, start = held[2], held[1]
            self._start = held = (made_for, start, dataset)
        _, start, dataset = held
        count = len(request.runs)
        view.set_count(count)
        for panel in view.panels:
            if panel.particles.array is not start:
                panel.set_particles(start)
            if panel.targets.points is not dataset.points:
                panel.set_data(dataset.points)
        resolution = DENSITY_RESOLUTION[count]
        for _ in range(len(view.panels), count):
            density = np.zeros((resolution, resolution), np.float32)
            view.add_panel(start, density, dataset.points, MESH_COUNT, VECTOR_COUNT)
        theme = THEMES[look.theme]
        key = (look.color_mode, look.theme, id(start))  # a new array: a new layer
        for panel in view.panels:
            for name in look.visible:  # what needs no field: the particles and the data
                panel.set_visible(name, look.visible[name] and name in ("particles", "data"))
            panel.particles.set_style(look.point_size * look.ui_scale, look.opacity)
            if panel.particles.colored_for != key:
                panel.particles.set_colors(look.color_mode, theme.particles, None, start, key)
        if count == 1 and dataset is not self._side_for:
            self._side_for = dataset
            view.set_side_data(np.zeros((resolution, resolution), np.float32), dataset.points)

    def _update_start(self) -> None:
        """A frame while loading: the starting particles and the data; time does not run
        (the time bar and the time label stay where the trajectories will start)."""
        state = self.state
        self._take_exports()
        self._apply_look()
        self._show_start(self.view)
        count = self.view.count
        self._lay_out(count, CAPTION_LINES, 0.0)
        caption = self.status.loading if count > 1 else " "  # the single view: in the controls
        for index in range(count):
            self.view.set_caption(index, caption, state.look.ui_scale)
        self.view.set_pan_zoom(state.mode != "draw")
        self.view.preview.set_visible(False)
        self._show_drawing(self._start[2].points)

    # --- per frame (loaded) ----------------------------------------------------------------

    def _update_panel(self, panel: Panel, sim: Simulation) -> None:
        """One panel at the state's time from ``sim``: its arrays, layers, colours and the
        paths of the selected particles."""
        state, look, t = self.state, self.state.look, self.state.t
        if panel.particles.array is not sim.positions.array:
            panel.set_particles(sim.positions.array)
        if panel.density.array is not sim.density.array:
            panel.set_density(sim.density.array)
        if panel.targets.points is not sim.dataset.points:
            panel.set_data(sim.dataset.points)
        panel.rings.set_source(sim.source.points)
        visible = look.visible
        for name, shown in visible.items():
            panel.set_visible(name, shown)
        self._show_time(sim, panel.particles, panel.density, t, visible["density"])
        if visible["likelihood"]:
            self._show_likelihood(panel, sim, t)
        if visible["mesh"]:
            panel.mesh.update(sim.mesh(t))
        if visible["vectors"]:
            points, velocity = sim.vectors(t)
            panel.vectors.update(points, velocity, 0.35)
        selected = [index for index in state.selected if index < sim.selectable]
        if visible["paths"] and selected:
            cut = sim.cache.step_position(t)[0]
            panel.paths.update(sim.paths(selected), cut)
        panel.set_visible("paths", visible["paths"] and bool(selected))
        if visible["guess"]:
            self._show_guesses(panel, sim, selected)
        else:
            sim.drop_guesses()  # nothing is computed for a layer that is off
        panel.particles.set_style(look.point_size * look.ui_scale, look.opacity)
        self._color_particles(panel.particles, sim)

    def _show_guesses(self, panel: Panel, sim: Simulation, selected: list[int]) -> None:
        """The denoiser's guesses of ``sim``'s particles at the state's time (computed in
        the background; a settled app waits for them), and a line from each selected
        particle to its guess."""
        sim.update_guesses(self.state.t)
        if self.settled:
            sim.guesses.wait()
            sim.update_guesses(self.state.t)
        guesses = sim.guesses
        if panel.guess.drawn != (guesses, guesses.shown):
            panel.guess.set_guesses(guesses.array.array)
            panel.guess.drawn = (guesses, guesses.shown)
        ends = guesses.array.array[selected]
        panel.guess.set_lines(sim.positions_of(selected), ends)
        look = self.state.look
        panel.guess.set_style(look.point_size * look.ui_scale)

    def _show_likelihood(self, panel: Panel, sim: Simulation, t: float) -> None:
        """The model's density at t from ``sim``: computed in the background, the layer keeps
        the last grid until the one at t is ready (a settled app waits for it)."""
        density = sim.model_density()
        if panel.likelihood.array is not density.array:
            panel.set_likelihood(density.array)
        density.request(t)
        if self.settled:
            density.wait()
        if density.poll():
            panel.likelihood.update()

    def _likelihood_text(self, sim: Simulation) -> str:
        """The NLL of the run's data, or why there is none, with what its grid leaves out."""
        density = sim.model_density()
        text = density.problem or density.nll or "NLL: measuring..."
        return f"{text}\n{density.note}" if density.note else text

    def _show_streaks(self, panel: Panel, sim: Simulation, t: float) -> None:
        """Move ``panel``'s streaks through ``sim``'s field at t by this frame's seconds (the
        field at a new t comes from a thread, or at once in a video), and draw as many as
        suit the panel's size when they moved; what is wrong with the field goes to the
        message once."""
        streaks = sim.streaks(t)
        if self.frame_seconds is not None:
            streaks.wait()
        shown = min(len(streaks.trails), tracers_for(panel.rect))
        seconds = self._elapsed if self.frame_seconds is None else self.frame_seconds
        streaks.advance(seconds, shown)
        layer = panel.streaks
        if layer.drawn != (streaks, streaks.ticks, shown):
            layer.update(streaks.trails[:shown], streaks.fade[:shown])
            layer.drawn = (streaks, streaks.ticks, shown)
        layer.set_width(STREAK_WIDTH * self.state.look.ui_scale)
        if streaks.notice and streaks.notice != self._streaks_notice:
            self.state.message = streaks.notice
        self._streaks_notice = streaks.notice

    def _show_notice(self, sim: Simulation) -> None:
        """Put what went wrong in the current run (a failure, non-finite particles) in the
        state's message, once for each run and text."""
        notice = (sim.cache.state.generation, sim.notice)
        if notice[1] and notice != self._notice:
            self.state.message = notice[1]
        self._notice = notice

    def _show_time(
        self,
        sim: Simulation,
        particles: ParticlesLayer,
        density: DensityLayer,
        t: float,
        with_density: bool,
    ) -> None:
        """Bring ``particles`` (and ``density`` when shown) to time t from ``sim``, unless
        they already show t of the same run with the same steps ready and shown (paused;
        a bounded run shows the nearest step it holds until it has recomputed t's, which a
        settled app waits for)."""
        run = sim.cache.state
        if self.settled:
            sim.cache.hold(t)
        drawn_points = particles.points.visible
        ways = (drawn_points, particles.takes_rows)  # the CPU's kernel may have loaded
        key = (t, run.ready, sim.cache.shown_position(t), with_density, ways)
        drawn = self._shown.get(particles)
        if drawn is not None and drawn[0] is run and drawn[1] is density and drawn[2:] == key:
            return
        self._shown[particles] = (run, density, *key)
        # Rows go to the device only for points drawn: a buffer never drawn keeps every row
        # sent to it on the host.
        rows = self._rows_for(sim, particles) if drawn_points else None
        sim.update_positions(t, publish=False)
        shown = None if rows is None else rows.show(sim.cache, *sim.cache.shown_position(t))
        if shown is None:
            sim.positions.publish()
            sim.positions.sync()
            particles.update()
        else:
            particles.show_rows(*shown)
        if with_density:
            sim.update_density()
            sim.density.sync()
            density.update()

    def _rows_for(self, sim: Simulation, particles: ParticlesLayer) -> DeviceRows | None:
        """The record of the steps of ``sim``'s run that ``particles`` hold on the device,
        or ``None`` when they are drawn from the array (by the CPU)."""
        if not particles.takes_rows:
            if self._rows.pop(particles, None) is not None:
                particles.drop_slots()
            return None
        rows = self._rows.get(particles)
        if rows is None:
            from .engine.rows import DeviceRows, row_budget

            budget = row_budget(sim.device) // self._panel_count  # one budget for the panels
            rows = self._rows[particles] = DeviceRows(sim.n, budget)
        return rows

    def _apply_look(self) -> None:
        """Theme and presentation scale, when they changed."""
        look = self.state.look
        if look.theme != self._theme:
            self._theme = look.theme
            self.view.set_theme(THEMES[look.theme])
        if look.ui_scale != self.status.scale:
            if self.ui is not None:
                from imgui_bundle import imgui

                style = imgui.get_style()
                style.scale_all_sizes(look.ui_scale / self.status.scale)
                style.font_scale_main = look.ui_scale
            self.status.scale = look.ui_scale

    def _show_training_preview(self) -> None:
        """While training runs, the single panel shows the latest samples of the current
        weights instead of the particles (a comparison shows its runs)."""
        job = self.state.job
        training = job is not None and job.progress.running and job.progress.preview is not None
        training = training and not self.comparing
        self.view.preview.set_visible(training)
        if training:
            self.view.preview.update(job.progress.preview)
            self.view.panels[0].set_visible("particles", False)
            self.view.panels[0].set_visible("density", False)

    def _color_particles(self, particles: ParticlesLayer, sim: Simulation) -> None:
        """Colour ``particles`` for the look and ``sim``'s run, unless they already are."""
        look = self.state.look
        key = (look.color_mode, sim.cache.state.generation, look.theme)  # a run's labels
        if particles.colored_for == key:
            return
        start = sim.cache.row(0).cpu().numpy()
        theme = THEMES[look.theme]
        particles.set_colors(look.color_mode, theme.particles, sim.labels, start, key)

    @property
    def uploaded_rows(self) -> int:
        """Bytes of trajectory steps uploaded to the device for the particles so far (0 where
        they are drawn from the arrays; :mod:`.engine.rows`)."""
        return sum(rows.uploaded for rows in self._rows.values())

    # --- comparison ------------------------------------------------------------------------

    @property
    def comparing(self) -> bool:
        """Whether the view shows more than one panel."""
        return self._panel_count > 1

    @property
    def _panel_count(self) -> int:
        """The panels shown: one per simulation, or per run of the state while loading."""
        return self.view.count if self.engine is None else len(self.engine.simulations)

    def _caption(self, sim: Simulation) -> str:
        """A comparison panel's caption: its run's title, then its quality or progress."""
        cache = sim.cache.state
        if cache.error:
            detail = cache.error
        elif sim.quality is not None:
            detail = sim.quality.text
        elif sim.quality_problem:
            detail = sim.quality_problem
        elif cache.done and cache.nonfinite < sim.n:
            detail = "measuring the energy distance..."
        elif not cache.done:
            detail = f"computing {cache.ready}/{sim.run.steps}"
        else:
            detail = "no finite particle to measure"
        if sim.notice and not cache.error:
            detail = f"{detail}\n{sim.notice}"
        if sim.live_note:
            detail = sim.live_note
        straightness = self._straightness(sim)
        if straightness:
            detail = f"{detail}\n{straightness}"
        if self.state.look.visible["likelihood"]:
            detail = f"{detail}\n{self._likelihood_text(sim)}"
        return f"{sim.run.title}\n{detail}"

    def _caption_room(self, sim: Simulation) -> str:
        """The longest caption ``sim``'s run usually has: its title, its quality and its
        straightness measured at their longest, and the NLL when shown."""
        from .core.straightness import Straightness

        longest = [sim.run.title, "ED 00.00 ± 0.00x held-out, memorising"]
        longest.append(Straightness(1.23e-5, 0, noisy=True).text)
        if self.state.look.visible["likelihood"]:
            longest.append("NLL 00.00 nats at t = 0.999")
        return "\n".join(longest)

    @staticmethod
    def _straightness(sim: Simulation) -> str:
        """The straightness of ``sim``'s paths as the captions and the status say it ('' until
        the trajectory is complete and measured)."""
        measured = sim.straightness
        return "" if measured is None else measured.text

    def close(self) -> None:
        """Stop every thread the app started (loading, training, comparison, trajectories)
        and wait for them: a thread still inside torch when Python exits aborts the
        process."""
        job = self.state.job
        if job is not None:
            job.stop()
            job.wait()
        engine = self.engine
        if self.loader is not None:
            self.loader.wait()
            engine = engine or self.loader.engine
        if engine is not None:
            engine.close()

    @property
    def settled(self) -> bool:
        """Whether every frame waits for what it shows (headless: :func:`~dexplorer.headless.
        offscreen_app` and :meth:`settle` set it). Setting it waits for torch and the engine
        (:meth:`wait_loaded`)."""
        return self._settled

    @settled.setter
    def settled(self, settled: bool) -> None:
        if settled:
            self.wait_loaded()
        self._settled = settled

    def settle(self) -> None:
        """Block until what the next frame shows is computed and measured, and let every
        frame from now on wait for what it shows (headless)."""
        self.settled = True
        self._sync_engine()
        self.engine.wait()

    def draw(self) -> None:
        """One frame: update, render the scene, then the UI on top."""
        self.update()
        view = self.view
        view.render()
        if view.problem and view.problem != self._drawn_problem:
            self.state.message = f"particles not drawn: {view.problem}; make the window smaller"
        self._drawn_problem = view.problem
        self._keep_frame()
        if self.ui is not None and self.state.look.show_ui:
            self.ui.render()
        self.timings.note("first_frame")
        if self.engine is not None and all(sim.cache.state.done for sim in self.engine.simulations):
            self.timings.note("trajectory")
        self._begin_loading()  # after the first frame, which does not wait for it

    def screenshot(self) -> np.ndarray:
        """Draw a frame on an offscreen canvas and return its pixels (H, W, 4), with what
        it shows computed (it waits for the guesses from now on)."""
        self.settled = True
        return np.asarray(self.canvas.draw())

    # --- input -----------------------------------------------------------------------------

    def _gui(self) -> None:
        width, height = self.renderer.logical_size
        controls_window(self.state, self.status, height)
        loading = bool(self.status.loading)
        time_bar(self.state, width, height, self.status.scale, loading, computing_text(self.status))
        keys_window(self.state)
        explain_window(self.state, self.status.scale)
        tool_window(self.state, self.status, height, self.status.scale)
        simulations = [] if self.engine is None else self.engine.simulations
        paths = [sim.field.path for sim in simulations]
        bottom = height - TIME_BAR_HEIGHT * self.status.scale
        schedule_window(self.state, paths, (width, bottom), self.status.scale)

    def _on_canvas_key(self, event: dict) -> None:
        """A key from the canvas, seen before ImGui: the app's bindings act unless ImGui is
        taking text (a field being typed in). ImGui's own wish for the keyboard also holds
        while a button is held, and it answers from the last frame, so after a click a key
        pressed before the next frame (a slow one) was lost to it."""
        from imgui_bundle import imgui

        imgui.set_current_context(self.ui.imgui_context)
        if not imgui.get_io().want_text_input:
            self._on_key(event)

    def _on_canvas_char(self, event: dict) -> None:
        """A character typed, seen before ImGui: the binding of a character whose key did
        nothing (a window library reports shift and / for ?), unless ImGui takes text."""
        from imgui_bundle import imgui

        imgui.set_current_context(self.ui.imgui_context)
        if not imgui.get_io().want_text_input:
            self._on_char(event)

    def _on_key(self, event: dict) -> None:
        key = event.get("key")
        binding = binding_for(key, event.get("modifiers", ()))
        self._char_pending = binding is None
        if binding is not None:
            binding.action(self, key)

    def _on_char(self, event: dict) -> None:
        """The first character typed after a key that did nothing: its binding (Caps Lock
        types E for the key e, which acted already; a held key repeats its character)."""
        if not self._char_pending:
            return
        self._char_pending = False
        character = event.get("data")
        binding = binding_for(character)
        if binding is not None:
            binding.action(self, character)

    def _on_pointer_move(self, event: dict) -> None:
        self.status.pointer = self.pointer_at(event["x"], event["y"])
        if self.state.mode == "draw" and self.state.editor.live:
            if self._edit_panel is not None:
                world = self.view.screen_to_world(event["x"], event["y"], self._edit_panel)
                self.state.edit_move(*world)
        elif self.state.mode == "draw":
            self.state.drawing.extend(*self.view.screen_to_world(event["x"], event["y"]))

    def pointer_at(self, x: float, y: float) -> tuple[float, float] | None:
        """The point under canvas pixel (x, y) of a panel in the data file's coordinates
        (``None`` outside every panel)."""
        index = self.view.panel_at(x, y)
        if index is None or index >= self._panel_count:
            return None
        world = self.view.screen_to_world(x, y, index)
        dataset = self._start[2] if self.engine is None else self.engine.simulations[index].dataset
        point = dataset.normalisation.to_file(world)
        return float(point[0]), float(point[1])

    def _on_pointer(self, event: dict) -> None:
        x, y = event["x"], event["y"]
        if self.state.mode == "draw" and self.state.editor.live:
            self._edit_at(event["event_type"], x, y)
            return
        if self.state.mode == "draw":
            if self.comparing:
                return  # drawing is in the single view
            if event["event_type"] == "pointer_down":
                if self.view.panel_at(x, y) == 0:
                    self.state.drawing.begin(*self.view.screen_to_world(x, y))
            else:
                self.state.finish_stroke()
            return
        if event["event_type"] == "pointer_down":
            self._press = (x, y)
            return
        press, self._press = self._press, None
        if press is None or np.hypot(x - press[0], y - press[1]) > CLICK_TOLERANCE:
            return
        if self.view.panel_at(x, y) is None:
            return
        self.select_at(x, y, add="Shift" in event.get("modifiers", ()))

    def _edit_at(self, kind: str, x: float, y: float) -> None:
        """A live edit with the editor's tool in the panel under canvas pixel (x, y) (every
        panel shows the same data): a press adds, erases or picks; a release ends a drag."""
        if kind != "pointer_down":
            self._edit_panel = None
            self.state.edit_release()
            return
        panel = self.view.panel_at(x, y)
        if panel is None or panel >= self._panel_count:
            return
        self._edit_panel = panel
        self.state.edit_press(*self.view.screen_to_world(x, y, panel))

    def save_screenshot(self, folder: Path = Path(), path: Path | None = None) -> None:
        """Save the scene of the next frame as a PNG (the S key): to ``path``, or to a
        time-stamped name in ``folder``. A path that cannot be written is a message."""
        self._screenshots.append((folder, path))

    def _keep_frame(self) -> None:
        """Hand the scene just drawn to the screenshots asked for and to the recording, read
        back before the controls are drawn over it (and only then: a frame nothing asks for
        is not read)."""
        if self.recorder is None and not self._screenshots:
            return
        frame = np.asarray(self.renderer.snapshot())
        screenshots, self._screenshots = self._screenshots, []
        for folder, path in screenshots:
            self._write_screenshot(frame, folder, path)
        if self.recorder is not None:
            self.recorder.add(frame)

    def _write_screenshot(self, frame: np.ndarray, folder: Path, path: Path | None) -> None:
        import imageio.v3 as iio

        try:
            path = stamped(folder, "dexplorer", ".png") if path is None else path
            path = check_output(str(path), (".png",), "screenshot")
            with outputs.replacing(path) as temporary:
                iio.imwrite(temporary, frame[..., :3])
        except (UserError, OSError) as error:
            self.state.message = f"no screenshot saved: {error}"
            return
        self.state.message = f"saved {path}"

    def toggle_recording(self, folder: Path = Path(), path: Path | None = None) -> None:
        """Start or stop recording the scene to an MP4 (the R key): to ``path``, or to a
        time-stamped name in ``folder``. A path that cannot be written is a message."""
        if self.recorder is None:
            try:
                path = stamped(folder, "dexplorer", ".mp4") if path is None else path
                self.recorder = Recorder(check_output(str(path), (".mp4",), "recording"))
            except (UserError, OSError) as error:
                self.state.message = f"not recording: {error}"
                return
            self.state.message = f"recording to {self.recorder.path} (R stops)"
            return
        recorder, self.recorder = self.recorder, None
        recorder.close()
        self.state.message = f"saved {recorder.frames} frames to {recorder.path}"

    def _take_exports(self) -> None:
        """The screenshots and recordings the controls asked for."""
        exports, self.state.exports = self.state.exports, []
        for kind, path in exports:
            chosen = Path(path) if path else None
            if kind == "screenshot":
                self.save_screenshot(path=chosen)
            else:
                self.toggle_recording(path=chosen if self.recorder is None else None)
        self.status.recording = self.recorder is not None

    def select_at(self, x: float, y: float, add: bool = False) -> int:
        """Select the particle nearest to canvas pixel (x, y) in the panel there (panel 0
        outside every panel): the same index is the same starting particle in every run."""
        panel = self.view.panel_at(x, y)
        panel = 0 if panel is None or panel >= self._panel_count else panel
        world = self.view.screen_to_world(x, y, panel)
        if self.engine is None:  # loading: every panel shows the starting particles
            index = int(np.argmin(np.square(self._start[1] - world).sum(1)))
        else:
            index = self.engine.simulations[panel].nearest(*world)
        self.state.select(index, add)
        return index
