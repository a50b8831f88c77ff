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
from .fields import ExactField, Field, NetworkField
from .paths import LinearPath, Path
from .pretrained import pretrained_path
from .runs import Run
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


def class_names(
    model: str, dataset: str, trained: Checkpoint | None, reflowed: Checkpoint | None = None
) -> tuple[str, ...]:
    """The classes a run of ``model`` on ``dataset`` may choose (none for the exact field
    and a user's model)."""
    missing = (model == "trained" and not trained) or model == "yours"
    missing = missing or (model == "reflowed" and not reflowed)
    found = None if missing else checkpoint(model, dataset, trained, reflowed=reflowed)
    return () if found is None else found.class_names


def run_field(
    found: Checkpoint | UserModel | None,
    run: Run,
    points: np.ndarray,
    n: int,
    seed: int,
    device: torch.device,
    path: Path | None = None,
) -> tuple[Field, torch.Tensor | None]:
    """The field a run integrates and the class of each of its ``n`` particles (``None``
    when unconditional): the exact field of ``points`` (on ``path``, linear by default) when
    ``found`` is ``None``; otherwise the network, with the run's class for every particle or
    classes drawn in the data's proportions."""
    if found is None:
        return ExactField(points, path or LinearPath(), device=device), None
    if not found.conditional:
        return found.field(), None
    if run.label is not None:  # one class for all: a whole-run kernel can integrate it
        labels = torch.full((n,), run.label, device=device)
        return found.field(run.label, run.guidance_scale), labels
    labels = found.particle_labels(n, seed, device)
    return found.field(labels, run.guidance_scale), labels


def grid_field(field: Field, run: Run) -> Field:
    """The field for points that are not particles (the mesh, the arrows): one class for
    all when the run chose one, otherwise the unconditional output."""
    if not isinstance(field, NetworkField) or field.label is None:
        return field
    return NetworkField(field.network, field.objective, run.label, run.guidance_scale)
