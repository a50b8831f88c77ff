"""Bring your own model: every convention converts exactly into our field, models trained
with torchcfm and flow_matching run on our engine and reach the quality threshold, other
time conventions give the native model's trajectories, and bad models get clear errors."""

import dataclasses
import math

import pytest
import torch

from dexplorer.core import models
from dexplorer.core.datasets import make_dataset
from dexplorer.core.fields import ExactField
from dexplorer.core.objectives import PREDICTIONS
from dexplorer.core.paths import CosinePath, DiscretePath
from dexplorer.core.runs import Data, Run
from dexplorer.core.samplers import sample
from dexplorer.core.user_models import (
    DiscreteSteps,
    UserModel,
    ddpm_steps,
    from_flow_matching,
    from_torchcfm,
)
from dexplorer.engine.runs import Engine
from dexplorer.engine.simulation import Simulation
from dexplorer.state import AppState

QUALITY_THRESHOLD = 1.5
"""What the training tests ask of a model judged against its own data."""
POINTS = torch.tensor([[-1.5, 0.5], [1.0, 1.0], [0.5, -1.5], [2.0, -0.5]])


def literature_model(field, prediction, time, signature):
    """The exact field's prediction, in the given convention, as a user's callable."""

    def predict(x, tau):
        tau = tau.flatten()[0]
        t = tau if time == "noise_at_0" else 1 - tau
        est = field.estimate(x, t)
        a, s = field.path.alpha(t), field.path.sigma(t)
        return {
            "velocity": field.velocity(x, t) * (1 if time == "noise_at_0" else -1),
            "epsilon": est.noise,
            "data": est.data,
            "score": est.score,
            "v": a * est.noise - s * est.data,
        }[prediction]

    if signature == "xt":
        return lambda xt: predict(xt[:, :2], xt[:, 2:])
    if signature == "t, x":
        return lambda tau, x: predict(x, tau)
    return predict


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize(
    ("time", "signature", "time_shape"),
    [
        ("noise_at_0", "x, t", "scalar"),
        ("data_at_0", "t, x", "(n,)"),
        ("data_at_0", "xt", "(n, 1)"),
        ("data_at_0", "x, t", "(n, 1)"),
    ],
)
def test_every_convention_converts_into_the_same_field(prediction, time, signature, time_shape):
    """The closed form: the exact field of four points, told in each convention, gives back
    its own data, noise, velocity and score."""
    exact = ExactField(POINTS, CosinePath(), spread=0.2)
    user = literature_model(exact, prediction, time, signature)
    field = UserModel(user, prediction, time, signature, time_shape, "cosine").field()
    x = torch.randn((64, 2), generator=torch.Generator().manual_seed(1))
    for t in (0.2, 0.5, 0.8):
        expected, got = exact.estimate(x, t), field.estimate(x, t)
        torch.testing.assert_close(got.data, expected.data, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(got.noise, expected.noise, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(field.velocity(x, t), exact.velocity(x, t), atol=1e-4, rtol=0)
        torch.testing.assert_close(field.score(x, t), exact.score(x, t), atol=1e-4, rtol=1e-4)


def native_epsilon():
    """The shipped diffusion model of moons (epsilon, cosine) and its network's prediction
    at our t, network plus skip, as the native field computes it."""
    native = models.shipped("moons/diffusion").field()

    def epsilon(x, t):
        return native.output(x, torch.as_tensor(t, dtype=x.dtype))

    return native, epsilon


def test_an_epsilon_model_with_t_0_data_gives_the_native_trajectories():
    native, epsilon = native_epsilon()
    yours = UserModel(lambda x, tau: epsilon(x, 1 - tau), "epsilon", "data_at_0", path="cosine")
    for sampler, steps in (("heun", 20), ("ddim", 20), ("euler", 10)):
        ours = sample(native, 300, steps, sampler, seed=3)
        theirs = sample(yours.field(), 300, steps, sampler, seed=3)
        torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=0)


@pytest.mark.parametrize("integer", [False, True])
def test_an_integer_step_model_gives_the_native_trajectories(integer):
    """The cosine schedule told as 1000 DDPM-style steps (alpha_bar_k at t = 1 - (k+1)/T),
    the network asked at step k: DDIM and DDPM on 50 steps meet the steps exactly."""
    native, epsilon = native_epsilon()
    total = 1000
    table = [math.sin(0.5 * math.pi * (1 - (k + 1) / total)) ** 2 for k in range(total)]
    steps = DiscreteSteps(tuple(table), integer=integer)

    def model(x, k):
        assert k.dtype == (torch.long if integer else torch.float32)
        return epsilon(x, 1 - (k.float() + 1) / total)

    yours = UserModel(model, "epsilon", steps)
    for sampler in ("ddim", "ddpm"):
        ours = sample(native, 300, 50, sampler, seed=4)
        theirs = sample(yours.field(), 300, 50, sampler, seed=4)
        torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=0)


def test_a_discrete_path_holds_its_schedule_at_every_step():
    steps = ddpm_steps(1000)
    path = DiscretePath(steps.alphas_cumprod)
    table = torch.tensor(steps.alphas_cumprod, dtype=torch.float64)
    j = torch.arange(0, 1001, 50, dtype=torch.float64)
    expected = torch.cat([table.flip(0).sqrt(), torch.ones(1, dtype=torch.float64)])[j.long()]
    torch.testing.assert_close(path.alpha(j / 1000), expected)
    torch.testing.assert_close(path.alpha(j / 1000) ** 2 + path.sigma(j / 1000) ** 2, j * 0 + 1)
    # t = 0 is the last step, the data after step 0 is t = 1, step k at t = (T - 1 - k) / T.
    assert steps.step(torch.tensor(0.0)) == 999 and steps.step(torch.tensor(1.0)) == 0
    assert float(steps.step(torch.tensor(0.25))) == pytest.approx(749.0)


THEIR_DATA = make_dataset("moons", n=300, seed=0)
"""The data the users' models learn: 300 points, as the training tests' drawings."""


def train(loss_of_batch, parameters, steps=400):
    """Adam with a cosine decay over a few hundred steps of 256 points of their data."""
    torch.manual_seed(0)
    data = torch.as_tensor(THEIR_DATA.points)
    optimiser = torch.optim.Adam(parameters, 1e-2)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    for _ in range(steps):
        loss = loss_of_batch(data[torch.randint(len(data), (256,))])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        decay.step()


def shown_quality(yours, sampler="heun", steps=50):
    """Through the state and the engine, as the app shows it: the run's quality number
    against their data (the custom dataset shown)."""
    state = AppState(data=Data(n=2000, seed=0))
    state.use_custom(THEIR_DATA)
    state.use_model(yours)
    assert state.run.model == "yours" and state.run_problem(state.run) == ""
    assert state.change(sampler=sampler, steps=steps), state.message
    sim = Simulation(
        state.data, state.run, state.data.n, custom=state.custom, yours=state.yours, measure=True
    )
    sim.wait()
    assert sim.notice == ""
    return sim.quality


def test_a_torchcfm_model_trained_here_reaches_the_threshold_on_our_engine():
    torchcfm = pytest.importorskip("torchcfm")
    from torchcfm.models import MLP

    torch.manual_seed(0)
    matcher, net = torchcfm.ConditionalFlowMatcher(sigma=0.0), MLP(dim=2, time_varying=True, w=64)

    def loss(x1):
        t, xt, ut = matcher.sample_location_and_conditional_flow(torch.randn_like(x1), x1)
        return (net(torch.cat([xt, t[:, None]], 1)) - ut).square().mean()

    train(loss, net.parameters())
    quality = shown_quality(from_torchcfm(net, matcher))
    assert quality.ratio < QUALITY_THRESHOLD, quality.text


def test_a_flow_matching_model_trained_here_reaches_the_threshold_on_our_engine():
    pytest.importorskip("flow_matching")
    from flow_matching.path import AffineProbPath
    from flow_matching.path.scheduler import CondOTScheduler
    from flow_matching.utils import ModelWrapper

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(3, 64),
                torch.nn.SiLU(),
                torch.nn.Linear(64, 64),
                torch.nn.SiLU(),
                torch.nn.Linear(64, 2),
            )

        def forward(self, x, t):
            return self.mlp(torch.cat([x, t.reshape(-1, 1).expand(len(x), 1)], 1))

    class Wrapped(ModelWrapper):
        def forward(self, x, t, **extras):
            return self.model(x, t)

    torch.manual_seed(0)
    path, net = AffineProbPath(scheduler=CondOTScheduler()), Net()

    def loss(x1):
        drawn = path.sample(x_0=torch.randn_like(x1), x_1=x1, t=torch.rand(len(x1)))
        return (net(drawn.x_t, drawn.t) - drawn.dx_t).square().mean()

    train(loss, net.parameters())
    yours = from_flow_matching(Wrapped(net), path)
    quality = shown_quality(yours)
    assert quality.ratio < QUALITY_THRESHOLD, quality.text
    # The same field with DDIM (which uses the path's alpha and sigma) still lands on the data.
    assert shown_quality(yours, "ddim", 50).ratio < QUALITY_THRESHOLD


def test_a_users_model_is_compared_with_ours_in_the_state():
    exact = ExactField(POINTS, CosinePath(), spread=0.2)
    state = AppState(data=Data(dataset="moons", n=500, seed=0))
    assert "no model of yours" in state.run_problem(Run(model="yours"))
    state.use_model(UserModel(literature_model(exact, "epsilon", "noise_at_0", "x, t"), "epsilon"))
    assert state.set_runs(["yours:ddim:20", "flow:heun:20"]), state.message
    assert not state.set_runs(["yours:ddim:20:class=1", "flow:heun:20"])
    assert "no classes" in state.message


@pytest.mark.parametrize(
    ("model", "convention", "message"),
    [
        (lambda x, t: torch.cat([x, x[:, :1]], 1), {}, "returned shape (5, 3) for x of shape"),
        (lambda x, t: x * math.nan, {}, "non-finite values (inf or nan) at t = 0.1"),
        (lambda x, t: (x > 0).long(), {}, "torch.int64, not floating point"),
        (lambda x, t: (x, t), {}, "returned a tuple, not a tensor: check `signature`"),
        (torch.nn.Linear(3, 2), {}, "failed (TypeError: Linear.forward() takes 2 positional"),
        (torch.nn.Linear(2, 2), {"signature": "xt"}, "with one input of shape (5, 3) failed"),
        (torch.nn.Linear(3, 2), {"signature": "t, x"}, "check `signature` ('t, x')"),
        (lambda x, t: x, {"prediction": "noise"}, "unknown prediction 'noise'"),
        (lambda x, t: x, {"time": "reversed"}, "unknown time 'reversed'"),
        (lambda x, t: x, {"time_shape": "(1, n)"}, "unknown time_shape"),
        ("not a model", {}, "a model must be callable"),
    ],
)
def test_a_bad_model_gets_a_clear_error_when_wrapped(model, convention, message):
    with pytest.raises(ValueError) as caught:
        UserModel(model, **convention)
    assert message in str(caught.value)
    if "shape (5, 3)" in message or "failed" in message:
        assert "check `signature`" in str(caught.value)


def test_a_model_that_breaks_during_a_run_is_reported_as_the_engine_reports_it():
    """Finite where it was probed, nan late in the run: the particles become non-finite and
    the run says how many."""

    def late_nan(x, t):
        return torch.where(t > 0.95, math.nan, 0.0) + x

    state = AppState(data=Data(dataset="moons", n=300, seed=0))
    state.use_model(UserModel(late_nan, "data"))
    sim = Simulation(state.data, state.run, 300, yours=state.yours)
    sim.wait()
    assert "300 of 300 particles became non-finite (inf or nan)" in sim.notice


def test_a_module_is_given_its_own_dtype_and_answers_in_the_particles():
    """A float64 module gets float64 inputs; the field answers in the particles' float32."""
    exact = ExactField(POINTS, CosinePath(), spread=0.2)

    class Double(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

        def forward(self, x, t):
            assert x.dtype == torch.float64
            return self.scale * exact.velocity(x.float(), t.float()).double()

    field = UserModel(Double(), device="cpu").field()
    x = torch.randn((16, 2), generator=torch.Generator().manual_seed(2))
    velocity = field.velocity(x, 0.4)
    assert velocity.dtype == torch.float32
    torch.testing.assert_close(velocity, exact.velocity(x, 0.4))


def test_the_engine_runs_a_users_model_beside_ours():
    exact = ExactField(POINTS, CosinePath(), spread=0.2)
    state = AppState(data=Data(dataset="moons", n=400, seed=0))
    state.use_model(
        UserModel(
            literature_model(exact, "v", "data_at_0", "t, x"),
            "v",
            "data_at_0",
            "t, x",
            path="cosine",
        )
    )
    assert state.set_runs(["yours:ddim:10", "exact:heun:10"]), state.message
    engine = Engine()
    problems = engine.sync(dataclasses.replace(state.request(), n=400))
    engine.wait()
    assert problems == []
    assert [sim.run.model for sim in engine.simulations] == ["yours", "exact"]
    assert all(sim.notice == "" for sim in engine.simulations)
    # Without the model, the engine says so instead of running.
    problems = Engine().sync(dataclasses.replace(state.request(), n=400, yours=None))
    assert "no model of yours" in problems[0].message
    engine.close()
