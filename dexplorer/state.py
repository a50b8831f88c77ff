"""The one state object: the settings the UI edits and the engine reads, the time, the
selection and the messages. UI actions are methods here, so tests can call them."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

from .comparison import PANEL_PARTICLES, VIEW_COUNTS, Panel, default_panel, parse_panel
from .core.checkpoints import Checkpoint, CheckpointError, load_checkpoint
from .core.datasets import DATASETS, Dataset, DatasetError, make_dataset
from .core.drawing import Drawing
from .core.importers import load_dataset_file
from .core.limits import GUIDANCE, MAX_PARTICLES, NOISE_SCALE, SEED
from .core.pretrained import pretrained_path
from .core.samplers import MAX_STEPS, SAMPLERS
from .core.training import DEFAULT_SECONDS, TrainingError, TrainSettings
from .engine.training_job import TrainingJob

LAYERS = ("particles", "density", "mesh", "paths", "vectors", "data", "source")
MODELS = ("flow", "diffusion", "exact", "trained")
SHIPPED = ("flow", "diffusion")
TRAINING_POINTS = 20000
POINT_SIZES = (1.0, 12.0)
"""The smallest and largest particle size (pixels at 1x)."""
OPACITIES = (0.05, 1.0)
"""The faintest and most opaque particles."""
_SHIPPED_CLASSES: dict[str, tuple[str, ...]] = {}


@dataclass(frozen=True)
class Settings:
    """Everything that decides the trajectories; changing one recomputes them."""

    dataset: str = "smiley"
    model: str = "flow"
    sampler: str = "heun"
    steps: int = 100
    n: int = 20000
    seed: int = 0
    eta: float = 0.0
    noise_scale: float = 1.0
    guidance: float = 1.0
    label: int | None = None

    def check(self) -> str:
        """What is wrong with these settings ('' when nothing)."""
        if self.dataset not in DATASETS and self.dataset != "custom":
            return f"unknown dataset {self.dataset!r}"
        if self.model not in MODELS:
            return f"unknown model {self.model!r}: choose {', '.join(MODELS)}"
        if self.sampler not in SAMPLERS:
            return f"unknown sampler {self.sampler!r}"
        if not 1 <= self.steps <= MAX_STEPS:
            return f"steps must be between 1 and {MAX_STEPS}"
        if not 1 <= self.n <= MAX_PARTICLES:
            return f"particles must be between 1 and {MAX_PARTICLES:,}"
        if not SEED.contains(self.seed):
            return f"seed must be between 0 and {SEED.high:,.0f}"
        if not 0 <= self.eta <= 1:
            return "eta must be between 0 and 1"
        if not NOISE_SCALE.contains(self.noise_scale):
            return f"noise scale must be between {NOISE_SCALE.low:g} and {NOISE_SCALE.high:g}"
        if not GUIDANCE.contains(self.guidance):
            return f"guidance must be between {GUIDANCE.low:g} and {GUIDANCE.high:g}"
        return ""


@dataclass
class Look:
    """How things are drawn; changing these never recomputes anything."""

    visible: dict[str, bool] = field(
        default_factory=lambda: {name: name not in ("mesh", "vectors", "source") for name in LAYERS}
    )
    color_mode: str = "uniform"
    point_size: float = 3.0
    opacity: float = 0.45
    theme: str = "light"
    ui_scale: float = 1.0
    """Presentation scale of the controls, fonts and time label, 1x to 3x."""
    show_ui: bool = True
    show_keys: bool = False
    show_explain: bool = False


@dataclass
class AppState:
    """Settings, look, time and selection; the UI calls the methods, the app reads fields."""

    settings: Settings = field(default_factory=Settings)
    look: Look = field(default_factory=Look)
    t: float = 0.0
    playing: bool = False
    speed: float = 0.25
    """Units of t per second of playback."""
    loop: bool = True
    selected: list[int] = field(default_factory=list)
    message: str = ""
    revision: int = 0
    """Bumped whenever ``settings`` (or the custom data or trained model in use) change, so
    the engine knows to restart."""
    custom: Dataset | None = None
    """The custom dataset (imported or drawn), shown when ``settings.dataset == "custom"``."""
    y_down: bool = False
    """Files opened next have their y axis pointing down (screen orientation)."""
    trained: Checkpoint | None = None
    """The model trained or loaded in the app, used when ``settings.model == "trained"``."""
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
    panels: list[Panel] = field(default_factory=list)
    """The comparison panels (2 or 4), or none for the single view."""
    sweep: int = 0
    """The quality-vs-steps measurement asked for (a new number for each request), 0 for
    none; any change of settings or panels cancels it."""
    _sweeps: int = 0
    _parked: list[Panel] = field(default_factory=list)
    """The panels of the last comparison, back when the view has panels again."""

    def change(self, **changes: object) -> bool:
        """Apply new settings if they are valid; otherwise keep the old ones and set a
        message. Returns whether anything changed."""
        proposed = replace(self.settings, **changes)
        problem = proposed.check() or self._availability(proposed)
        if problem:
            self.message = problem
            return False
        if proposed == self.settings:
            return False
        if proposed.dataset != self.settings.dataset or proposed.n != self.settings.n:
            self.selected.clear()
        dataset_changed = proposed.dataset != self.settings.dataset
        self.settings = proposed
        self.message = ""
        self.revision += 1
        self.sweep = 0
        if dataset_changed:
            self._fit_panels()
        return True

    def _availability(self, settings: Settings) -> str:
        """What the settings need that is not there ('' when nothing)."""
        if settings.dataset == "custom" and self.custom is None:
            return "there is no custom dataset yet: open a file or draw one"
        if settings.model == "trained" and self.trained is None:
            return "there is no trained model yet: train or load one"
        if settings.dataset == "custom" and settings.model in SHIPPED:
            return (
                "the shipped models know only the bundled datasets: "
                "train a model on this data or use the exact field"
            )
        return ""

    def use_custom(self, dataset: Dataset) -> None:
        """Show a custom dataset (imported or drawn); its exact field until a model is trained."""
        self.custom = dataset
        model = self.settings.model if self.settings.model not in SHIPPED else "exact"
        self.settings = replace(self.settings, dataset="custom", model=model, label=None)
        self.selected.clear()
        self.message = ""
        self.revision += 1
        self.sweep = 0
        self._fit_panels()

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
        try:
            checkpoint = load_checkpoint(path, device)
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

    def use_trained(self, checkpoint: Checkpoint) -> None:
        """Make a trained (or loaded) model the current one."""
        self.trained = checkpoint
        self.settings = replace(self.settings, model="trained", label=None)
        self.message = ""
        self.revision += 1
        self.sweep = 0
        self._fit_panels()

    def training_data(self) -> Dataset:
        """What the Train button trains on: the custom data, or the bundled dataset."""
        if self.settings.dataset == "custom" and self.custom is not None:
            return self.custom
        return make_dataset(self.settings.dataset, n=TRAINING_POINTS, seed=0)

    def start_training(self, device: str = "cpu") -> bool:
        """Train on the current data in the background; again after a stop, it resumes.
        Bad settings leave a message and start nothing."""
        job = self.job
        data = self.training_data()
        same = job is not None and job.resumes(data, self.train_settings)
        if job is not None and job.progress.running:
            return False
        try:
            if not same:
                job = TrainingJob(data, self.train_settings, device)
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

    @property
    def objective(self) -> str:
        """The objective of the current model ("flow", "diffusion", "vpred" or "exact")."""
        if self.settings.model == "trained" and self.trained is not None:
            return self.trained.objective.name
        return self.settings.model

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
        return self.change(dataset=names[index], label=None)

    def toggle_play(self) -> None:
        if not self.playing and self.t >= 1.0:
            self.t = 0.0
        self.playing = not self.playing

    def set_time(self, t: float) -> None:
        self.t = min(max(float(t), 0.0), 1.0)

    def step(self, direction: int) -> None:
        """Move one sampler step back (-1) or forward (+1) and pause (the finest panel's
        step when comparing)."""
        self.playing = False
        panels = self.panels
        steps = max(panel.steps for panel in panels) if panels else self.settings.steps
        index = round(self.t * steps) + direction
        self.set_time(min(max(index, 0), steps) / steps)

    def advance(self, seconds: float) -> None:
        """Playback: move time forward by ``seconds`` of wall time."""
        if not self.playing:
            return
        t = self.t + self.speed * seconds
        if t >= 1.0:
            if self.loop:
                t = 0.0
            else:
                t, self.playing = 1.0, False
        self.t = t

    def select(self, index: int, add: bool = False) -> None:
        """Select a particle (shift-click adds to the selection)."""
        if not add:
            self.selected = []
        if index not in self.selected:
            self.selected.append(index)

    def clear_selection(self) -> None:
        self.selected = []

    # --- comparison --------------------------------------------------------------------------

    def set_view(self, count: int) -> bool:
        """The single view (1), or 2 or 4 comparison panels; the panels of the last
        comparison are kept and new ones start from the defaults."""
        if count not in VIEW_COUNTS:
            self.message = f"a comparison has 2 or 4 panels, not {count}"
            return False
        wanted = 0 if count == 1 else count
        if wanted == len(self.panels):
            return False
        shipped = self.settings.dataset != "custom"
        kept = (self.panels or self._parked)[:wanted]
        if not wanted:
            self._parked = self.panels
        self.panels = kept + [default_panel(i, shipped) for i in range(len(kept), wanted)]
        self._fit_panels()
        self.sweep = 0
        self.message = ""
        return True

    def cycle_view(self) -> None:
        """Single view, then 2 panels, then 4, then the single view again (the C key)."""
        index = VIEW_COUNTS.index(max(len(self.panels), 1))
        self.set_view(VIEW_COUNTS[(index + 1) % len(VIEW_COUNTS)])

    def set_panels(self, specs: list[str]) -> bool:
        """Compare the panels named by ``specs`` (see :mod:`dexplorer.comparison`); on a bad
        spec, say which and why in ``message`` and keep the panels as they were."""
        if len(specs) not in (2, 4):
            self.message = f"a comparison needs 2 or 4 panels, got {len(specs)}"
            return False
        panels = []
        for spec in specs:
            try:
                panel = parse_panel(spec)
            except ValueError as error:
                self.message = f"{spec!r}: {error}"
                return False
            problem = self.panel_problem(panel)
            if problem:
                self.message = f"{spec!r}: {problem}"
                return False
            panels.append(panel)
        self.panels = panels
        self.sweep = 0
        self.message = ""
        return True

    def change_panel(self, index: int, **changes: object) -> bool:
        """Edit one panel if the result can run; otherwise keep it and set a message."""
        proposed = replace(self.panels[index], **changes)
        problem = proposed.check() or self.panel_problem(proposed)
        if problem:
            self.message = f"panel {index + 1}: {problem}"
            return False
        if proposed == self.panels[index]:
            return False
        self.panels[index] = proposed
        self.sweep = 0
        self.message = ""
        return True

    def panel_problem(self, panel: Panel) -> str:
        """What keeps ``panel`` from running on the current data ('' when nothing)."""
        problem = panel.check() or self._availability(replace(self.settings, model=panel.model))
        if problem:
            return problem
        if panel.label is None and panel.guidance is None:
            return ""
        classes = self.model_classes(panel.model)
        if not classes:
            what = "the exact field" if panel.model == "exact" else f"the {panel.model} model"
            return (
                f"{what} of {self.settings.dataset} has no classes: it takes no class or guidance"
            )
        if panel.label is not None and panel.label >= len(classes):
            return f"class {panel.label} does not exist: choose 0 to {len(classes) - 1}"
        return ""

    def model_classes(self, model: str) -> tuple[str, ...]:
        """The class names a model of the current data takes (none for the exact field)."""
        if model == "exact":
            return ()
        if model == "trained":
            return () if self.trained is None else self.trained.class_names
        name = f"{self.settings.dataset}/{model}"
        if name not in _SHIPPED_CLASSES:
            _SHIPPED_CLASSES[name] = load_checkpoint(pretrained_path(name)).class_names
        return _SHIPPED_CLASSES[name]

    def panel_settings(self, index: int) -> Settings:
        """The settings panel ``index`` runs: the shared data, seed and particles (at most
        ``PANEL_PARTICLES`` of them) with the panel's model and sampler."""
        panel = self.panels[index]
        return replace(
            self.settings,
            model=panel.model,
            sampler=panel.sampler,
            steps=panel.steps,
            eta=panel.eta,
            noise_scale=panel.noise_scale,
            guidance=1.0 if panel.guidance is None else panel.guidance,
            label=panel.label,
            n=min(self.settings.n, PANEL_PARTICLES[len(self.panels)]),
        )

    def _fit_panels(self) -> None:
        """After the data or the model changed: panels that cannot run any more fall back to
        the exact field, without a class."""
        for index, panel in enumerate(self.panels):
            plain = replace(panel, label=None, guidance=None)
            if self.panel_problem(panel):
                self.panels[index] = (
                    plain if not self.panel_problem(plain) else replace(plain, model="exact")
                )

    def measure_sweep(self) -> None:
        """Ask for the quality-vs-steps measurement of the panels' samplers."""
        self._sweeps += 1
        self.sweep = self._sweeps

    def cancel_sweep(self) -> None:
        self.sweep = 0
