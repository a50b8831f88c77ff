"""Bring your own model: a user's ``torch.nn.Module`` or any callable, with its declared
convention, as a :class:`~dexplorer.core.fields.Field` that every sampler, the density, the
mesh, the paths, the comparison, the quality number and export use like ours.

A convention says three things:

- ``prediction``: what the model returns at (x, tau): ``"velocity"`` (dx/dtau in the model's
  own time), ``"epsilon"`` (the noise e), ``"data"`` (x1), ``"score"`` (grad log p) or
  ``"v"`` (alpha e - sigma x1).
- ``time``: ``"noise_at_0"`` (tau = t, ours: t = 0 noise, t = 1 data), ``"data_at_0"``
  (tau = 1 - t, most of the literature), or :class:`DiscreteSteps` (integer diffusion steps
  k = 0 .. T - 1 of a schedule, k = 0 almost data).
- ``signature``: ``"x, t"`` (f(x, tau)), ``"t, x"`` (f(tau, x), as torchdyn and torchcfm
  call), or ``"xt"`` (f(x_and_tau): one input of shape (n, 3), tau as its last column); and
  ``time_shape``: tau as a 0-d tensor (``"scalar"``), ``"(n,)"`` or ``"(n, 1)"`` (an
  ``"xt"`` input always has it as a column).

The math (x = x_t = alpha x1 + sigma e on the model's ``path``, our time t): a velocity in
the model's time is dx/dtau, so ours is dx/dt = (dtau/dt) dx/dtau, dtau/dt = 1, -1 or -T; the
other predictions do not depend on the direction of time and convert as
:class:`~dexplorer.core.objectives.Objective` converts ours (e_hat = -sigma score, e_hat =
(x - alpha x1_hat) / sigma, x1_hat = (x - sigma e_hat) / alpha; the data estimate clipped
to the domain box as for our models).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .fields import Field, as_time
from .objectives import PREDICTIONS, Estimate, Objective
from .paths import CosinePath, DiscretePath, LinearPath, Path, make_path

SIGNATURES = ("x, t", "t, x", "xt")
TIME_SHAPES = ("scalar", "(n,)", "(n, 1)")
TIMES = ("noise_at_0", "data_at_0")
"""The continuous time conventions; integer steps are a :class:`DiscreteSteps`."""
PROBE_TIMES = (0.1, 0.5, 0.9)
"""Our times at which a model is tried once, on a small batch, when it is wrapped."""
PROBE_POINTS = 5


@dataclass(frozen=True)
class DiscreteSteps:
    """Integer diffusion steps k = 0 .. T - 1 with ``alphas_cumprod[k]`` = alpha_bar_k
    (x_k = sqrt(alpha_bar_k) x1 + sqrt(1 - alpha_bar_k) e, k = 0 almost data), as DDPM
    and ``diffusers`` count them. Our t maps to k = (1 - t) T - 1 (clamped to 0 .. T - 1):
    t = 0 is step T - 1, t = 1 the data after step 0; the path is
    :class:`~dexplorer.core.paths.DiscretePath`. The model is given k as a float (exact
    integers at t = j / T), or rounded to a ``torch.long`` with ``integer`` (a model that
    looks its step up in a table: then samplers whose steps divide T meet it exactly)."""

    alphas_cumprod: tuple[float, ...]
    integer: bool = False

    @property
    def steps(self) -> int:
        return len(self.alphas_cumprod)

    def step(self, t: Tensor) -> Tensor:
        """The model's step at our time t."""
        k = ((1 - t) * self.steps - 1).clamp(0, self.steps - 1)
        return k.round().long() if self.integer else k


def ddpm_steps(
    steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02, integer: bool = False
) -> DiscreteSteps:
    """The DDPM schedule (Ho et al. 2020): beta linear from ``beta_start`` to ``beta_end``
    over ``steps`` steps, alpha_bar_k = prod_{i <= k} (1 - beta_i)."""
    betas = torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)
    return DiscreteSteps(tuple(torch.cumprod(1 - betas, 0).tolist()), integer)


class UserModel:
    """A user's model and its declared convention (see the module's docstring): what the
    state holds under the model name "yours", turned into a field by :meth:`field`.

    The model is tried once on a small batch when wrapped, so that a wrong convention is
    a ValueError that names what to check, not a run of non-finite particles. Inputs go to
    ``device`` (by default that of a module's parameters; a plain callable gets the
    particles' own) and to the floating dtype of a module's parameters; outputs come back
    to the particles' device and dtype. Unconditional: it takes no class or guidance.

    Raises
    ------
    ValueError
        An unknown convention, or a model that fails, returns a wrong shape or dtype, or
        non-finite values on the probe batch.
    """

    conditional = False
    class_names: tuple[str, ...] = ()

    def __init__(
        self,
        model: Callable[..., Tensor],
        prediction: str = "velocity",
        time: str | DiscreteSteps = "noise_at_0",
        signature: str = "x, t",
        time_shape: str = "scalar",
        path: Path | str | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        if not callable(model):
            raise ValueError(f"a model must be callable, got {type(model).__name__}")
        if prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {prediction!r}: choose one of {PREDICTIONS}")
        if signature not in SIGNATURES:
            raise ValueError(f"unknown signature {signature!r}: choose one of {SIGNATURES}")
        if time_shape not in TIME_SHAPES:
            raise ValueError(f"unknown time_shape {time_shape!r}: choose one of {TIME_SHAPES}")
        if not isinstance(time, DiscreteSteps) and time not in TIMES:
            raise ValueError(f"unknown time {time!r}: choose one of {TIMES} or DiscreteSteps")
        if isinstance(time, DiscreteSteps):
            if path is not None:
                raise ValueError("a model on discrete steps takes its path from its schedule")
            path = DiscretePath(time.alphas_cumprod)
        self.model = model
        self.prediction = prediction
        self.time = time
        self.signature = signature
        self.time_shape = time_shape
        self.path = make_path(path or "linear") if not isinstance(path, Path) else path
        self.objective = Objective("yours", self.path, prediction)
        self.rate = {"noise_at_0": 1.0, "data_at_0": -1.0}.get(time, -float(self.steps))
        parameter = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
        self.device = torch.device(device) if device else getattr(parameter, "device", None)
        self.dtype = (
            None if parameter is None or not parameter.is_floating_point() else parameter.dtype
        )
        self._probe()

    @property
    def steps(self) -> int:
        return self.time.steps if isinstance(self.time, DiscreteSteps) else 0

    def describe(self) -> str:
        """The convention in one line, e.g. ``"epsilon, t = 0 data, f(x, t), t (n,)"``."""
        time = {"noise_at_0": "t = 0 noise", "data_at_0": "t = 0 data"}.get(
            self.time, f"{self.steps} steps"
        )
        return f"{self.prediction}, {time}, f({self.signature}), t {self.time_shape}"

    def field(self, label: int | Tensor | None = None, guidance: float = 1.0) -> UserField:
        """The field the samplers integrate (no class: a user's model is unconditional)."""
        if label is not None or guidance != 1.0:
            raise ValueError("a model of yours is unconditional: it takes no class or guidance")
        return UserField(self)

    def output(self, x: Tensor, t: Tensor) -> Tensor:
        """The model's prediction at (x, our t), a velocity turned into dx/dt.

        Raises
        ------
        ValueError
            When the output is not a floating tensor of x's shape.
        """
        out = self._call(x, t)
        self._check(out, x)
        out = out.to(x.device, x.dtype)
        return out * self.rate if self.prediction == "velocity" and self.rate != 1 else out

    def _call(self, x: Tensor, t: Tensor) -> Any:
        tau = self._model_time(t, len(x))
        inputs = x if self.dtype is None else x.to(self.dtype)
        if self.device is not None:
            inputs, tau = inputs.to(self.device), tau.to(self.device)
        if self.signature == "xt":
            return self.model(torch.cat([inputs, tau.to(inputs.dtype).expand(len(x), 1)], 1))
        if self.signature == "t, x":
            return self.model(tau, inputs)
        return self.model(inputs, tau)

    def _model_time(self, t: Tensor, n: int) -> Tensor:
        """Our t (0-d, (n,) or (n, 1)) as the model's time in the model's shape."""
        if isinstance(self.time, DiscreteSteps):
            tau = self.time.step(t)
        else:
            tau = t if self.time == "noise_at_0" else 1 - t
        if self.signature == "xt":
            return tau.reshape(-1, 1)
        if self.time_shape == "scalar":
            if tau.numel() != 1:
                raise ValueError(
                    "the model takes one time for all points (time_shape 'scalar') but was "
                    "asked at one time per point: declare time_shape '(n,)' or '(n, 1)'"
                )
            return tau.reshape(())
        column = tau.reshape(-1, 1).expand(n, 1)
        return column if self.time_shape == "(n, 1)" else column.reshape(n)

    def _check(self, out: Any, x: Tensor) -> None:
        if not isinstance(out, Tensor):
            raise ValueError(
                f"the model returned a {type(out).__name__}, not a tensor: check `signature` "
                f"({self.signature!r}) and that it returns its prediction alone"
            )
        if tuple(out.shape) != tuple(x.shape):
            raise ValueError(
                f"the model returned shape {_shape(out.shape)} for x of shape "
                f"{_shape(x.shape)}: check `signature` ({self.signature!r})"
            )
        if not out.is_floating_point():
            raise ValueError(
                f"the model returned {out.dtype}, not floating point numbers: check that it "
                f"returns its `prediction` ({self.prediction!r})"
            )

    def _probe(self) -> None:
        x = torch.randn((PROBE_POINTS, 2), generator=torch.Generator().manual_seed(0))
        x = x if self.device is None else x.to(self.device)
        for t in PROBE_TIMES:
            time = as_time(t, x)
            try:
                with torch.inference_mode():
                    out = self._call(x, time)
            except Exception as error:
                raise ValueError(
                    f"calling the model as {self._call_text()} failed ({type(error).__name__}: "
                    f"{error}): check `signature` ({self.signature!r}) and `time_shape` "
                    f"({self.time_shape!r})"
                ) from error
            self._check(out, x)
            if not torch.isfinite(out).all():
                raise ValueError(
                    f"the model returned non-finite values (inf or nan) at t = {t} (its time "
                    f"{float(self._model_time(time, 1).flatten()[0]):g}) for finite x: check "
                    f"`time` ({self.describe()})"
                )

    def _call_text(self) -> str:
        n = PROBE_POINTS
        if self.signature == "xt":
            return f"f(x_and_t) with one input of shape ({n}, 3)"
        shape = {"scalar": "()", "(n,)": f"({n},)", "(n, 1)": f"({n}, 1)"}[self.time_shape]
        return f"f({self.signature}) with x of shape ({n}, 2) and t of shape {shape}"


def _shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class UserField(Field):
    """The field of a :class:`UserModel`: its prediction converted into our data and noise
    estimates on its path. A model that predicts anything but a velocity is not pinned
    down at t = 1 (the noise is not in x there): samplers do not evaluate it there."""

    def __init__(self, model: UserModel) -> None:
        self.model = model
        self.path = model.path
        self.objective = model.objective
        self.singular_at_data = model.prediction != "velocity"

    def estimate(self, x: Tensor, t: Tensor | float) -> Estimate:
        t = as_time(t, x)
        return self.objective.estimate(self.model.output(x, t), x, _column(t))

    def velocity(self, x: Tensor, t: Tensor | float) -> Tensor:
        t = as_time(t, x)
        return self.objective.velocity(self.model.output(x, t), x, _column(t))


def _column(t: Tensor) -> Tensor:
    """A time per point as a column, to broadcast over the coordinates."""
    return t.reshape(-1, 1) if t.dim() else t


class SchedulerPath(Path):
    """A ``flow_matching`` scheduler (``CondOTScheduler``, ``CosineScheduler``, ...) as our
    path: its ``alpha_t``, ``sigma_t`` and their derivatives at t, in the same convention
    (t = 0 noise, t = 1 data). Owns the scheduler."""

    name = "flow_matching"

    def __init__(self, scheduler: Callable[[Tensor], Any]) -> None:
        self.scheduler = scheduler
        self.title = type(scheduler).__name__

    def alpha(self, t: Tensor) -> Tensor:
        return self.scheduler(t).alpha_t

    def sigma(self, t: Tensor) -> Tensor:
        return self.scheduler(t).sigma_t

    def d_alpha(self, t: Tensor) -> Tensor:
        return self.scheduler(t).d_alpha_t

    def d_sigma(self, t: Tensor) -> Tensor:
        return self.scheduler(t).d_sigma_t

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        out = self.scheduler(t)
        return out.alpha_t, out.sigma_t, out.d_alpha_t, out.d_sigma_t

    def __repr__(self) -> str:
        return f"SchedulerPath({self.title})"


def from_torchcfm(
    model: Callable[..., Tensor],
    matcher: object | None = None,
    signature: str = "xt",
    time_shape: str = "(n,)",
) -> UserModel:
    """A model trained with ``torchcfm`` (github.com/atong01/conditional-flow-matching).

    torchcfm's matchers train a velocity, with t = 0 the source (noise) and t = 1 the data,
    as here. Its ``MLP(dim=2, time_varying=True)`` takes one input, x with t as the last
    column (``signature="xt"``, the default); its ``torch_wrapper`` is called f(t, x) with
    one time for all points (``signature="t, x", time_shape="scalar"``), its UNets f(t, x)
    with either shape. The path is the cosine one for a
    ``VariancePreservingConditionalFlowMatcher`` (x_t = cos(pi t / 2) x0 + sin(pi t / 2) x1),
    the straight line otherwise. With the matcher's ``sigma`` > 0 the ODE samplers are still
    exact; the estimates (DDIM, the SDE samplers, the score) take the path as if sigma were 0.

    Example
    -------
    >>> import torch
    >>> from torchcfm import ConditionalFlowMatcher
    >>> from torchcfm.models import MLP
    >>> from dexplorer.core.datasets import make_dataset
    >>> data = torch.as_tensor(make_dataset("moons", n=2000, seed=0).points)
    >>> net, matcher = MLP(dim=2, time_varying=True), ConditionalFlowMatcher(sigma=0.0)
    >>> optimiser = torch.optim.Adam(net.parameters(), 1e-2)
    >>> for _ in range(300):
    ...     x1 = data[torch.randint(len(data), (256,))]
    ...     t, xt, ut = matcher.sample_location_and_conditional_flow(torch.randn_like(x1), x1)
    ...     loss = (net(torch.cat([xt, t[:, None]], 1)) - ut).square().mean()
    ...     optimiser.zero_grad(); loss.backward(); optimiser.step()
    >>> yours = from_torchcfm(net, matcher)
    >>> state.use_model(yours)  # or Explorer(model=yours): the run's model is "yours"
    """
    names = {cls.__name__ for cls in type(matcher).__mro__} if matcher is not None else set()
    vp = "VariancePreservingConditionalFlowMatcher" in names
    path = CosinePath() if vp else LinearPath()
    return UserModel(model, "velocity", "noise_at_0", signature, time_shape, path)


def from_flow_matching(
    model: Callable[..., Tensor],
    path: object | None = None,
    prediction: str = "velocity",
    **extras: Any,
) -> UserModel:
    """A model trained with Meta's ``flow_matching`` (github.com/facebookresearch/flow_matching).

    Its convention is ours: x_t = alpha_t x1 + sigma_t x0 with t = 0 the source (noise) and
    t = 1 the data; a ``ModelWrapper`` is called ``model(x=x, t=t, **extras)`` with t of
    shape (n,) and predicts the velocity (its ``AffineProbPath`` also trains "data" (x1) or
    "epsilon" (x0) predictions). ``path`` is the ``AffineProbPath`` it was trained on (its
    scheduler gives our path exactly, :class:`SchedulerPath`); ``None`` is
    ``CondOTScheduler``'s straight line. ``extras`` are passed to every call.

    Example
    -------
    >>> import torch
    >>> from flow_matching.path import AffineProbPath
    >>> from flow_matching.path.scheduler import CondOTScheduler
    >>> from dexplorer.core.datasets import make_dataset
    >>> data = torch.as_tensor(make_dataset("moons", n=2000, seed=0).points)
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.mlp = torch.nn.Sequential(
    ...             torch.nn.Linear(3, 64), torch.nn.SiLU(), torch.nn.Linear(64, 2))
    ...     def forward(self, x, t):
    ...         return self.mlp(torch.cat([x, t.reshape(-1, 1).expand(len(x), 1)], 1))
    >>> net, path = Net(), AffineProbPath(scheduler=CondOTScheduler())
    >>> optimiser = torch.optim.Adam(net.parameters(), 1e-2)
    >>> for _ in range(300):
    ...     x1 = data[torch.randint(len(data), (256,))]
    ...     sample = path.sample(x_0=torch.randn_like(x1), x_1=x1, t=torch.rand(len(x1)))
    ...     loss = (net(sample.x_t, sample.t) - sample.dx_t).square().mean()
    ...     optimiser.zero_grad(); loss.backward(); optimiser.step()
    >>> yours = from_flow_matching(net, path)
    >>> state.use_model(yours)  # or Explorer(model=yours): the run's model is "yours"
    """
    ours = LinearPath() if path is None else SchedulerPath(path.scheduler)
    return UserModel(_KeywordCall(model, extras), prediction, "noise_at_0", "x, t", "(n,)", ours)


class _KeywordCall(torch.nn.Module):
    """Calls a model as ``model(x=x, t=t, **extras)`` (a module's parameters stay visible,
    so that inputs go to their device)."""

    def __init__(self, model: Callable[..., Tensor], extras: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.extras = extras

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.model(x=x, t=t, **self.extras)
