"""What users choose by name, and the settings of training and reflow, without torch:
the command line, the state and the controls list and check them before torch is loaded
(the first frame does not wait for it). The modules that implement each choice take its
names from here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .limits import TRAIN_STEPS, Range

SAMPLER_NOTES = {
    "euler": "ODE, 1 model call per step, first order",
    "midpoint": "ODE, 2 calls per step, second order",
    "heun": "ODE, 2 calls per step, second order",
    "rk4": "ODE, 4 calls per step, fourth order",
    "ddpm": "ancestral sampling (DDIM with eta = 1), stochastic",
    "ddim": "DDIM, eta in [0, 1]: 0 deterministic, 1 = DDPM",
    "euler_maruyama": "reverse SDE with noise scale lambda (0 = the Euler ODE)",
}


def sampler_problem(name: str) -> str:
    """What is wrong with ``name`` as a sampler ('' when nothing)."""
    if name in SAMPLER_NOTES:
        return ""
    return f"unknown sampler {name!r}: choose {', '.join(SAMPLER_NOTES)}"


SCHEDULES = ("linear", "cosine", "linear_beta")
"""The noise schedules (paths) a model may be trained on (:data:`~dexplorer.core.paths.PATHS`)."""
OBJECTIVE_NOTES = {
    "flow": "flow matching: x_t = (1-t) e + t x1, predict the velocity x1 - e",
    "diffusion": "VP diffusion, predict the noise e (DDPM), cosine or linear-beta schedule",
    "vpred": "VP diffusion, predict v = alpha e - sigma x1 (v-prediction)",
}


PRESET_NOTES = {
    "default": "4 layers of 128 (3 hidden), SiLU, Fourier time features",
    "original": "3 x 64 MLP, ELU, raw t (the original Diffusion Explorer's network)",
}


DEFAULT_SECONDS = 10.0
"""The training budget when none is given (the CLI's and the app's)."""


class TrainingError(RuntimeError):
    """Training cannot start (bad settings) or had to stop (a non-finite loss)."""


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides a training run besides the data.

    The defaults hold for every objective and preset on the cases a user meets (bundled
    data, drawings of 50 to 300 points, labelled drawings, the OT coupling) within the
    default budget on two CPU cores: ``benchmarks/bench_train.py`` runs that matrix. The
    learning rate is the highest that still trains the VP objectives on small data (a
    higher one, tuned on flow matching alone, left diffusion models a blob); a warm-up and
    a cosine decay over the budget keep it stable, and the EMA's decay warms up with the
    steps.
    """

    objective: str = "flow"
    schedule: str | None = None
    ot_coupling: bool = False
    preset: str = "default"
    learning_rate: float = 1e-2
    batch_size: int = 512
    ema_decay: float = 0.995
    cond_dropout: float = 0.1
    weight_decay: float = 0.0
    warmup_steps: int = 50
    seed: int = 0

    def validate(self) -> None:
        if self.preset not in PRESET_NOTES:
            raise TrainingError(f"unknown preset {self.preset!r}: choose {', '.join(PRESET_NOTES)}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise TrainingError(f"learning rate must be a positive number: {self.learning_rate}")
        if self.batch_size < 2:
            raise TrainingError(f"batch size must be at least 2, got {self.batch_size}")
        if not 0 <= self.ema_decay < 1:
            raise TrainingError(f"EMA decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.cond_dropout <= 1:
            raise TrainingError(f"condition dropout must be in [0, 1], got {self.cond_dropout}")


PRECISIONS = ("tf32", "bf16", "ieee")
"""The precisions of the Triton kernel's hidden layers (:mod:`~dexplorer.core.triton_sampler`)."""
TFJS_SUFFIX = ".json"
"""A model file with this suffix (any case) is read as a TF.js model (the others are
.safetensors)."""
REFLOW_PAIRS = Range(500, 200_000, integer=True)
"""How many pairs a reflow may sample."""
REFLOW_STEPS = TRAIN_STEPS
"""How many optimiser steps a reflow may train (as many as any training)."""


@dataclass(frozen=True)
class ReflowSettings:
    """How a reflow is made: how many pairs it samples from the original model, how many
    optimiser steps it trains on them, the seed of the pairs' noise, and the training
    settings (a gentler learning rate than fresh training: the weights start trained).
    The defaults are a few hundred steps, not a fresh training's budget: the weights start
    from the original's (the closing note of issue 16 and ``dexplorer reflow`` give the
    straightness and quality they reach)."""

    pairs: int = 10000
    steps: int = 600
    seed: int = 0
    train: TrainSettings = field(
        default_factory=lambda: TrainSettings(learning_rate=5e-3, warmup_steps=20)
    )

    def problem(self) -> str:
        """What is wrong with these settings ('' when nothing)."""
        pairs = REFLOW_PAIRS.problem("pairs", self.pairs)
        return pairs or REFLOW_STEPS.problem("steps", self.steps)
