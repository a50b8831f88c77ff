"""The app: wires the state, the simulation (engine), the view (scene) and the UI on one
canvas, a window or an offscreen one."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pygfx as gfx
import torch

from .core import outputs
from .engine.comparison import Comparison, PanelRun
from .engine.devices import describe_device
from .engine.simulation import Simulation
from .recording import Recorder, stamped
from .scene.compare import ComparePanel, CompareView, compare_layout
from .scene.density import DensityLayer
from .scene.particles import ParticlesLayer
from .scene.release import forget_bindings
from .scene.theme import THEMES
from .scene.view import View, layout
from .state import AppState
from .ui.drawing import Drawing
from .ui.panels import (
    PANEL_WIDTH,
    TIME_BAR_HEIGHT,
    Status,
    control_panel,
    explain_window,
    keys_window,
    time_bar,
)

DENSITY_RESOLUTION = 256


def drawing_path() -> Path:
    """Where the drawing is autosaved: the user data folder (platformdirs)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("dexplorer", appauthor=False)) / "drawing.json"


def software_adapter() -> bool:
    """Whether pygfx draws on a CPU adapter (lavapipe). There the renderer's defaults, twice
    the pixels in each direction plus an antialiasing pass, make a window of 50k particles
    draw 1 frame a second instead of 18; the app then draws at the screen's own pixels."""
    adapter = gfx.renderers.wgpu.get_shared().adapter
    return str(adapter.info.get("adapter_type", "")).upper() == "CPU"


MESH_COUNT = 15
VECTOR_COUNT = 21
CLICK_TOLERANCE = 4.0
TIME_LABEL_SIZE = 40.0


class App:
    """Owns the renderer, the simulation, the view and the ImGui overlay on a canvas, and
    draws a frame: advance time, apply changed settings, update layers, render.

    With ``fast`` (always on a CPU adapter, see :func:`software_adapter`) the renderer draws
    at the canvas's own pixels without antialiasing; otherwise with pygfx's defaults.
    """

    def __init__(
        self,
        canvas: object,
        state: AppState,
        device: torch.device,
        ui: bool = True,
        fast: bool = False,
    ) -> None:
        self.canvas = canvas
        self.state = state
        self.device = device = torch.device(device)
        fast = fast or software_adapter()
        options = {"pixel_ratio": 1, "ppaa": "none"} if fast else {}
        self.renderer = gfx.WgpuRenderer(canvas, **options)
        self.simulation = Simulation(
            state.settings,
            device,
            DENSITY_RESOLUTION,
            MESH_COUNT,
            VECTOR_COUNT,
            state.custom,
            state.trained,
        )
        self.applied = state.revision
        self.view = self._build_view()
        self.status = Status(device=describe_device(device), device_name=device.type)
        self.ui = None
        if ui:
            from imgui_bundle import imgui_md, implot
            from wgpu.utils.imgui import ImguiRenderer

            self.ui = ImguiRenderer(self.renderer.device, canvas)
            implot.create_context()
            # imgui_md keeps its fonts globally: bind them to this ImGui context's atlas.
            imgui_md.de_initialize_markdown()
            imgui_md.initialize_markdown()
            imgui_md.get_font_loader_function()()
            self.ui.set_gui(self._gui)
            canvas.add_event_handler(self._on_key, "key_down")
            canvas.add_event_handler(self._on_pointer, "pointer_down", "pointer_up")
            canvas.add_event_handler(self._on_pointer_move, "pointer_move")
        self._press: tuple[float, float] | None = None
        self._theme = state.look.theme
        self.recorder: Recorder | None = None
        self.on_fullscreen: Callable[[], None] | None = None
        """Set by the window (an offscreen canvas has no fullscreen)."""
        if state.drawing is None:
            state.drawing = Drawing(drawing_path())
        if state.drawing.problem:
            state.message = state.drawing.problem
        elif state.custom is None and len(state.drawing.points) >= 2:
            state.custom = state.drawing.dataset()  # restored: offered as "custom"
        self._last = time.perf_counter()
        self._colors_for: tuple | None = None
        self._notice: tuple[int, str] = (0, "")
        """The run (generation) and notice last seen: each notice goes to the message once."""
        self._shown: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        """What each particles layer and its density show: (run, t, steps ready, density)."""
        self.comparison: Comparison | None = None
        """The comparison panels' engine, while the state has panels."""
        self.compare_view: CompareView | None = None
        self._panel_colors: list[tuple | None] = []
        self._drawn_problem = ""
        """What kept the last frame from drawing the particles (said once in the message)."""

    # --- building -------------------------------------------------------------------------------

    def _build_view(self) -> View:
        sim = self.simulation
        return View(
            self.renderer,
            THEMES[self.state.look.theme],
            sim.positions.array,
            sim.density.array,
            sim.source_density(DENSITY_RESOLUTION),
            sim.data_density(),
            sim.dataset.points,
            MESH_COUNT,
            VECTOR_COUNT,
        )

    def _apply_settings(self) -> None:
        if self.state.revision == self.applied:
            return
        self.applied = self.state.revision
        sim = self.simulation
        positions, dataset = sim.positions, sim.dataset
        try:
            sim.apply(self.state.settings, self.state.custom, self.state.trained)
        except (ValueError, MemoryError, OSError) as error:
            self.state.message = str(error)
            self.state.settings = sim.settings  # the controls show what still runs
            return
        if sim.positions is not positions:
            self.view.set_particles(sim.positions.array)
            self._colors_for = None
        if sim.dataset is not dataset:
            self.view.set_data(sim.data_density(), sim.dataset.points)

    # --- per frame --------------------------------------------------------------------------

    def update(self) -> None:
        """Bring every layer to the state's current time."""
        now = time.perf_counter()
        elapsed, self._last = now - self._last, now
        self.status.fps = 0.9 * self.status.fps + 0.1 / max(elapsed, 1e-6)
        self.state.advance(elapsed)
        self.state.poll_training()
        self._apply_settings()
        state, sim, view = self.state, self.simulation, self.view
        self._apply_look()
        shown = self.ui is not None and state.look.show_ui
        left = PANEL_WIDTH * state.look.ui_scale if shown else 0.0
        bottom = TIME_BAR_HEIGHT * state.look.ui_scale if shown else 0.0
        if self._update_compare(left, bottom):
            return
        view.set_layout(layout(*self.renderer.logical_size, left, bottom))
        t = state.t
        visible = state.look.visible
        for name, shown in visible.items():
            view.set_visible(name, shown)
        self._show_time(sim, view.particles, view.density, t, visible["density"])
        if visible["mesh"]:
            view.mesh.update(sim.mesh(t))
        if visible["vectors"]:
            points, velocity = sim.vectors(t)
            view.vectors.update(points, velocity, 0.35)
        if visible["paths"] and state.selected:
            paths = sim.paths(state.selected)
            cut = sim.cache.step_position(t)[0]
            view.paths.update(paths, cut)
        view.set_visible("paths", visible["paths"] and bool(state.selected))
        view.controller.enabled = state.mode != "draw"
        drawing = state.drawing
        view.drawing.set_visible(state.mode == "draw")
        if state.mode == "draw":
            view.drawing.update(drawing.points)
        self._show_training_preview()
        self._update_colors()
        view.particles.set_style(state.look.point_size * state.look.ui_scale, state.look.opacity)
        view.time_label.update(t)
        computed, wanted = sim.progress
        self.status.computed, self.status.wanted = computed, wanted
        self.status.backend = sim.cache.state.backend
        self._show_notice(sim)
        exact = state.settings.model == "exact"
        self.status.class_names = () if exact else sim.dataset.class_names

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
        they already show t of the same run with the same steps ready (paused)."""
        run = sim.cache.state
        key = (t, run.ready, with_density)
        drawn = self._shown.get(particles)
        if drawn is not None and drawn[0] is run and drawn[1:] == key:
            return
        self._shown[particles] = (run, *key)
        sim.update_positions(t)
        sim.positions.sync()
        particles.update()
        if with_density:
            sim.update_density()
            sim.density.sync()
            density.update()

    def _apply_look(self) -> None:
        """Theme and presentation scale, when they changed."""
        look = self.state.look
        if look.theme != self._theme:
            self._theme = look.theme
            self.view.set_theme(THEMES[look.theme])
            if self.compare_view is not None:
                self.compare_view.set_theme(THEMES[look.theme])
        if look.ui_scale != self.status.scale:
            if self.ui is not None:
                from imgui_bundle import imgui

                style = imgui.get_style()
                style.scale_all_sizes(look.ui_scale / self.status.scale)
                style.font_scale_main = look.ui_scale
            self.status.scale = look.ui_scale
            self.view.time_label.set_size(TIME_LABEL_SIZE * look.ui_scale)

    def _show_training_preview(self) -> None:
        """While training runs, the flow panel shows the latest samples of the current
        weights instead of the particles."""
        job = self.state.job
        training = job is not None and job.progress.running and job.progress.preview is not None
        self.view.preview.set_visible(training)
        if training:
            self.view.preview.update(job.progress.preview)
            self.view.set_visible("particles", False)
            self.view.set_visible("density", False)

    def _update_colors(self) -> None:
        key = (self.state.look.color_mode, self.state.settings, self.state.look.theme)
        if key == self._colors_for:
            return
        start = self.simulation.cache.particles[0].float().cpu().numpy()
        theme = THEMES[self.state.look.theme]
        self.view.particles.set_colors(
            self.state.look.color_mode, theme.particles, self.simulation.labels, start
        )
        self._colors_for = key

    # --- comparison ------------------------------------------------------------------------

    @property
    def comparing(self) -> bool:
        """Whether the main area shows the comparison panels."""
        return self.compare_view is not None

    def _update_compare(self, left: float, bottom: float) -> bool:
        """Bring the comparison panels to the state's time (and build or drop them as the
        state's panels come and go). Returns whether the comparison is shown."""
        state = self.state
        if state.panels and self.comparison is None:
            self.comparison = Comparison(self.device)
        if self.comparison is not None:
            self.comparison.sync(state)  # may give up and clear the panels, with a message
        if not state.panels:
            if self.comparison is not None:
                self.comparison.close()
            if self.compare_view is not None:
                forget_bindings()  # the closed panels' buffers are freed with the view
            self.comparison, self.compare_view = None, None
            return False
        if self.compare_view is None:
            self.compare_view = CompareView(self.renderer, THEMES[state.look.theme])
        view, runs, scale = self.compare_view, self.comparison.runs, state.look.ui_scale
        view.remove_panels(len(runs))
        del self._panel_colors[len(runs) :]
        for index, run in enumerate(runs):
            sim = run.simulation
            if index == len(view.panels):
                view.add_panel(sim.positions.array, sim.density.array, sim.dataset.points)
                self._panel_colors.append(None)
            self._update_panel(index, run, view.panels[index])
        size = TIME_LABEL_SIZE * scale
        if view.time_label.text.font_size != size:
            view.time_label.set_size(size)
        view.time_label.update(state.t)
        width, height = self.renderer.logical_size
        view.set_layout(compare_layout(width, height, len(runs), left, bottom, scale, size))
        self.status.computed = sum(run.simulation.progress[0] for run in runs)
        self.status.wanted = sum(run.simulation.progress[1] for run in runs)
        self.status.sweep = self.comparison.sweep
        names = (r.simulation.cache.state.backend for r in runs)
        self.status.backend = ", ".join(dict.fromkeys(filter(None, names)))
        return True

    def _update_panel(self, index: int, run: PanelRun, panel: ComparePanel) -> None:
        """One panel at the state's time: positions, density, layers, colours, caption."""
        state, sim, look = self.state, run.simulation, self.state.look
        if panel.positions is not sim.positions.array:
            panel.set_particles(sim.positions.array)
            self._panel_colors[index] = None
        if panel.data_points is not sim.dataset.points:
            panel.set_data(sim.dataset.points)
        self._show_time(sim, panel.particles, panel.density, state.t, look.visible["density"])
        for name, layer in panel.layers.items():
            layer.set_visible(look.visible[name])
        panel.particles.set_style(look.point_size * look.ui_scale, look.opacity)
        key = (look.color_mode, sim.settings, look.theme)
        if key != self._panel_colors[index]:
            start = sim.cache.particles[0].float().cpu().numpy()
            theme = THEMES[look.theme]
            panel.particles.set_colors(look.color_mode, theme.particles, sim.labels, start)
            self._panel_colors[index] = key
        cache = sim.cache.state
        if cache.error:
            detail = cache.error
        elif run.quality is not None:
            detail = run.quality.text
        elif run.quality_problem:
            detail = run.quality_problem
        elif cache.done and cache.nonfinite < sim.settings.n:
            detail = "measuring the energy distance..."
        elif not cache.done:
            detail = f"computing {cache.ready}/{sim.settings.steps}"
        else:
            detail = "no finite particle to measure"
        if sim.notice and not cache.error:
            detail = f"{detail}\n{sim.notice}"
        self.compare_view.set_caption(index, f"{run.panel.title}\n{detail}", look.ui_scale)

    def close(self) -> None:
        """Stop every thread the app started (training, comparison, trajectories) and wait
        for them: a thread still inside torch when Python exits aborts the process."""
        job = self.state.job
        if job is not None:
            job.stop()
            job.wait()
        if self.comparison is not None:
            self.comparison.close()
        self.simulation.cache.cancel()

    def settle(self) -> None:
        """Block until what the next frame shows is computed and measured (headless)."""
        self.simulation.cache.wait()
        if self.state.panels:
            if self.comparison is None:
                self.comparison = Comparison(self.device)
            self.comparison.sync(self.state)
            self.comparison.wait()

    def draw(self) -> None:
        """One frame: update, render the scene, then the UI on top."""
        self.update()
        view = self.compare_view or self.view
        view.render()
        if view.problem and view.problem != self._drawn_problem:
            self.state.message = f"particles not drawn: {view.problem}; make the window smaller"
        self._drawn_problem = view.problem
        if self.recorder is not None:
            self.recorder.add(np.asarray(self.renderer.snapshot()))
        if self.ui is not None and self.state.look.show_ui:
            self.ui.render()

    def screenshot(self) -> np.ndarray:
        """Draw a frame on an offscreen canvas and return its pixels (H, W, 4)."""
        return np.asarray(self.canvas.draw())

    # --- input -----------------------------------------------------------------------------

    def _gui(self) -> None:
        width, height = self.renderer.logical_size
        control_panel(self.state, self.status, height)
        time_bar(self.state, width, height, self.status.scale)
        keys_window(self.state)
        explain_window(self.state, self.status.scale)

    def _on_key(self, event: dict) -> None:
        key, state = event.get("key"), self.state
        control = "Control" in event.get("modifiers", ())
        if control and key in ("=", "+"):
            state.scale_ui(+1)
        elif control and key == "-":
            state.scale_ui(-1)
        elif key == " ":
            state.toggle_play()
        elif key in ("ArrowLeft", "ArrowRight"):
            state.step(-1 if key == "ArrowLeft" else +1)
        elif key in ("Home", "End"):
            state.jump(0.0 if key == "Home" else 1.0)
        elif key in ("h", "H"):
            state.look.show_ui = not state.look.show_ui
        elif key in ("e", "E"):
            state.look.show_explain = not state.look.show_explain
        elif key == "?":
            state.look.show_keys = not state.look.show_keys
        elif key == "F11" and self.on_fullscreen is not None:
            self.on_fullscreen()
        elif key in ("s", "S"):
            self.save_screenshot()
        elif key in ("r", "R"):
            self.toggle_recording()
        elif key in ("c", "C"):
            state.cycle_view()
        elif key is not None and len(key) == 1 and key.isdigit() and key != "0":
            state.choose_dataset(int(key) - 1)

    def _on_pointer_move(self, event: dict) -> None:
        self.status.pointer = self.pointer_at(event["x"], event["y"])
        if self.state.mode == "draw":
            self.state.drawing.extend(*self.view.screen_to_world(event["x"], event["y"]))

    def pointer_at(self, x: float, y: float) -> tuple[float, float] | None:
        """The point under canvas pixel (x, y) of the flow panel in the data file's
        coordinates (``None`` outside the panel, and while comparing)."""
        if self.comparing or not self.view.viewport.is_inside(x, y):
            return None
        point = self.simulation.dataset.normalisation.to_file(self.view.screen_to_world(x, y))
        return float(point[0]), float(point[1])

    def _on_pointer(self, event: dict) -> None:
        if self.comparing:
            return  # the panels are for watching: selecting and drawing are single-view
        x, y = event["x"], event["y"]
        if self.state.mode == "draw":
            if event["event_type"] == "pointer_down":
                if self.view.viewport.is_inside(x, y):
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
        if not self.view.viewport.is_inside(x, y):
            return
        self.select_at(x, y, add="Shift" in event.get("modifiers", ()))

    def save_screenshot(self, folder: Path = Path()) -> Path:
        """Save the scene as it is now as a PNG (the S key)."""
        import imageio.v3 as iio

        path = stamped(folder, "dexplorer", ".png")
        with outputs.replacing(path) as temporary:
            iio.imwrite(temporary, np.asarray(self.renderer.snapshot())[..., :3])
        self.state.message = f"saved {path}"
        return path

    def toggle_recording(self, folder: Path = Path()) -> None:
        """Start or stop recording the scene to an MP4 (the R key)."""
        if self.recorder is None:
            self.recorder = Recorder(stamped(folder, "dexplorer", ".mp4"))
            self.state.message = f"recording to {self.recorder.path} (R stops)"
            return
        recorder, self.recorder = self.recorder, None
        recorder.close()
        self.state.message = f"saved {recorder.frames} frames to {recorder.path}"

    def select_at(self, x: float, y: float, add: bool = False) -> int:
        """Select the particle nearest to canvas pixel (x, y) in the main panel."""
        index = self.simulation.nearest(*self.view.screen_to_world(x, y))
        self.state.select(index, add)
        return index
