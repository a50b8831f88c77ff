"""Shared test set-up: torch's CPU threads as every entry point sets them, float64 for
order tests, and a smiley in the original Diffusion Explorer's JSON convention."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from dexplorer.core.threads import use_cpu_threads

use_cpu_threads()


@pytest.fixture
def float64():
    """Run a test with float64 as torch's default dtype."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path_factory, monkeypatch):
    """Keep the app's autosaved drawing out of the real user data folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))


@dataclass(frozen=True)
class Smiley:
    """A JSON file and where its parts are among the points."""

    path: Path
    eyes: slice
    mouth: slice
    corners: list[int]
    middle: int


@pytest.fixture
def original_smiley(tmp_path):
    """A smiley face as the original Diffusion Explorer stores its JSON datasets: inside
    [-3, 3]^2 with y pointing down (its plot maps y = -3 to the top of the picture), so the
    eyes have negative y, and the mouth positive y, lowest (largest y) in its middle."""
    rng = np.random.default_rng(0)
    eyes = [rng.normal((side, -1.0), 0.1, (40, 2)) for side in (-0.8, 0.8)]
    angle = np.linspace(0.2 * np.pi, 0.8 * np.pi, 61)
    mouth = np.stack([1.4 * np.cos(angle), 0.4 + np.sin(angle)], axis=1)
    points = np.concatenate([*eyes, mouth])
    path = tmp_path / "smiley_face.json"
    path.write_text(json.dumps({"points": points.tolist()}))
    return Smiley(path, slice(0, 80), slice(80, 141), [80, 140], 110)
