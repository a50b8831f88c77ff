"""What decides a trajectory, declared once: a :class:`Run` (model, sampler and its
parameters) over :class:`Data` (dataset, particles, seed) shared by every panel, with the one
check and the one set of messages that the controls, ``--compare`` specs, sessions and the
command line all use.

A run spec is ``MODEL:SAMPLER:STEPS`` followed by any of ``:eta=E`` (ddim only),
``:noise=S`` (euler_maruyama only), ``:class=K`` and ``:guidance=W`` (conditional models
only), for example ``flow:heun:50`` or ``diffusion:ddim:50:eta=0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from . import limits
from .choices import sampler_problem
from .datasets import DATASETS, make_dataset
from .pretrained import shipped_class_names
from .sources import GAUSSIAN, gaussian_only, name_problem
from .sources import title as source_title

if TYPE_CHECKING:
    from .checkpoints import Checkpoint
    from .datasets import Dataset
    from .editing import Edit
    from .user_models import UserModel

CLASS_POINTS = 64
"""Points generated to learn a bundled dataset's class names."""
MODELS = ("flow", "diffusion", "exact", "trained", "yours", "reflowed")
"""What a run samples: a shipped model of the dataset, its exact field, the model trained
(or loaded) in the app, a user's own model (:mod:`~dexplorer.core.user_models`), or the
reflowed model made in the app (:mod:`~dexplorer.core.reflow`)."""
SHIPPED = ("flow", "diffusion")
"""The models shipped for every bundled dataset."""
VIEW_COUNTS = (1, 2, 4)
"""The single view, two panels side by side, or four in a 2 x 2 grid."""
PANEL_PARTICLES = {1: limits.MAX_PARTICLES, 2: 10000, 4: 5000}
"""At most this many particles per panel, so that all panels together cost what the single
view costs to draw."""
DEFAULT_COMPARISON = ("flow:heun:50", "diffusion:ddim:50", "flow:euler:4", "diffusion:ddpm:100")
"""The runs a new comparison starts with."""
SPEC_SYNTAX = "MODEL:SAMPLER:STEPS[:eta=E][:noise=S][:class=K][:guidance=W]"
OPTION_SAMPLERS = {"eta": "ddim", "noise": "euler_maruyama"}
"""The spec options that only one sampler takes."""


@dataclass(frozen=True)
class Data:
    """What every panel shares: the dataset ("custom" for imported or drawn points), the
    number of particles, the seed of their starting noise, and the source they start from
    (:mod:`~dexplorer.core.sources`: "gaussian", a bundled dataset, or "custom-source")."""

    dataset: str = "smiley"
    n: int = 20000
    seed: int = 0
    source: str = GAUSSIAN

    def check(self) -> str:
        """What is wrong with this data on its own ('' when nothing)."""
        if self.dataset not in DATASETS and self.dataset != "custom":
            return f"unknown dataset {self.dataset!r}: choose {', '.join(DATASETS)} or custom"
        return (
            limits.PARTICLES.problem("particles", self.n)
            or limits.SEED.problem("seed", self.seed)
            or name_problem(self.source)
        )


@dataclass(frozen=True)
class Run:
    """What decides one trajectory over the shared data: a model, a sampler and its
    parameters. ``guidance`` and ``label`` are ``None`` when not set (conditional models
    then draw each particle's class in the data's proportions, with guidance 1)."""

    model: str = "flow"
    sampler: str = "heun"
    steps: int = 100
    eta: float = 0.0
    noise_scale: float = 1.0
    guidance: float | None = None
    label: int | None = None

    def check(self) -> str:
        """What is wrong with this run on its own ('' when nothing); whether its model
        takes a class is :func:`class_problem`'s to say."""
        if self.model not in MODELS:
            return f"unknown model {self.model!r}: choose {', '.join(MODELS)}"
        problems = (
            sampler_problem(self.sampler),
            limits.STEPS.problem("steps", self.steps),
            limits.ETA.problem("eta", self.eta),
            limits.NOISE_SCALE.problem("noise scale", self.noise_scale),
            "" if self.guidance is None else limits.GUIDANCE.problem("guidance", self.guidance),
            "" if self.label is None else limits.CLASS.problem("class", self.label),
        )
        return next((problem for problem in problems if problem), "")

    @property
    def guidance_scale(self) -> float:
        """The guidance the field uses (1 when not set)."""
        return 1.0 if self.guidance is None else self.guidance

    @property
    def spec(self) -> str:
        """This run as a ``--compare`` spec."""
        parts = [self.model, self.sampler, str(self.steps)]
        if self.sampler == "ddim":
            parts.append(f"eta={self.eta:g}")
        if self.sampler == "euler_maruyama":
            parts.append(f"noise={self.noise_scale:g}")
        if self.label is not None:
            parts.append(f"class={self.label}")
        if self.guidance is not None:
            parts.append(f"guidance={self.guidance:g}")
        return ":".join(parts)

    @property
    def title(self) -> str:
        """A short caption, e.g. ``"diffusion · ddim 50, eta 0"``."""
        return f"{self.model} · {self.sampler} {self.steps}{self._details}"

    @property
    def method(self) -> str:
        """The caption without the steps, e.g. ``"diffusion · ddim, eta 0"``."""
        return f"{self.model} · {self.sampler}{self._details}"

    @property
    def _details(self) -> str:
        details = ""
        if self.sampler == "ddim":
            details += f", eta {self.eta:g}"
        if self.sampler == "euler_maruyama":
            details += f", noise {self.noise_scale:g}"
        if self.label is not None:
            details += f", class {self.label}"
        if self.guidance is not None:
            details += f", w {self.guidance:g}"
        return details


def class_names(
    model: str, dataset: str, trained: Checkpoint | None, reflowed: Checkpoint | None = None
) -> tuple[str, ...]:
    """The classes a run of ``model`` on ``dataset`` may choose (the bundled dataset's for
    the exact field; none for a user's model; a custom dataset's are the caller's to
    know; a shipped model's from its file's header, without loading it)."""
    if model == "exact":
        return make_dataset(dataset, n=CLASS_POINTS).class_names if dataset in DATASETS else ()
    if model in ("trained", "reflowed"):
        found = trained if model == "trained" else reflowed
        return () if found is None else found.class_names
    if model == "yours":
        return ()
    return shipped_class_names(f"{dataset}/{model}")


def class_problem(run: Run, classes: tuple[str, ...], what: str) -> str:
    """What is wrong with ``run``'s class and guidance for a model with ``classes`` ('' when
    nothing); ``what`` names the model in the message (e.g. "the flow model of moons").
    Guidance 1 is no guidance: every model takes it."""
    if run.label is None and run.guidance in (None, 1.0):
        return ""
    if not classes:
        return f"{what} has no classes: it takes no class or guidance"
    if run.label is not None and run.label >= len(classes):
        return f"class {run.label} does not exist: choose 0 to {len(classes) - 1}"
    return ""


NOISY_SAMPLERS = {"ddpm": "", "ddim": "eta", "euler_maruyama": "noise_scale"}
"""The samplers that add Gaussian noise (always, or when the named setting is above 0)."""


def source_problem(run: Run, source: str, objective: str, trained_from: str, what: str) -> str:
    """What keeps ``run`` from starting at ``source`` ('' when nothing): ``objective`` is
    its model's ("exact", "flow", "diffusion" or "vpred"), ``trained_from`` the source the
    model was trained from (any for the exact field) and ``what`` names the model.

    Diffusion is built on Gaussian noise (its target is that noise, DDPM and DDIM add it):
    it keeps the N(0, I) source. A model trained from one source is a wrong model from any
    other (a shipped model was trained from N(0, I)): it is refused, not shown wrong.
    """
    if objective == "exact":
        trained_from = source
    if objective not in ("flow", "exact") and source != GAUSSIAN:
        return gaussian_only(what, source)
    if trained_from != source:
        return (
            f"{what} was trained from {source_title(trained_from)}, not from "
            f"{source_title(source)}: it would carry the wrong distribution; train a flow "
            "model from this source or use the exact field"
        )
    setting = NOISY_SAMPLERS.get(run.sampler)
    noisy = setting == "" or (setting and getattr(run, setting) > 0)
    if source != GAUSSIAN and noisy:
        return (
            f"the {run.sampler} sampler adds Gaussian noise, which assumes the N(0, I) "
            f"source: from {source} choose euler, midpoint, heun or rk4"
        )
    return ""


def parse_run(spec: str) -> Run:
    """Read a run spec such as ``"diffusion:ddim:50:eta=0.5"``.

    Raises
    ------
    ValueError
        With a one-line message that names the bad part of the spec.
    """
    parts = spec.strip().split(":")
    if len(parts) < 3:
        raise ValueError(f"expected {SPEC_SYNTAX}, e.g. flow:heun:50")
    model, sampler, steps, *options = parts
    values: dict[str, object] = {
        "model": model,
        "sampler": sampler,
        "steps": limits.STEPS.parse(steps, "steps"),
    }
    keys = {
        "eta": ("eta", limits.ETA),
        "noise": ("noise_scale", limits.NOISE_SCALE),
        "class": ("label", limits.CLASS),
        "guidance": ("guidance", limits.GUIDANCE),
    }
    for option in options:
        key, sep, text = option.partition("=")
        if not sep or key not in keys:
            raise ValueError(f"unknown option {option!r}: use {', '.join(keys)} as KEY=VALUE")
        if key in OPTION_SAMPLERS and sampler != OPTION_SAMPLERS[key]:
            raise ValueError(f"{key} applies only to the {OPTION_SAMPLERS[key]} sampler")
        name, limit = keys[key]
        values[name] = limit.parse(text, "noise scale" if key == "noise" else key)
    run = Run(**values)
    problem = run.check()
    if problem:
        raise ValueError(problem)
    return run


def default_comparison(index: int, shipped: bool) -> Run:
    """The run a new comparison starts with at ``index``; the exact field stands in for the
    shipped models where there are none (custom data)."""
    run = parse_run(DEFAULT_COMPARISON[index])
    return run if shipped else replace(run, model="exact")


@dataclass(frozen=True, eq=False)
class Request:
    """What the engine is asked to show: the shared data, the runs (1, 2 or 4), the
    particles each run has, the revision (a new one restarts every run: new custom points, a
    new trained or user's model), what the runs' model names may refer to, and the quality
    sweep asked for (0 for none)."""

    data: Data
    runs: tuple[Run, ...]
    n: int
    revision: int = 0
    custom: Dataset | None = None
    trained: Checkpoint | None = None
    yours: UserModel | None = None
    sweep: int = 0
    reflowed: Checkpoint | None = None
    edit: Edit | None = None
    """The last live edit of the custom data (:mod:`~dexplorer.core.editing`): runs that
    have not followed it yet follow it without a new revision."""
    custom_source: Dataset | None = None
    """The points of the source "custom-source" (:mod:`~dexplorer.core.sources`)."""
