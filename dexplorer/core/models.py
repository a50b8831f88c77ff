"""The one model resolver: a run's model name (a shipped model of the dataset, the model
trained or loaded in the app, a model file, a user's own model, or the exact field) to a
field, with the shipped checkpoints loaded once per device for every panel, the controls
and the CLI."""

from __future__ import annotations

import os
import threading

import numpy as np
import torch

from .checkpoints import Checkpoint, load_checkpoint
from .fields import CouplingField, ExactField, Field, GuidedField, NetworkField, draw_labels
from .paths import LinearPath, Path
from .pretrained import pretrained_path
from .runs import Data, Run
from .runs import source_problem as run_source_problem
from .sources import GAUSSIAN, Source
from .user_models import UserModel

_SHIPPED: dict[tuple[str, str], Checkpoint] = {}
_LOCK = threading.Lock()


def shipped(name: str, device: str | torch.device = "cpu") -> Checkpoint:
    """The shipped model ``"DATASET/OBJECTIVE"`` on ``device``, loaded once.

    Raises
    ------
    ValueError
        When no such model is shipped (a :class:`CheckpointError` when its file is bad).
    """
    key = (name, str(torch.device(device)))
    with _LOCK:
        if key not in _SHIPPED:
            _SHIPPED[key] = load_checkpoint(pretrained_path(name), device)
        return _SHIPPED[key]


def checkpoint(
    model: str,
    dataset: str,
    trained: Checkpoint | None,
    device: str | torch.device = "cpu",
    yours: UserModel | None = None,
    reflowed: Checkpoint | None = None,
) -> Checkpoint | UserModel | None:
    """The checkpoint ``model`` names on ``dataset`` (``None`` for the exact field; the
    user's model ``yours`` for "yours", the reflowed model ``reflowed`` for "reflowed").

    Raises
    ------
    ValueError
        When it names the trained model or the user's and there is none, or a shipped one
        that is missing.
    """
    if model == "exact":
        return None
    if model == "yours":
        if yours is None:
            raise ValueError("there is no model of yours: pass one (use_model or model=)")
        return yours
    if model == "trained":
        if trained is None:
            raise ValueError("there is no trained model: train or load one")
        return trained
    if model == "reflowed":
        if reflowed is None:
            raise ValueError("there is no reflowed model: reflow a flow model first")
        return reflowed
    return shipped(f"{dataset}/{model}", device)


def from_file(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Checkpoint:
    """A model file (.safetensors or the original tool's model.json)."""
    return load_checkpoint(path, device)


def source_problem(found: Checkpoint | UserModel | None, run: Run, data: Data) -> str:
    """Why ``run``'s model ``found`` cannot start from the data's source ('' when it can):
    a shipped model and a user's were trained from N(0, I), a trained one from the source
    it records (see :func:`~dexplorer.core.runs.source_problem`)."""
    if found is None:
        objective, trained_from, what = "exact", data.source, "the exact field"
    elif isinstance(found, UserModel):
        objective = "flow" if found.prediction == "velocity" else "diffusion"
        trained_from, what = GAUSSIAN, "your model"
    else:
        objective, trained_from = found.objective.name, found.source
        what = "the trained model" if run.model == "trained" else f"the {run.model} model"
        if run.model in ("flow", "diffusion"):
            what += f" of {data.dataset}"
    return run_source_problem(run, data.source, objective, trained_from, what)


def run_field(
    found: Checkpoint | UserModel | None,
    run: Run,
    points: np.ndarray,
    n: int,
    seed: int,
    device: torch.device,
    path: Path | None = None,
    labels: np.ndarray | None = None,
    source: Source | None = None,
) -> tuple[Field, torch.Tensor | None]:
    """The field a run integrates and the class of each of its ``n`` particles (``None``
    when unconditional): the exact field of ``points`` (see :func:`exact_field`) when
    ``found`` is ``None``; otherwise the network, with the run's class for every particle or
    classes drawn in the data's proportions."""
    if found is None:
        return exact_field(run, points, labels, n, seed, device, path, source)
    if not found.conditional:
        return found.field(), None
    if run.label is not None:  # one class for all: a whole-run kernel can integrate it
        labels = torch.full((n,), run.label, device=device)
        return found.field(run.label, run.guidance_scale), labels
    labels = found.particle_labels(n, seed, device)
    return found.field(labels, run.guidance_scale), labels


def exact_field(
    run: Run,
    points: np.ndarray,
    labels: np.ndarray | None,
    n: int,
    seed: int,
    device: torch.device,
    path: Path | None = None,
    source: Source | None = None,
) -> tuple[Field, torch.Tensor | None]:
    """The exact field of ``points`` from ``source`` (N(0, I) on ``path``, linear by
    default; a point source: the coupling field on the linear path), and each particle's
    class (``None`` when unconditional). With a class or a guidance other than 1 it is the
    guided field over the points' classes (``labels``): the class's own exact field for
    guidance 1, uncond + w (cond - uncond) otherwise; without a class each particle draws
    one in the data's proportions, as a conditional network's particles do.

    Raises
    ------
    ValueError
        When a class or guidance is asked of unlabelled points, or a class has no points.
    """

    def of(subset: np.ndarray) -> Field:
        if source is not None and not source.gaussian:
            return CouplingField(source, subset, device=device)
        return ExactField(subset, path or LinearPath(), device=device)

    if run.label is None and run.guidance_scale == 1.0:
        return of(points), None
    if labels is None:
        raise ValueError("these points have no classes: the exact field takes no class")
    counts = np.bincount(labels)
    if not counts.all():
        raise ValueError(f"class {int(np.argmin(counts))} has no points")
    conditional = [of(points[labels == k]) for k in range(len(counts))]
    if run.label is not None:
        if run.guidance_scale == 1.0 and run.label < len(counts):
            return conditional[run.label], torch.full((n,), run.label, device=device)
        particle = torch.full((n,), run.label, device=device)
        return GuidedField(of(points), conditional, run.label, run.guidance_scale), particle
    particle = draw_labels(counts / counts.sum(), n, seed, device)
    return GuidedField(of(points), conditional, particle, run.guidance_scale), particle


def grid_field(field: Field, run: Run) -> Field:
    """The field for points that are not particles (the mesh, the arrows): one class for
    all when the run chose one, otherwise the unconditional output."""
    if isinstance(field, GuidedField):
        return field if isinstance(field.label, int) else field.unconditional
    if not isinstance(field, NetworkField) or field.label is None:
        return field
    return NetworkField(field.network, field.objective, run.label, run.guidance_scale)
