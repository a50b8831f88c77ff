"""The models shipped in ``assets/models``: where they are and how they were made."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from ..resources import data_dir
from .datasets import DATASETS

PRETRAINED_OBJECTIVES = ("flow", "diffusion")
PRETRAINED_POINTS = 20000
"""Training points drawn (seed 0) from each bundled dataset."""
PRETRAINED_STEPS = {"flow": 8000, "diffusion": 16000}
"""Optimiser steps for the shipped models (a step budget keeps them reproducible); epsilon
prediction converges more slowly than flow matching."""


PRETRAINED_LEARNING_RATE = 3e-3
"""The learning rate the shipped models were made with (slower than the default, which is
tuned for budgets of a few seconds, and steadier over their long step budget)."""
QUALITY_SAMPLER = {"flow": ("heun", 50), "diffusion": ("ddpm", 100), "vpred": ("ddpm", 100)}
"""The sampler and steps that judge a model of each objective: the probability-flow ODE for
flow matching; ancestral sampling for the VP objectives, whose deterministic samplers start
from a less accurate data estimate near pure noise."""


def models_dir() -> Path:
    return data_dir("assets") / "models"


def model_filename(dataset: str, objective: str) -> str:
    return f"{dataset}-{objective}.safetensors"


def pretrained_path(spec: str) -> Path:
    """The shipped model for ``"DATASET/OBJECTIVE"``, e.g. ``"smiley/flow"``.

    Raises
    ------
    ValueError
        When the name is malformed or no such model is shipped.
    """
    dataset, sep, objective = spec.partition("/")
    if not sep or dataset not in DATASETS or objective not in PRETRAINED_OBJECTIVES:
        raise ValueError(
            f"no shipped model {spec!r}: use DATASET/OBJECTIVE with a dataset of "
            f"{', '.join(DATASETS)} and an objective of {', '.join(PRETRAINED_OBJECTIVES)}"
        )
    path = models_dir() / model_filename(dataset, objective)
    if not path.is_file():
        raise ValueError(f"the shipped model {spec} is missing: {path} (run `make models`)")
    return path


def shipped_models() -> list[str]:
    """``DATASET/OBJECTIVE`` names of the models present in ``assets/models``."""
    return [
        f"{dataset}/{objective}"
        for dataset in DATASETS
        for objective in PRETRAINED_OBJECTIVES
        if (models_dir() / model_filename(dataset, objective)).is_file()
    ]


def shipped_class_names(spec: str) -> tuple[str, ...]:
    """The class names of the shipped model ``"DATASET/OBJECTIVE"``, read from the metadata
    in its file's header (:mod:`~dexplorer.core.checkpoints` writes it) without loading the
    model: the state checks runs with them before torch is loaded.

    Raises
    ------
    ValueError
        As :func:`pretrained_path`, or when the header cannot be read.
    """
    path = pretrained_path(spec)
    try:
        with path.open("rb") as file:
            (size,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(size))
        names = json.loads(header["__metadata__"]["dexplorer"])["class_names"]
    except (OSError, ValueError, KeyError, TypeError, struct.error) as error:
        raise ValueError(f"the shipped model {spec} cannot be read: {error!r}") from None
    return tuple(names)
