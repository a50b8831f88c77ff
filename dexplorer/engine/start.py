"""What a run starts from, without torch: the data points its panel shows and its starting
particles. The simulation takes both from here, so the app's first frame (drawn while torch
loads) shows the points the trajectories then start from."""

from __future__ import annotations

import numpy as np

from ..core.datasets import Dataset, make_dataset
from ..core.runs import Data
from ..core.sources import make_source

DATA_POINTS = 5000
"""A bundled dataset is shown (and its exact field made) with this many of its points."""
MAX_EXACT_POINTS = 20000
"""A custom dataset larger than this is subsampled for the exact field and the panels."""


def shown_dataset(data: Data, custom: Dataset | None) -> Dataset:
    """The points of ``data`` that a panel shows and an exact field uses (``custom``: the
    custom dataset).

    Raises
    ------
    ValueError
        For the custom dataset when there is none.
    """
    if data.dataset == "custom":
        if custom is None:
            raise ValueError("there is no custom dataset")
        return custom.subset(MAX_EXACT_POINTS)
    return make_dataset(data.dataset, n=DATA_POINTS, seed=0)


def starting_points(data: Data, n: int, custom_source: Dataset | None) -> np.ndarray:
    """The ``n`` particles at t = 0 of every run on ``data`` (n, 2) float32, the first row
    of their trajectories (:meth:`~dexplorer.core.sources.Source.start`; ``custom_source``:
    the points of the custom source).

    Raises
    ------
    ValueError
        For the custom source when there is none.
    """
    return make_source(data.source, custom_source).start(n, data.seed)
