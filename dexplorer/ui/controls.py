"""The controls (left) and the time bar (bottom), drawn with Dear ImGui each frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from imgui_bundle import imgui, imgui_md, implot

from ..core.choices import OBJECTIVE_NOTES, PRESET_NOTES, TFJS_SUFFIX
from ..core.datasets import DATASETS, DOMAIN, Dataset, make_dataset
from ..core.editing import TOOLS
from ..core.importers import SUFFIXES as DATA_SUFFIXES
from ..core.runs import PANEL_PARTICLES, VIEW_COUNTS
from ..scene.colors import COLOR_MODES
from ..scene.theme import THEMES
from ..state import LAYERS, OPACITIES, POINT_SIZES, AppState, opacity_decimals
from .backend import begin_fixed
from .dialogs import FileDialogs
from .explain import explain, explain_more
from .keys import help_rows
from .runs import combo, run_controls
from .source import source_section

if TYPE_CHECKING:
    from ..engine.sweep import QualitySweep

CONTROLS_WIDTH = 290.0
WIDEST_LABEL = "learning rate"
"""The widest label after a field in the controls: the fields leave room for it."""
TIME_BAR_HEIGHT = 64.0
PARTICLE_CHOICES = (1000, 5000, 10000, 20000, 50000, 100000, 250000, 1000000)
FIXED = (
    imgui.WindowFlags_.no_move
    | imgui.WindowFlags_.no_resize
    | imgui.WindowFlags_.no_collapse
    | imgui.WindowFlags_.no_saved_settings
)


@dataclass
class Status:
    """What the controls show but do not edit (the device, frame rate, engine progress, the
    mouse position), the typed paths and the file dialog opened beside them."""

    device: str = "cpu"
    fps: float = 0.0
    computed: int = 0
    wanted: int = 1
    open_path: str = ""
    model_path: str = "model.safetensors"
    scale: float = 1.0
    session_path: str = "session.toml"
    device_name: str = "cpu"
    sweep: QualitySweep | None = None
    pointer: tuple[float, float] | None = None
    """Where the mouse is over a panel, in the data file's coordinates."""
    backend: str = ""
    """The sampling back-ends of the current runs (dexplorer.engine.backends)."""
    dialogs: FileDialogs = field(default_factory=FileDialogs)
    export_path: str = ""
    """Where a screenshot or video goes ('' for a time-stamped name in the current folder)."""
    recording: bool = False
    seconds_left: float | None = None
    """The time the trajectories being computed will take, as measured (``None``: unknown
    yet, or none is computing)."""
    live: str = ""
    """What a live edit of the data has recomputed so far ('' when none is under way)."""
    memory: str = ""
    """What the runs whose steps do not all fit in memory keep, and what that turns off."""
    recompute: str = ""
    """Which step such a run recomputes from to show the time asked ('' while it shows it)."""
    straightness: str = ""
    """The single view's straightness of paths, as the comparison captions say it (shown
    under its sampler)."""
    likelihood: str = ""
    """The single view's NLL with the model-density layer on ('' with it off)."""
    source_path: str = ""
    """A points file typed or chosen as the source."""
    loading: str = ""
    """What is still loading before any trajectory exists ('' once loaded): said at the top
    of the controls and in the time bar; what needs torch is disabled until then."""


LOADING_COLOR = (0.85, 0.55, 0.1, 1.0)
"""The colour of what is still loading (amber: waiting, not wrong)."""
PREVIEW_SIZE = 44.0
_PREVIEWS: dict[str, object] = {}


def _preview_points(name: str) -> object:
    """300 points of a dataset scaled into a unit square (computed once per name)."""
    if name not in _PREVIEWS:
        points = make_dataset(name, n=300, seed=0).points
        _PREVIEWS[name] = (points / (2 * DOMAIN) + 0.5).clip(0, 1)
    return _PREVIEWS[name]


def dataset_combo(current: str, custom: Dataset | None) -> tuple[bool, str]:
    """The dataset chooser: each entry shows a small preview of its points."""
    changed, chosen = False, current
    if imgui.begin_combo("dataset", current, imgui.ComboFlags_.height_largest):
        color = imgui.get_color_u32((0.95, 0.55, 0.2, 1.0))
        if custom is not None:
            _PREVIEWS["custom"] = (custom.subset(300).points / (2 * DOMAIN) + 0.5).clip(0, 1)
        names = [*DATASETS, *(["custom"] if custom is not None else [])]
        for name in names:
            x, y = imgui.get_cursor_screen_pos()
            clicked, _ = imgui.selectable(f"##{name}", name == current, 0, (0, PREVIEW_SIZE))
            if clicked:
                changed, chosen = True, name
            draw = imgui.get_window_draw_list()
            for px, py in _preview_points(name):
                centre = (x + 2 + px * (PREVIEW_SIZE - 4), y + 2 + (1 - py) * (PREVIEW_SIZE - 4))
                draw.add_circle_filled(centre, 1.0, color)
            imgui.same_line(PREVIEW_SIZE + 16)
            imgui.text(DATASETS[name][0] if name in DATASETS else custom.title)
        imgui.end_combo()
    return changed, chosen


def controls_window(state: AppState, status: Status, height: float) -> None:
    """The controls (left): data, model, sampler and its parameters, particles, layers."""
    width = CONTROLS_WIDTH * status.scale
    begin_fixed("dexplorer", (0, 0), (width, height), FIXED)
    label_room = imgui.calc_text_size(WIDEST_LABEL).x + imgui.get_style().item_inner_spacing.x
    imgui.push_item_width(-label_room)  # with a scrollbar too, every label fits
    status.dialogs.poll()
    if status.loading:
        imgui.text_colored(LOADING_COLOR, status.loading)
    data = state.data
    changes: dict[str, object] = {}

    def edit(name: str, result: tuple[bool, object]) -> None:
        if result[0]:
            changes[name] = result[1]

    views = [f"{count} panels" if count > 1 else "single" for count in VIEW_COUNTS]
    changed, index = imgui.combo("view (C)", VIEW_COUNTS.index(len(state.runs)), views)
    if changed:
        state.set_view(VIEW_COUNTS[index])
    imgui.separator_text("Data")
    edit("dataset", dataset_combo(data.dataset, state.custom))
    data_file_row(state, status)
    source_section(state, status, open_file_row)
    _, state.y_down = imgui.checkbox("y down (screen orientation)", state.y_down)
    if state.comparing:
        compare_section(state, status)
    else:
        imgui.separator_text("Model and sampler")
        run_controls(state, 0)
        # Always a line, so that the controls below do not move when it is measured.
        imgui.push_text_wrap_pos(0.0)
        imgui.text_disabled(status.straightness or "straightness: after the run")
        imgui.pop_text_wrap_pos()
    imgui.separator_text("Particles")
    choices = sorted({*PARTICLE_CHOICES, data.n})
    changed, index = imgui.combo("particles", choices.index(data.n), [f"{n:,}" for n in choices])
    edit("n", (changed, choices[index]))
    if state.comparing:
        imgui.text_disabled(f"at most {PANEL_PARTICLES[len(state.runs)]:,} per panel")
    changed, seed = imgui.input_int("seed", data.seed)
    edit("seed", (changed, max(seed, 0)))
    if changes:
        state.change(**changes)
    imgui.separator_text("Show")
    for index, name in enumerate(LAYERS):
        if index % 2:
            imgui.same_line(width / 2)
        # "##layer": the particles' count and the brush's density have the same words
        _, state.look.visible[name] = imgui.checkbox(f"{name}##layer", state.look.visible[name])
    _, state.look.color_mode = combo("colour", state.look.color_mode, COLOR_MODES)
    _, state.look.theme = combo("theme", state.look.theme, list(THEMES))
    _, state.look.show_explain = imgui.checkbox("explain (E)", state.look.show_explain)
    imgui.same_line(width / 2)
    _, state.look.show_schedule = imgui.checkbox("schedule (P)", state.look.show_schedule)
    # A slider hands back its float32 every frame: only a value moved is written.
    changed, size = imgui.slider_float("size", state.look.point_size, *POINT_SIZES)
    if changed:
        state.look.point_size = size
    opacity = state.look.opacity
    shown = f"%.{opacity_decimals(opacity)}f"
    changed, opacity = imgui.slider_float(
        "opacity", opacity, *OPACITIES, shown, flags=imgui.SliderFlags_.logarithmic
    )
    if changed:
        state.look.opacity = opacity
    imgui.begin_disabled(bool(status.loading))  # sessions may hold models: torch
    session_row(state, status)
    imgui.end_disabled()
    export_row(state, status)
    drawing_section(state, status)
    imgui.begin_disabled(bool(status.loading))  # training and models need torch
    training_section(state, status)
    reflow_section(state, status)
    imgui.end_disabled()
    label = f"clear selection ({len(state.selected)})"
    if imgui.button(label) and state.selected:
        state.clear_selection()
    imgui.text_disabled("click: select a particle, shift: add")
    if state.message:
        imgui.separator()
        imgui.push_text_wrap_pos(width - 10)
        imgui.text_colored((0.9, 0.25, 0.2, 1.0), state.message)
        imgui.pop_text_wrap_pos()
    imgui.separator()
    computing = computing_text(status)
    imgui.text_disabled(f"{status.device}   {status.fps:.0f} fps")
    if computing:
        imgui.text_disabled(computing)
    imgui.text_disabled(f"sampled by {status.backend or '...'}")
    if status.recompute:
        imgui.text_colored((0.95, 0.55, 0.2, 1.0), status.recompute)
    if status.memory:
        imgui.push_text_wrap_pos(0.0)
        imgui.text_disabled(status.memory)
        imgui.pop_text_wrap_pos()
    if status.likelihood:
        imgui.push_text_wrap_pos(0.0)
        imgui.text_disabled(f"model density: {status.likelihood}")
        imgui.pop_text_wrap_pos()
    if status.pointer is not None:
        imgui.text_disabled(f"pointer  x {status.pointer[0]:.4g}   y {status.pointer[1]:.4g}")
    imgui.pop_item_width()
    imgui.end()


def compare_section(state: AppState, status: Status) -> None:
    """Each compared run's model, sampler and parameters, and the quality-vs-steps plot."""
    imgui.separator_text("Compare")
    for index, run in enumerate(state.runs):
        if imgui.tree_node(f"{index + 1}. {run.title}###run{index}"):
            run_controls(state, index)
            imgui.tree_pop()
    sweep_plot(state, status.sweep)


def sweep_plot(state: AppState, sweep: QualitySweep | None) -> None:
    """The button that measures quality against steps, its progress, and the plot."""
    running = sweep is not None and sweep.running
    if running:
        if imgui.button("cancel##sweep"):
            state.cancel_sweep()
        imgui.same_line()
        imgui.progress_bar(sweep.done / sweep.total, (-1, 0), f"{sweep.done}/{sweep.total}")
    elif imgui.button("quality vs steps"):
        state.measure_sweep()
    if sweep is None:
        return
    if sweep.error:
        imgui.text_colored((0.9, 0.25, 0.2, 1.0), sweep.error)
    height = (150 + 18 * len(sweep.curves)) * imgui.get_style().font_scale_main
    if sweep.done and implot.begin_plot("energy distance vs steps", (-1, height)):
        implot.setup_axes(
            "steps", "x held-out", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit
        )
        implot.setup_legend(implot.Location_.south, implot.LegendFlags_.outside)
        implot.setup_axis_scale(implot.ImAxis_.x1, implot.Scale_.log10)
        implot.setup_axis_scale(implot.ImAxis_.y1, implot.Scale_.log10)
        for curve in sweep.curves:
            if curve.steps:
                steps = np.asarray(curve.steps, float)
                implot.plot_line(curve.title, steps, np.asarray(curve.ratios, float))
        implot.end_plot()


DATA_FILTERS = ("data (csv, json, image)", " ".join(f"*{suffix}" for suffix in DATA_SUFFIXES))
MODEL_FILTERS = ("models", f"*.safetensors *{TFJS_SUFFIX}")
SAVED_MODEL_FILTERS = ("models", "*.safetensors")
SESSION_FILTERS = ("sessions", "*.toml")
EXPORT_FILTERS = {"screenshot": ("PNG images", "*.png"), "record": ("MP4 videos", "*.mp4")}


def _chosen(status: Status, name: str, action: Callable[[str], object]) -> Callable[[str], None]:
    """What a dialog does with the file chosen: show it in the path field ``name`` of the
    status, then ``action`` on it."""

    def apply(path: str) -> None:
        setattr(status, name, path)
        action(path)

    return apply


def fit_before(*buttons: str) -> None:
    """Narrow the next item, if need be, so that ``buttons`` fit after it on its line (a
    scrollbar takes part of the controls' width when they are taller than the window)."""
    style = imgui.get_style()
    room = imgui.get_content_region_avail().x
    for label in buttons:
        room -= imgui.calc_text_size(label).x + 2 * style.frame_padding.x + style.item_spacing.x
    imgui.set_next_item_width(max(min(imgui.calc_item_width(), room), 1.0))


def open_file_row(
    status: Status,
    field: str,
    button: str,
    action: Callable[[str], object],
    dialog: tuple[str, str],
) -> None:
    """A typed path (the status's ``field``), a ``button`` that applies ``action`` to it, and
    a native dialog (its button's label and its title) that fills the field and applies it."""
    fit_before(button)
    _, path = imgui.input_text(f"##{field}", getattr(status, field))
    setattr(status, field, path)
    imgui.same_line()
    if imgui.button(button) and path.strip():
        action(path.strip())
    apply = _chosen(status, field, action)
    status.dialogs.button(*dialog, DATA_FILTERS, apply, path)


def data_file_row(state: AppState, status: Status) -> None:
    """Open a data file (csv, json or an image) as the custom dataset."""
    open_file_row(status, "open_path", "open", state.open_data, ("choose a file...", "Open data"))


def session_row(state: AppState, status: Status) -> None:
    """Save or open a session file (settings, data, model)."""
    from ..session import apply_session

    imgui.separator_text("Session")
    fit_before("save", "open")
    _, status.session_path = imgui.input_text("##session", status.session_path)
    path = status.session_path.strip()
    imgui.same_line()
    if imgui.button("save##session") and path:
        save_session_file(state, path)
    imgui.same_line()
    if imgui.button("open##session") and path:
        apply_session(state, Path(path), status.device_name)
    if not status.dialogs.enabled:
        return
    apply = _chosen(status, "session_path", lambda chosen: save_session_file(state, chosen))
    start = status.session_path
    status.dialogs.button(
        "save as...##session", "Save session", SESSION_FILTERS, apply, start, True
    )
    imgui.same_line()
    device = status.device_name
    apply = _chosen(
        status, "session_path", lambda chosen: apply_session(state, Path(chosen), device)
    )
    status.dialogs.button("open...##session", "Open session", SESSION_FILTERS, apply, start)


def export_row(state: AppState, status: Status) -> None:
    """Save a screenshot, or record a video, to a file of one's choosing (the S and R keys
    write time-stamped files in the current folder, as these buttons do with no file named)."""
    imgui.separator_text("Export")
    fit_before("screenshot", "record")
    _, status.export_path = imgui.input_text("##export", status.export_path)
    path = status.export_path.strip()
    imgui.same_line()
    if imgui.button("screenshot##export"):
        state.export("screenshot", path)
    imgui.same_line()
    if imgui.button("stop##export" if status.recording else "record##export"):
        state.export("record", "" if status.recording else path)
    if not status.dialogs.enabled or status.recording:
        return
    for kind, label, title in (
        ("screenshot", "screenshot as...", "Save a screenshot"),
        ("record", "record as...", "Record a video"),
    ):
        apply = _chosen(status, "export_path", lambda chosen, kind=kind: state.export(kind, chosen))
        status.dialogs.button(f"{label}##export", title, EXPORT_FILTERS[kind], apply, path, True)
        imgui.same_line()
    imgui.new_line()


def save_session_file(state: AppState, path: str) -> None:
    """Save the session to ``path``; the outcome is the state's message."""
    from ..session import save_session

    try:
        save_session(state, Path(path))
        state.message = f"saved session {path}"
    except (OSError, ValueError) as error:
        state.message = f"could not save session {path}: {error}"


TOOL_HELP = {
    "drag": "drag: press on a data point and move it",
    "add": "add: each press adds a data point",
    "erase": "erase: each press erases the nearest data point",
}


def live_edit_controls(state: AppState, status: Status) -> None:
    """The live-editing tool's reach, undo, and what the exact field has recomputed."""
    editor = state.editor
    imgui.text(TOOL_HELP[editor.tool])
    _, editor.reach = imgui.slider_float("reach", editor.reach, 0.05, 1.0)
    if imgui.button("undo edit"):
        state.undo_edit()
    if state.custom is not None and state.data.dataset == "custom":
        imgui.same_line()
        imgui.text(f"{len(state.custom)} points")
    imgui.push_text_wrap_pos(0.0)
    imgui.text_disabled(live_line(state, status))
    imgui.pop_text_wrap_pos()


def live_line(state: AppState, status: Status) -> str:
    """What the runs have made of the live edits so far."""
    if status.live:
        return status.live
    if not any(run.model == "exact" for run in state.runs):
        return "only the exact field follows edits live: other models start again"
    return "exact field: up to date"


def tool_window(state: AppState, status: Status, height: float, scale: float) -> None:
    """Two lines at the bottom left of the view while in draw mode: the tool, its brush or
    reach, and what the exact field has recomputed since the last edit."""
    if state.mode != "draw" or state.drawing is None:
        return
    corner = (CONTROLS_WIDTH * scale + 10, height - (TIME_BAR_HEIGHT + 10) * scale)
    imgui.set_next_window_pos(corner, imgui.Cond_.always, (0.0, 1.0))
    flags = FIXED | imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.always_auto_resize
    imgui.set_next_window_bg_alpha(0.8)
    imgui.begin("tool", None, flags)
    editor, drawing = state.editor, state.drawing
    if editor.live:
        imgui.text(f"draw mode · {TOOL_HELP[editor.tool]} · reach {editor.reach:.2f}")
        imgui.text(live_line(state, status))
    else:
        what = "eraser" if drawing.eraser else f"brush, class {drawing.label}"
        imgui.text(f"draw mode · {what} · radius {drawing.radius:.2f}")
    imgui.end()


def drawing_section(state: AppState, status: Status) -> None:
    """Draw mode: paint a distribution in the view (it becomes the custom dataset)."""
    imgui.separator_text("Draw")
    drawing = state.drawing
    _, draw = imgui.checkbox("draw mode", state.mode == "draw")
    state.mode = "draw" if draw else "select"
    if drawing is None or state.mode != "draw":
        return
    editor = state.editor
    _, editor.tool = combo("tool", editor.tool, TOOLS)
    if editor.live:
        live_edit_controls(state, status)
        return
    _, drawing.eraser = imgui.checkbox("eraser", drawing.eraser)
    _, drawing.radius = imgui.slider_float("brush", drawing.radius, 0.05, 1.0)
    _, drawing.density = imgui.slider_int("density", drawing.density, 1, 50)
    _, drawing.label = imgui.combo("stroke class", drawing.label, [f"class {k}" for k in range(4)])
    for label, action in (("undo", drawing.undo), ("redo", drawing.redo), ("clear", drawing.clear)):
        if imgui.button(label):
            action()
            if len(drawing.points) >= 2:
                state.use_custom(drawing.dataset())
        imgui.same_line()
    imgui.text(f"{len(drawing.points)} points")


BATCH_CHOICES = (64, 128, 256, 512, 1024, 2048)
LOSS_PLOT_HEIGHT = 170.0
"""The loss plot's height at 1x: room for its curve beside its title and tick labels."""


def model_row(state: AppState, status: Status) -> None:
    """Save the trained model or load one (safetensors, or a TF.js model's json)."""
    fit_before("save", "load")
    _, status.model_path = imgui.input_text("##model", status.model_path)
    imgui.same_line()
    if imgui.button("save") and status.model_path.strip():
        state.save_model(status.model_path.strip())
    imgui.same_line()
    if imgui.button("load") and status.model_path.strip():
        state.load_model(status.model_path.strip(), status.device_name)
    if not status.dialogs.enabled:
        return
    start = status.model_path
    apply = _chosen(status, "model_path", state.save_model)
    status.dialogs.button(
        "save as...##model", "Save model", SAVED_MODEL_FILTERS, apply, start, True
    )
    imgui.same_line()
    device = status.device_name
    apply = _chosen(status, "model_path", lambda chosen: state.load_model(chosen, device))
    status.dialogs.button("load...##model", "Load model", MODEL_FILTERS, apply, start)


def training_section(state: AppState, status: Status) -> None:
    """Train on the current data: settings, Train/Stop, progress, loss curve, quality."""
    imgui.separator_text("Train")
    ts = state.train_settings
    _, preset = combo("preset", ts.preset, list(PRESET_NOTES))
    _, objective = combo("objective", ts.objective, list(OBJECTIVE_NOTES))
    _, state.train_unit = combo("budget in", state.train_unit, ("seconds", "steps"))
    if state.train_unit == "steps":
        _, state.train_steps = imgui.slider_int("steps##train", state.train_steps, 100, 20000)
    else:
        _, state.train_seconds = imgui.slider_float("seconds", state.train_seconds, 1.0, 120.0)
    _, rate = imgui.input_float("learning rate", ts.learning_rate, 0.0, 0.0, "%.0e")
    batches = sorted({*BATCH_CHOICES, ts.batch_size})
    _, index = imgui.combo("batch", batches.index(ts.batch_size), [str(b) for b in batches])
    state.train_settings = replace(
        ts, preset=preset, objective=objective, learning_rate=rate, batch_size=batches[index]
    )
    ot_row(state)
    job = state.job
    running = job is not None and job.progress.running
    if running:
        if imgui.button("stop"):
            state.stop_training()
    else:
        resumable = job is not None and job.trainer.step > 0
        if imgui.button("train more" if resumable else "train"):
            state.start_training(status.device_name)
    model_row(state, status)
    if job is None:
        return
    progress = job.progress
    imgui.same_line()
    imgui.progress_bar(progress.fraction if running else 1.0, (-1, 0), f"step {job.trainer.step}")
    height = LOSS_PLOT_HEIGHT * imgui.get_style().font_scale_main
    flags = implot.Flags_.no_legend
    if progress.losses and implot.begin_plot("loss against step", (-1, height), flags):
        implot.setup_axes("", "", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
        implot.plot_line(
            "loss", np.asarray(progress.steps, float), np.asarray(progress.losses, float)
        )
        implot.end_plot()
    if progress.quality is not None:
        imgui.text(progress.quality.text)
    elif progress.quality_problem:
        imgui.text_wrapped(progress.quality_problem)
    if running and progress.message:
        imgui.text_wrapped(progress.message)


def ot_row(state: AppState) -> None:
    """Minibatch OT coupling for flow matching: the other way to straighter paths."""
    ts = state.train_settings
    flow = ts.objective == "flow"
    imgui.begin_disabled(not flow)
    _, ot = imgui.checkbox("OT coupling (straighter paths)", ts.ot_coupling and flow)
    imgui.end_disabled()
    if not flow:
        imgui.same_line()
        imgui.text_disabled("(flow only)")
    state.train_settings = replace(ts, ot_coupling=ot and flow)


REFLOW_PAIRS = (1000, 50000)
REFLOW_STEPS = (100, 5000)
"""The ranges of the reflow sliders (within :data:`dexplorer.core.choices.REFLOW_PAIRS` and
:data:`dexplorer.core.choices.REFLOW_STEPS`)."""


def reflow_section(state: AppState, status: Status) -> None:
    """Reflow the single view's flow model: its settings, Reflow/Stop and progress, or why
    it cannot be reflowed."""
    imgui.text("Straighten the paths (reflow)")
    job = state.reflow_job
    if job is not None and job.progress.running:
        if imgui.button("stop##reflow"):
            state.stop_reflow()
        imgui.same_line()
        steps = job.trainer.step if job.trainer is not None else 0
        imgui.progress_bar(job.progress.fraction, (-1, 0), f"reflow step {steps}")
        imgui.text_wrapped(job.progress.message)
        return
    settings = state.reflow_settings
    _, pairs = imgui.slider_int("pairs##reflow", settings.pairs, *REFLOW_PAIRS)
    _, steps = imgui.slider_int("steps##reflow", settings.steps, *REFLOW_STEPS)
    state.reflow_settings = replace(settings, pairs=pairs, steps=steps)
    problem = status.loading or state.reflow_problem()  # its model is loaded with torch
    imgui.begin_disabled(bool(problem))
    if imgui.button("reflow"):
        state.start_reflow(status.device_name)
    imgui.end_disabled()
    if state.reflow_comparable:
        imgui.same_line()
        if imgui.button("compare with the reflowed"):
            state.compare_reflow()
    if problem:
        imgui.push_text_wrap_pos(0.0)
        imgui.text_disabled(problem)
        imgui.pop_text_wrap_pos()


def explain_window(state: AppState, scale: float) -> None:
    """The explain window (E): the current objective, sampler and layers in plain words."""
    if not state.look.show_explain:
        return
    imgui.set_next_window_pos((CONTROLS_WIDTH * scale + 20, 20), imgui.Cond_.first_use_ever)
    imgui.set_next_window_size((460 * scale, 420 * scale), imgui.Cond_.first_use_ever)
    opened, state.look.show_explain = imgui.begin("explain", True)
    if opened:
        visible = [name for name, shown in state.look.visible.items() if shown]
        run = state.run
        guided = run.model == "exact" and (run.label is not None or run.guidance is not None)
        text = explain(state.objective, run.sampler, visible, state.data.source, guided)
        editing = state.editor.tool if state.mode == "draw" and state.editor.live else ""
        imgui_md.render(text + explain_more(state.look.show_schedule, editing))
    imgui.end()


def keys_window(state: AppState) -> None:
    """The list of keys, shown with ?."""
    if not state.look.show_keys:
        return
    imgui.set_next_window_pos((CONTROLS_WIDTH + 40, 40), imgui.Cond_.first_use_ever)
    opened, state.look.show_keys = imgui.begin("keys", True, imgui.WindowFlags_.always_auto_resize)
    if opened:
        for keys, action in help_rows():
            imgui.text(f"{keys:>16}   {action}")
    imgui.end()


def computing_text(status: Status) -> str:
    """The steps computed of those wanted and the time left as measured ('' when all are
    computed)."""
    if status.computed >= status.wanted:
        return ""
    text = f"computing {status.computed}/{status.wanted} steps"
    left = status.seconds_left
    return text if left is None else f"{text}, about {duration(left)} left"


def duration(seconds: float) -> str:
    """``seconds`` in words as a time left is said: '40 s', '4 min', '1 h 10 min'."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"


def time_bar(
    state: AppState,
    width: float,
    height: float,
    scale: float = 1.0,
    loading: bool = False,
    computing: str = "",
) -> None:
    """The bottom bar: play/pause, step, the t slider, speed and loop; while ``loading``
    (or when loading failed: no trajectory yet) the slider says so, and while the runs are
    ``computing`` what is left."""
    left, bar = CONTROLS_WIDTH * scale, TIME_BAR_HEIGHT * scale
    flags = FIXED | imgui.WindowFlags_.no_title_bar
    begin_fixed("time", (left, height - bar), (width - left, bar), flags)
    if imgui.button("<", (32 * scale, 32 * scale)):
        state.step(-1)
    imgui.same_line()
    if imgui.button("pause" if state.playing else "play", (64 * scale, 32 * scale)):
        state.toggle_play()
    imgui.same_line()
    if imgui.button(">", (32 * scale, 32 * scale)):
        state.step(+1)
    imgui.same_line()
    imgui.set_next_item_width(max(width - left - 420 * scale, 100))
    label = "t = %.3f: no trajectories yet" if loading else "t = %.3f"
    if computing and not loading:
        label = f"{label}   {computing}"  # words and numbers: no % to escape
    changed, t = imgui.slider_float("##t", state.t, 0.0, 1.0, label)
    if changed:
        state.playing = False
        state.set_time(t)
    imgui.same_line()
    imgui.set_next_item_width(90 * scale)
    _, state.speed = imgui.slider_float("speed", state.speed, 0.05, 1.0, "%.2f/s")
    imgui.same_line()
    _, state.loop = imgui.checkbox("loop", state.loop)
    imgui.end()
