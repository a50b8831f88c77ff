"""The one state object: the settings the UI edits and the engine reads, the time, the
selection and the messages. UI actions are methods here, so tests can call them."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .core.choices import DEFAULT_SECONDS, ReflowSettings, TrainingError, TrainSettings
from .core.datasets import DATASETS, Dataset, DatasetError, make_dataset
from .core.drawing import Drawing
from .core.editing import MAX_HISTORY, Edit, EditError, Editor, added, erased, moved, nearest
from .core.importers import load_dataset_file
from .core.runs import (
    PANEL_PARTICLES,
    SHIPPED,
    VIEW_COUNTS,
    Data,
    Request,
    Run,
    class_names,
    class_problem,
    default_comparison,
    parse_run,
)
from .core.sources import CUSTOM_SOURCE, GAUSSIAN, make_source

if TYPE_CHECKING:
    from .core.checkpoints import Checkpoint
    from .core.reflow import ReflowJob
    from .core.training_job import TrainingJob
    from .core.user_models import UserModel

LAYERS = (
    "particles",
    "density",
    "mesh",
    "paths",
    "vectors",
    "data",
    "source",
    "guess",
    "likelihood",
    "streaks",
)
HIDDEN_LAYERS = ("mesh", "vectors", "source", "guess", "likelihood", "streaks")
"""The layers off by default."""
DATA_KEYS = ("dataset", "n", "seed", "source")
"""The settings of :class:`~dexplorer.core.runs.Data`; the others are a run's."""
TRAINING_POINTS = 20000
REFLOW_COMPARISON = ("euler", 2)
"""The sampler and steps of the comparison a reflow ends with (original vs reflowed): few
Euler steps, where straight paths land and bent ones fall short."""
POINT_SIZES = (1.0, 12.0)
"""The smallest and largest particle size (pixels at 1x)."""
OPACITIES = (0.001, 1.0)
"""The faintest and most opaque particles."""
OPACITY = 0.45
"""The default opacity of a particle, up to ``OPACITY_PARTICLES`` of them."""
OPACITY_PARTICLES = 20_000
END_HOLD = 0.75
"""Seconds looped playback stays at t = 1, where the particles are the data, before t = 0."""


def opacity_decimals(opacity: float) -> int:
    """The decimals an opacity is shown (and rounded) with: two digits that count, at
    least three decimals."""
    return 3 if opacity >= 0.01 else 4


def default_opacity(n: int) -> float:
    """The default opacity for ``n`` particles: ``OPACITY`` up to ``OPACITY_PARTICLES``;
    above, each particle fainter, so that the cloud, whose optical depth grows with the
    number of particles over a pixel, looks as deep as ``OPACITY_PARTICLES`` particles do
    (the shape forming inside a dense cloud stays visible). Rounded as the slider shows it,
    within ``OPACITIES``."""
    if n <= OPACITY_PARTICLES:
        return OPACITY
    fainter = max(1 - (1 - OPACITY) ** (OPACITY_PARTICLES / n), OPACITIES[0])
    return round(fainter, opacity_decimals(fainter))


@dataclass
class Look:
    """How things are drawn; changing these never recomputes anything."""

    visible: dict[str, bool] = field(
        default_factory=lambda: {name: name not in HIDDEN_LAYERS for name in LAYERS}
    )
    color_mode: str = "uniform"
    point_size: float = 3.0
    opacity: float = OPACITY
    theme: str = "light"
    ui_scale: float = 1.0
    """Presentation scale of the controls, fonts and time label, 1x to 3x."""
    show_ui: bool = True
    show_keys: bool = False
    show_explain: bool = False
    show_schedule: bool = False
    """The schedule window: alpha, sigma and log-SNR of the runs' paths (P)."""


@dataclass
class AppState:
    """The data, the runs shown (one in the single view, 2 or 4 compared), the look, time
    and selection; the UI calls the methods, the app reads fields."""

    data: Data = field(default_factory=Data)
    runs: list[Run] = field(default_factory=lambda: [Run()])
    """What the panels run: one in the single view, 2 or 4 in a comparison."""
    look: Look = field(default_factory=Look)
    t: float = 0.0
    playing: bool = False
    speed: float = 0.25
    """Units of t per second of playback."""
    loop: bool = True
    held: float = 0.0
    """Seconds of looped playback spent at t = 1 so far (see :data:`END_HOLD`)."""
    selected: list[int] = field(default_factory=list)
    message: str = ""
    revision: int = 0
    """Bumped whenever the data, the custom points or the trained model change (every run
    restarts then); a run alone restarts when its value changes."""
    custom: Dataset | None = None
    """The custom dataset (imported or drawn), shown when ``data.dataset == "custom"``."""
    custom_source: Dataset | None = None
    """The points of the source "custom-source" (imported), used when ``data.source`` is
    that (:mod:`~dexplorer.core.sources`)."""
    y_down: bool = False
    """Files opened next have their y axis pointing down (screen orientation)."""
    trained: Checkpoint | None = None
    """The model trained or loaded in the app, used by runs of the model "trained"."""
    yours: UserModel | None = None
    """A model of the user's own (:mod:`~dexplorer.core.user_models`), used by runs of the
    model "yours"."""
    train_settings: TrainSettings = field(default_factory=TrainSettings)
    train_unit: str = "seconds"
    """The training budget is counted in "seconds" (wall time) or "steps"."""
    train_seconds: float = DEFAULT_SECONDS
    train_steps: int = 2000
    job: TrainingJob | None = None
    """The training run of the app (resumable), if any."""
    _job_runs_seen: int = 0
    mode: str = "select"
    """What a click in the view does: "select" a particle, or "draw" with the brush."""
    drawing: Drawing | None = None
    editor: Editor = field(default_factory=Editor)
    """The live-editing tool of draw mode and its history (:mod:`~dexplorer.core.editing`)."""
    sweep: int = 0
    """The quality-vs-steps measurement asked for (a new number for each request), 0 for
    none; any change of the data or the runs cancels it."""
    _sweeps: int = 0
    reflowed: Checkpoint | None = None
    """The reflowed model made in the app (:mod:`~dexplorer.core.reflow`), used by runs of
    the model "reflowed"."""
    reflow_settings: ReflowSettings = field(default_factory=ReflowSettings)
    reflow_job: ReflowJob | None = None
    """The reflow under way or last made, if any."""
    _reflow_runs_seen: int = 0
    reflow_from: str = ""
    """The model name the reflow under way started from ("flow" or "trained")."""
    exports: list[tuple[str, str]] = field(default_factory=list)
    """Screenshots and recordings asked for by the controls, (kind, path) with kind
    "screenshot" or "record" and path '' for a time-stamped name; the app takes them."""
    _single: Run | None = None
    """The single view's run, kept while comparing."""
    _parked: list[Run] = field(default_factory=list)
    """The runs of the last comparison, back when the view compares again."""

    # --- the single view's run and the data ----------------------------------------------------

    @property
    def run(self) -> Run:
        """The single view's run (kept while comparing, for when the view is single again)."""
        return self.runs[0] if self._single is None else self._single

    @property
    def comparing(self) -> bool:
        return len(self.runs) > 1

    def _set_run(self, run: Run) -> None:
        if self._single is None:
            self.runs[0] = run
        else:
            self._single = run

    def change(self, **changes: object) -> bool:
        """Apply new data and single-view run settings (``dataset``, ``n``, ``seed`` and any
        field of :class:`~dexplorer.core.runs.Run`) if they are valid; otherwise keep the
        old ones and set a message. Returns whether anything changed."""
        data_changes = {key: changes.pop(key) for key in DATA_KEYS if key in changes}
        try:
            data = replace(self.data, **data_changes)
            run = replace(self.run, **changes)
        except TypeError as error:
            self.message = str(error)
            return False
        run, note = (run, "") if "model" in changes else self._model_for(data, run)
        problem = data.check() or self.run_problem(run, data)
        if problem:
            self.message = problem
            return False
        if (data, run) == (self.data, self.run):
            return False
        if data.dataset != self.data.dataset or data.n != self.data.n:
            self.selected.clear()
        drawn = self.particles()
        data_changed = data != self.data
        dataset_changed = data.dataset != self.data.dataset
        self.data = data
        self._set_run(run)
        self._follow_opacity(drawn)
        self.message = note
        if data_changed or self._single is None:
            self.revision += 1
        self.sweep = 0
        if dataset_changed:
            self._fit_runs()
        return True

    def _model_for(self, data: Data, run: Run) -> tuple[Run, str]:
        """The run on another bundled dataset chosen alone: a model trained here on other
        data gives way to that dataset's shipped model of its kind (it stays in the model
        list, to be chosen with any data), and why."""
        trained = self.trained
        if (
            data.dataset == self.data.dataset
            or data.dataset == "custom"
            or run.model != "trained"
            or trained is None
            or trained.dataset == data.dataset
        ):
            return run, ""
        shipped = "flow" if trained.objective.name == "flow" else "diffusion"
        candidate = replace(run, model=shipped, label=None, guidance=None)
        if self.run_problem(candidate, data):  # e.g. from a source the shipped one is not
            return run, ""
        note = (
            f"the model trained here learnt {trained.dataset}, not {data.dataset}: "
            f"showing the shipped {shipped} model (the trained one is still in the list)"
        )
        return candidate, note

    def _availability(self, data: Data, run: Run) -> str:
        """What ``run`` on ``data`` needs that is not there ('' when nothing)."""
        if data.dataset == "custom" and self.custom is None:
            return "there is no custom dataset yet: open a file or draw one"
        if run.model == "trained" and self.trained is None:
            return "there is no trained model yet: train or load one"
        if run.model == "yours" and self.yours is None:
            return "there is no model of yours yet: pass one with use_model"
        if run.model == "reflowed" and self.reflowed is None:
            return "there is no reflowed model yet: reflow a flow model first"
        if data.source == CUSTOM_SOURCE and self.custom_source is None:
            return "there is no custom source yet: open a points file as the source"
        if data.dataset == "custom" and run.model in SHIPPED:
            return (
                "the shipped models know only the bundled datasets: "
                "train a model on this data or use the exact field"
            )
        return ""

    def run_problem(self, run: Run, data: Data | None = None) -> str:
        """What keeps ``run`` from running on ``data`` (the current data by default): the
        one check every entry point uses ('' when nothing)."""
        data = data or self.data
        problem = run.check() or self._availability(data, run)
        if problem:
            return problem
        what = "the exact field" if run.model == "exact" else f"the {run.model} model"
        classes = self.model_classes(run.model, data)
        return class_problem(run, classes, f"{what} of {data.dataset}") or self._source_problem(
            run, data
        )

    def _source_problem(self, run: Run, data: Data) -> str:
        """Why ``run``'s model cannot start from the data's source ('' when it can)."""
        from_gaussian = self.trained is None or self.trained.source == GAUSSIAN
        if data.source == GAUSSIAN and (run.model != "trained" or from_gaussian):
            return ""
        from .core import models

        found = models.checkpoint(
            run.model, data.dataset, self.trained, "cpu", self.yours, self.reflowed
        )
        return models.source_problem(found, run, data)

    def model_classes(self, model: str, data: Data | None = None) -> tuple[str, ...]:
        """The class names a model of the data takes (the data's own for the exact field)."""
        data = data or self.data
        if model == "exact" and data.dataset == "custom":
            custom = self.custom
            return () if custom is None or custom.labels is None else custom.class_names
        return class_names(model, data.dataset, self.trained, self.reflowed)

    def adopt(self, other: AppState) -> None:
        """Show what ``other`` holds (a session opened on a trial state): its custom data,
        trained model, data and runs (the single view's run kept while comparing)."""
        self.custom, self.trained, self.yours = other.custom, other.trained, other.yours
        self.reflowed = other.reflowed
        self.custom_source = other.custom_source
        drawn = self.particles()
        self.data, self.runs = other.data, list(other.runs)
        self._single, self._parked = other._single, []
        self._follow_opacity(drawn)

    def _follow_opacity(self, drawn: int) -> None:
        """After a change of the particles a panel draws (their number, or the panels'):
        an opacity left at the default for the ``drawn`` before follows the number drawn
        now (one the user chose stays). The slider's float32 is the default too."""
        if math.isclose(self.look.opacity, default_opacity(drawn), rel_tol=1e-6):
            self.look.opacity = default_opacity(self.particles())

    def use_custom(self, dataset: Dataset) -> None:
        """Show a custom dataset (imported or drawn); its exact field until a model is trained."""
        self.custom = dataset
        run = self.run
        model = run.model if run.model not in SHIPPED else "exact"
        self.data = replace(self.data, dataset="custom")
        self._set_run(replace(run, model=model, label=None, guidance=None))
        self.selected.clear()
        self.message = ""
        self.revision += 1
        self.sweep = 0
        self._fit_runs()

    def choose_source(self, name: str) -> bool:
        """Start the particles from the source ``name`` (see
        :mod:`~dexplorer.core.sources`). A single view's model that cannot start from it (a
        shipped model, trained from N(0, I); a diffusion model) gives way to the exact field
        and the message says why; compared runs fall back as for new data. A bad name or a
        missing custom source is a message and changes nothing."""
        data = replace(self.data, source=name)
        problem = data.check() or self._availability(data, self.run)
        if problem:
            self.message = problem
            return False
        run, why = self.run, self.run_problem(self.run, data)
        if why:
            run = replace(run, model="exact", label=None, guidance=None)
            if self.run_problem(run, data):
                run = replace(run, sampler="heun")
        if (data, run) == (self.data, self.run):
            return False
        self.data = data
        self._set_run(run)
        self.message = f"{why} (the view shows the exact field)" if why else ""
        self.revision += 1
        self.sweep = 0
        self._fit_runs()
        return True

    def open_source(self, path: str) -> bool:
        """Load a .csv, .json or image file as the custom source and start from it; on a
        bad file, say why in ``message`` and keep everything as it was."""
        try:
            self.custom_source = load_dataset_file(path, y_down=self.y_down)
        except DatasetError as error:
            self.message = str(error)
            return False
        if self.data.source != CUSTOM_SOURCE:
            return self.choose_source(CUSTOM_SOURCE)
        self.message = ""
        self.revision += 1  # new points: every run restarts
        self.sweep = 0
        return True

    def open_data(self, path: str) -> bool:
        """Load a .csv, .json or image file as the custom dataset (turned the right way up
        when ``y_down``); on a bad file, say why in ``message`` and keep everything as it
        was."""
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                dataset = load_dataset_file(path, y_down=self.y_down)
        except DatasetError as error:
            self.message = str(error)
            return False
        self.use_custom(dataset)
        self.message = "; ".join(str(w.message) for w in caught)
        return True

    def save_model(self, path: str) -> bool:
        """Save the trained model (safetensors + metadata); a failure is a message."""
        model = self.trained
        if model is None:
            self.message = "there is no trained model to save: train or load one first"
            return False
        try:
            model.save(path)
        except (OSError, ValueError) as error:
            self.message = f"could not save the model to {path}: {error}"
            return False
        self.message = f"saved the model to {path}"
        return True

    def load_model(self, path: str, device: str = "cpu") -> bool:
        """Load a model file and make it the current model; a bad file is a message and
        nothing is replaced."""
        from .core import models
        from .core.checkpoints import CheckpointError

        try:
            checkpoint = models.from_file(path, device)
        except CheckpointError as error:
            self.message = str(error)
            return False
        self.use_trained(checkpoint)
        return True

    def finish_stroke(self) -> None:
        """End the brush stroke; the drawing becomes the custom dataset shown."""
        if self.drawing is None or not self.drawing.end():
            return
        try:
            dataset = self.drawing.dataset()
        except DatasetError as error:
            self.message = str(error)
            return
        self.use_custom(dataset)

    # --- live edits (draw mode with the drag, add and erase tools) ----------------------------

    def edit_press(self, x: float, y: float) -> bool:
        """A press at world point (x, y) with the editor's tool: add a point there, erase
        the nearest one, or pick it to drag. Returns whether it did; otherwise
        ``message`` says why and the data is as it was."""
        editor, data = self.editor, self.custom
        if self.data.dataset != "custom" or data is None:
            self.message = (
                "live edits change custom data: paint some with the brush or open a file first"
            )
            return False
        if editor.tool == "add":
            label = 0 if self.drawing is None else self.drawing.label
            return self._edit(lambda: added(data, x, y, label, editor.last), data)
        index = nearest(data, x, y, editor.reach)
        if index is None:
            self.message = f"no data point within {editor.reach:g} of the pointer to {editor.tool}"
            return False
        if editor.tool == "erase":
            return self._edit(lambda: erased(data, index, editor.last), data)
        editor.dragging = index
        self._mark(data)
        self.message = ""
        return True

    def edit_move(self, x: float, y: float) -> bool:
        """Drag the picked point to world point (x, y) (nothing when none is picked)."""
        index, data = self.editor.dragging, self.custom
        if index is None or data is None:
            return False
        return self._edit(lambda: moved(data, index, x, y, self.editor.last))

    def edit_release(self) -> None:
        """End a drag; the drawing, when the data is its, is saved."""
        self.editor.dragging = None
        drawing = self.drawing
        if drawing is not None and self.custom is not None and drawing.made is self.custom:
            drawing.save()

    def undo_edit(self) -> bool:
        """Take back the last edit (a whole drag is one): the drawing's undo when the data
        is the drawing, otherwise the editor's history. Every run restarts."""
        drawing = self.drawing
        if drawing is not None and self.custom is not None and drawing.made is self.custom:
            drawing.undo()
            if len(drawing.points) < 2:
                self.message = "the drawing had fewer than 2 points before: nothing to show"
                return False
            self._restore(drawing.dataset())
            return True
        if not self.editor.history:
            self.message = "no edit to undo"
            return False
        self._restore(self.editor.history.pop())
        return True

    def _restore(self, dataset: Dataset) -> None:
        self.custom = dataset
        self.editor.last = None
        self.message = ""
        self.revision += 1
        self.sweep = 0

    def _mark(self, data: Dataset) -> None:
        """One undo step for the edit starting now."""
        if self.drawing is not None and self.drawing.made is data:
            self.drawing.mark()
        else:
            self.editor.history.append(data)
            del self.editor.history[:-MAX_HISTORY]

    def _edit(self, make: Callable[[], Edit], mark: Dataset | None = None) -> bool:
        """Make an edit (``mark``: the data before it, for a new undo step)."""
        try:
            edit = make()
        except EditError as error:
            self.message = str(error)
            return False
        if mark is not None:
            self._mark(mark)
        drawing = self.drawing
        if drawing is not None and drawing.made is edit.before:
            drawing.adopt(edit.after)
            if mark is not None:
                drawing.save()
        self.editor.last = edit
        self.custom = edit.after
        self.message = ""
        self.sweep = 0
        return True

    def use_trained(self, checkpoint: Checkpoint) -> None:
        """Make a trained (or loaded) model the single view's model."""
        self.trained = checkpoint
        self._switch_model("trained")

    def use_model(self, model: UserModel) -> None:
        """Make a model of the user's own the single view's model ("yours")."""
        self.yours = model
        self._switch_model("yours")

    def _switch_model(self, name: str) -> None:
        """The single view's run takes the model ``name``, without a class; every run
        restarts (the model behind a name changed)."""
        self._set_run(replace(self.run, model=name, label=None, guidance=None))
        self.message = ""
        self.revision += 1
        self.sweep = 0
        self._fit_runs()

    def training_data(self) -> Dataset:
        """What the Train button trains on: the custom data, or the bundled dataset."""
        if self.data.dataset == "custom" and self.custom is not None:
            return self.custom
        return make_dataset(self.data.dataset, n=TRAINING_POINTS, seed=0)

    def start_training(self, device: str = "cpu") -> bool:
        """Train on the current data in the background; again after a stop, it resumes.
        Bad settings leave a message and start nothing."""
        from .core.training_job import TrainingJob

        job = self.job
        data = self.training_data()
        try:
            source = make_source(self.data.source, self.custom_source)
        except ValueError as error:
            self.message = str(error)
            return False
        same = job is not None and job.resumes(data, self.train_settings, source)
        if job is not None and job.progress.running:
            return False
        try:
            if not same:
                job = TrainingJob(data, self.train_settings, device, source)
                self._job_runs_seen = 0
        except TrainingError as error:
            self.message = str(error)
            return False
        self.job = job
        self.message = ""
        if self.train_unit == "steps":
            job.start(steps=self.train_steps)
        else:
            job.start(seconds=self.train_seconds)
        return True

    def stop_training(self) -> None:
        if self.job is not None:
            self.job.stop()

    def poll_training(self) -> None:
        """Called every frame: when a run has ended, its model becomes the current one
        (unless it failed: then only its message is shown)."""
        job = self.job
        if job is None or job.progress.finished == self._job_runs_seen:
            return
        self._job_runs_seen = job.progress.finished
        if job.trainer.step and not job.progress.failed:
            self.use_trained(job.checkpoint())
        self.message = job.progress.message

    # --- reflow ------------------------------------------------------------------------------

    def reflow_problem(self) -> str:
        """What keeps the single view's run from being reflowed ('' when nothing): its
        model must be a flow model, shipped, trained or loaded."""
        run = self.run
        if run.model == "reflowed":
            return "this is the reflowed model: save it and load it to reflow it again"
        if run.model in ("exact", "yours", "diffusion"):
            names = {"exact": "the exact field", "yours": "a model of yours"}
            shown = names.get(run.model, "a diffusion model")
            return f"reflow needs a flow model (shipped, trained or loaded): this is {shown}"
        problem = self._availability(self.data, run)
        if problem:
            return problem
        from .core.reflow import reflow_problem

        try:
            return reflow_problem(self._model(run.model))
        except ValueError as error:  # a shipped model missing
            return str(error)

    def _model(self, name: str) -> Checkpoint | UserModel | None:
        """The checkpoint a model name stands for on the current data."""
        from .core import models

        return models.checkpoint(
            name, self.data.dataset, self.trained, yours=self.yours, reflowed=self.reflowed
        )

    def start_reflow(self, device: str = "cpu") -> bool:
        """Reflow the single view's flow model in the background; when it is done, the
        reflowed model is compared with it. A model that cannot be reflowed, or a reflow
        already running, leaves a message and starts nothing."""
        from .core.reflow import ReflowError, ReflowJob

        problem = self.reflow_problem()
        if not problem and self.reflow_job is not None and self.reflow_job.progress.running:
            problem = "a reflow is already running: stop it first"
        if problem:
            self.message = problem
            return False
        try:
            job = ReflowJob(self._model(self.run.model), self.reflow_settings, device)
        except ReflowError as error:
            self.message = str(error)
            return False
        self.reflow_job, self.reflow_from = job, self.run.model
        self._reflow_runs_seen = job.progress.finished
        self.message = ""
        job.start()
        return True

    def stop_reflow(self) -> None:
        if self.reflow_job is not None:
            self.reflow_job.stop()

    def poll_reflow(self) -> None:
        """Called every frame: when a reflow has ended with a model, it becomes the
        reflowed model, compared with the model it came from (if that is still the model
        of its name)."""
        job = self.reflow_job
        if job is None or job.progress.finished == self._reflow_runs_seen:
            return
        self._reflow_runs_seen = job.progress.finished
        self.message = job.progress.message
        if not job.trained:
            return
        self.reflowed = job.checkpoint()
        self.revision += 1
        self.sweep = 0
        if not self.reflow_comparable:
            self.message += (
                f"; the {self.reflow_from} model changed meanwhile: choose the model "
                "'reflowed' to see the reflowed one"
            )
            self._fit_runs()
            return
        self.compare_reflow()

    @property
    def reflow_comparable(self) -> bool:
        """Whether the reflowed model can be shown beside its original: the model name
        the reflow started from still stands for the model it reflowed."""
        job = self.reflow_job
        if job is None or self.reflowed is None:
            return False
        if self._availability(self.data, Run(self.reflow_from)):
            return False
        try:
            return self._model(self.reflow_from) is job.original
        except ValueError:
            return False

    def compare_reflow(self) -> None:
        """Show the reflowed model beside the model it came from, both sampled with
        :data:`REFLOW_COMPARISON` (when :attr:`reflow_comparable`; otherwise a message)."""
        if not self.reflow_comparable:
            self.message = f"the {self.reflow_from} model is not the one that was reflowed"
            return
        sampler, steps = REFLOW_COMPARISON
        original = Run(self.reflow_from, sampler, steps)
        if not self.comparing:
            self._single = self.run
        drawn = self.particles()
        self.runs = [original, replace(original, model="reflowed")]
        self._follow_opacity(drawn)
        self.sweep = 0

    @property
    def objective(self) -> str:
        """The objective of the single view's model ("flow", "diffusion", "vpred" or
        "exact")."""
        if self.run.model == "trained" and self.trained is not None:
            return self.trained.objective.name
        if self.run.model == "reflowed":
            return "flow"
        return self.run.model

    def export(self, kind: str, path: str = "") -> None:
        """Ask for a screenshot ("screenshot") or to start or stop recording ("record"),
        to ``path`` ('' for a time-stamped name in the current folder)."""
        self.exports.append((kind, path))

    def scale_ui(self, direction: int) -> None:
        """Larger (+1) or smaller (-1) controls and text, in quarter steps from 1x to 3x."""
        self.look.ui_scale = min(max(self.look.ui_scale + 0.25 * direction, 1.0), 3.0)

    def jump(self, t: float) -> None:
        """Go to time t and pause (Home and End)."""
        self.playing = False
        self.set_time(t)

    def choose_dataset(self, index: int) -> bool:
        """The index-th bundled dataset (the number keys)."""
        names = list(DATASETS)
        if not 0 <= index < len(names):
            return False
        return self.change(dataset=names[index], label=None, guidance=None)

    def toggle_play(self) -> None:
        if not self.playing and self.t >= 1.0:
            self.t = 0.0
        self.playing = not self.playing

    def set_time(self, t: float) -> None:
        self.t = min(max(float(t), 0.0), 1.0)
        self.held = 0.0

    def step(self, direction: int) -> None:
        """Move one sampler step back (-1) or forward (+1) and pause (the finest run's step
        when comparing)."""
        self.playing = False
        steps = max(run.steps for run in self.runs)
        index = round(self.t * steps) + direction
        self.set_time(min(max(index, 0), steps) / steps)

    def advance(self, seconds: float, computed: float = 1.0) -> None:
        """Playback: move time forward by ``seconds`` of wall time, waiting at the time
        ``computed`` so far (never back before it) while the runs compute."""
        if not self.playing:
            return
        t = self.t + self.speed * seconds
        if computed < 1.0 and t > computed:
            t = max(self.t, computed)
        elif t >= 1.0 and self.loop and self.t >= 1.0:  # shown at t = 1: held, then again
            self.held += seconds
            t = 1.0 if self.held < END_HOLD else 0.0
        elif t >= 1.0:  # the data are shown whatever the frame rate
            t, self.held = 1.0, 0.0
            self.playing = self.loop
        self.t = t

    def select(self, index: int, add: bool = False) -> None:
        """Select a particle (shift-click adds to the selection)."""
        if not add:
            self.selected = []
        if index not in self.selected:
            self.selected.append(index)

    def clear_selection(self) -> None:
        self.selected = []

    # --- the runs ---------------------------------------------------------------------------------

    def request(self) -> Request:
        """What the engine is asked to show now (the app sends it once a frame)."""
        return Request(
            self.data,
            tuple(self.runs),
            self.particles(),
            self.revision,
            self.custom,
            self.trained,
            self.yours,
            self.sweep,
            self.reflowed,
            edit=self.editor.last,
            custom_source=self.custom_source,
        )

    def particles(self, count: int | None = None) -> int:
        """How many particles each panel runs when ``count`` panels are shown (the
        panels shown now by default): the data's, at most ``PANEL_PARTICLES``."""
        return min(self.data.n, PANEL_PARTICLES[count or len(self.runs)])

    def set_view(self, count: int) -> bool:
        """The single view (1), or 2 or 4 compared runs; the runs of the last comparison
        are kept and new ones start from the defaults."""
        if count not in VIEW_COUNTS:
            self.message = f"a comparison has 2 or 4 panels, not {count}"
            return False
        if count == len(self.runs):
            return False
        drawn = self.particles()
        if count == 1:
            self._parked, self.runs, self._single = self.runs, [self.run], None
        else:
            shipped = self.data.dataset != "custom"
            kept = (self.runs if self.comparing else self._parked)[:count]
            self._single = self.run
            self.runs = kept + [default_comparison(i, shipped) for i in range(len(kept), count)]
            self._fit_runs()
        self._follow_opacity(drawn)
        self.sweep = 0
        self.message = ""
        return True

    def cycle_view(self) -> None:
        """Single view, then 2 panels, then 4, then the single view again (the C key)."""
        index = VIEW_COUNTS.index(len(self.runs))
        self.set_view(VIEW_COUNTS[(index + 1) % len(VIEW_COUNTS)])

    def set_runs(self, specs: list[str]) -> bool:
        """Compare the runs named by ``specs`` (see :mod:`dexplorer.core.runs`); on a bad
        spec, say which and why in ``message`` and keep the runs as they were."""
        if len(specs) not in (2, 4):
            self.message = f"a comparison needs 2 or 4 panels, got {len(specs)}"
            return False
        runs = []
        for spec in specs:
            try:
                run = parse_run(spec)
            except ValueError as error:
                self.message = f"{spec!r}: {error}"
                return False
            problem = self.run_problem(run)
            if problem:
                self.message = f"{spec!r}: {problem}"
                return False
            runs.append(run)
        if not self.comparing:
            self._single = self.run
        drawn = self.particles()
        self.runs = runs
        self._follow_opacity(drawn)
        self.sweep = 0
        self.message = ""
        return True

    def change_run(self, index: int, **changes: object) -> bool:
        """Edit the run of panel ``index`` if the result can run; otherwise keep it and set
        a message."""
        proposed = replace(self.runs[index], **changes)
        problem = self.run_problem(proposed)
        if problem:
            self.message = f"panel {index + 1}: {problem}" if self.comparing else problem
            return False
        if proposed == self.runs[index]:
            return False
        self.runs[index] = proposed
        self.sweep = 0
        self.message = ""
        return True

    def _fit_runs(self) -> None:
        """After the data or the model changed: compared runs that cannot run any more fall
        back to the exact field, without a class."""
        if not self.comparing:
            return
        for index, run in enumerate(self.runs):
            plain = replace(run, label=None, guidance=None)
            if self.run_problem(run):
                exact = replace(plain, model="exact")
                if not self.run_problem(plain):
                    exact = plain
                elif self.run_problem(exact):  # a noisy sampler from a point source
                    exact = replace(exact, sampler="heun")
                self.runs[index] = exact

    def measure_sweep(self) -> None:
        """Ask for the quality-vs-steps measurement of the compared runs' samplers."""
        self._sweeps += 1
        self.sweep = self._sweeps

    def cancel_sweep(self) -> None:
        self.sweep = 0
