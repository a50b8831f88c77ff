"""The Triton trajectory kernel against the eager samplers: on a GPU when there is one, else
in Triton's CPU interpreter. Skipped where triton is not installed (as on CI)."""

import importlib
import os
import sys

import numpy as np
import pytest
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu" and "triton" not in sys.modules:
    # Triton reads this when it is imported (its own library functions are decorated then):
    # without CUDA the kernels run in its interpreter, for the rest of the test session.
    os.environ["TRITON_INTERPRET"] = "1"
triton = pytest.importorskip("triton")
if DEVICE == "cpu" and not isinstance(
    importlib.import_module("dexplorer.core._triton_kernels").sample_kernel,
    triton.runtime.interpreter.InterpretedFunction,
):
    pytest.skip(
        "triton was imported before its interpreter could be chosen", allow_module_level=True
    )

from dexplorer.core import triton_sampler, whole_run  # noqa: E402
from dexplorer.core.fields import NetworkField  # noqa: E402
from dexplorer.core.networks import build_network  # noqa: E402
from dexplorer.core.objectives import make_objective  # noqa: E402
from dexplorer.core.samplers import initial_noise, sample  # noqa: E402

N = 300  # not a multiple of the block: the last program is partly masked
STEPS = 5
SEED = 3
PRECISION = "ieee" if DEVICE == "cpu" else "tf32"
"""The interpreter runs both exactly; on a GPU "ieee" takes half a minute to compile."""
TOLERANCE = 1e-5 if DEVICE == "cpu" else 3e-2
"""A GPU's tf32 rounds the hidden layers' inputs to 11 significant bits."""


@pytest.fixture
def bf16_dot(monkeypatch):
    """Let the interpreter multiply bfloat16 matrices (it would multiply their raw bits),
    and round float32 to the nearest bfloat16 as a GPU does (it would truncate)."""
    if DEVICE == "cuda":
        return
    builder = triton.runtime.interpreter.InterpreterBuilder
    plain = builder.create_dot
    plain_trunc = builder.create_fp_trunc

    def create_fp_trunc(self, src, dst_type):
        if (
            src.dtype.scalar != triton.language.float32
            or dst_type.scalar != triton.language.bfloat16
        ):
            return plain_trunc(self, src, dst_type)
        bits = src.data.astype(np.float32).view(np.uint32)
        nearest = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # ties to even
        return triton.runtime.interpreter.TensorHandle(nearest.astype(np.uint16), dst_type.scalar)

    def widened(handle):
        if handle.dtype.scalar != triton.language.bfloat16:
            return handle
        data = (handle.data.astype(np.uint32) << 16).view(np.float32)
        return triton.runtime.interpreter.TensorHandle(data, triton.language.float32)

    def create_dot(self, a, b, d, input_precision, max_num_imprecise_acc):
        return plain(self, widened(a), widened(b), d, input_precision, max_num_imprecise_acc)

    monkeypatch.setattr(builder, "create_dot", create_dot)
    monkeypatch.setattr(builder, "create_fp_trunc", create_fp_trunc)


def network(preset="original", num_classes=0):
    torch.manual_seed(1)
    net = build_network(preset, num_classes).eval().requires_grad_(False)
    with torch.no_grad():  # larger weights: the activations' negative side is used
        for p in net.parameters():
            p.mul_(2.0)
    return net.to(DEVICE)


def compare(field, sampler, precision=PRECISION, **options):
    """(Triton trajectory, eager trajectory) from the same noise."""
    eager = NetworkField(field.network, field.objective, field.label, field.guidance)
    eager.fast = None
    reference = sample(eager, N, STEPS, sampler, seed=SEED, device=DEVICE)
    x0, _ = initial_noise(N, SEED, DEVICE)
    got = triton_sampler.sample(field, x0, STEPS, sampler, precision=precision, **options)
    return got, reference


def flow_field(net, label=None, guidance=1.0):
    return NetworkField(net, make_objective("flow"), label, guidance)


@pytest.mark.parametrize("sampler", whole_run.SAMPLERS)
def test_original_matches_eager(sampler):
    got, reference = compare(flow_field(network()), sampler, block=128)
    assert got.shape == (STEPS + 1, N, 2)
    assert torch.equal(got[0], reference[0])
    assert (got - reference).abs().max() < TOLERANCE


def test_bf16_stays_close(bf16_dot):
    """bfloat16 hidden layers: within a few hundredths of float32 (weights scaled up 2x)."""
    got, reference = compare(flow_field(network()), "midpoint", "bf16", block=64)
    error = (got - reference).abs().max()
    assert 0 < error < 0.1


@pytest.mark.parametrize("sampler", ["euler", "heun"])
def test_bf16_default_preset_computes_what_the_reference_does(bf16_dot, sampler):
    """The default preset's network with bfloat16 hidden layers: the kernel against the same
    arithmetic in torch (sums in another order; a hidden activation rounded to the other
    side of a bfloat16 step now and then), and both a little off float32."""
    field = flow_field(network("default"))
    x0, _ = initial_noise(N, SEED, DEVICE)
    got = triton_sampler.sample(field, x0, STEPS, sampler, precision="bf16", block=32)
    same = triton_sampler.reference(field, x0, STEPS, sampler, "bf16")
    full = triton_sampler.reference(field, x0, STEPS, sampler, "ieee")
    assert (got - same).abs().max() < 1e-3
    assert 1e-3 < (same - full).abs().max() < 0.01


def test_wide_network_with_fourier_time():
    got, reference = compare(flow_field(network("default")), "midpoint", block=32)
    assert (got - reference).abs().max() < TOLERANCE


@pytest.mark.parametrize(("label", "guidance"), [(1, 1.0), (2, 0.0), (None, 1.0)])
def test_one_class_or_the_null_class(label, guidance):
    got, reference = compare(flow_field(network(num_classes=3), label, guidance), "euler")
    assert (got - reference).abs().max() < TOLERANCE


def test_writes_into_out():
    x0, _ = initial_noise(N, SEED, DEVICE)
    out = torch.full((STEPS + 1, N, 2), float("nan"), device=DEVICE)
    result = triton_sampler.sample(flow_field(network()), x0, STEPS, out=out)
    assert result is out
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("field", "sampler", "reason"),
    [
        (NetworkField(network(), make_objective("diffusion")), "midpoint", "velocity"),
        (flow_field(network()), "rk4", "sampler"),
        (flow_field(network(num_classes=3), torch.tensor([0, 1])), "euler", "one class"),
        (flow_field(network(num_classes=3), 1, 2.0), "euler", "guidance"),
    ],
)
def test_unsupported_cases_say_why(field, sampler, reason):
    assert reason in triton_sampler.unsupported(field, sampler, DEVICE)
    assert not triton_sampler.available(field, sampler, DEVICE)
    x0, _ = initial_noise(N, SEED, DEVICE)
    with pytest.raises(ValueError, match=reason):
        triton_sampler.sample(field, x0, STEPS, sampler)


def test_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert "CUDA" in triton_sampler.unsupported(flow_field(network()), "midpoint", "cpu")


def test_the_trajectory_cache_computes_supported_runs_in_one_launch(monkeypatch):
    from dexplorer.engine.grids import grid_points
    from dexplorer.engine.trajectory import RunSpec, TrajectoryCache

    launches = []
    plain = triton_sampler.sample
    monkeypatch.setattr(
        triton_sampler, "sample", lambda *a, **k: (launches.append(a[3]), plain(*a, **k))[1]
    )
    field = flow_field(network())
    mesh = grid_points(3, 2.0, DEVICE)
    spec = RunSpec(field, "heun", STEPS, N, SEED, extra=mesh)
    whole = TrajectoryCache(DEVICE, whole_runs=True)
    whole.start(spec)
    assert whole.wait(120) and launches == ["heun"]
    stepwise = TrajectoryCache(DEVICE, whole_runs=False, native=False)
    stepwise.start(spec)
    assert stepwise.wait(120) and launches == ["heun"]
    assert (whole.particles - stepwise.particles).abs().max() < TOLERANCE
    assert torch.equal(whole.extra, stepwise.extra)  # the mesh goes step by step in both
    assert whole.state.ready == STEPS


def test_the_cache_steps_through_runs_the_kernel_cannot_do():
    from dexplorer.engine.backends import choose
    from dexplorer.engine.trajectory import RunSpec, TrajectoryCache

    def whole_run(spec, dtype=torch.float32):
        args = (spec.field, spec.sampler, DEVICE, spec.n, spec.steps)
        return choose(*args, dtype=dtype, whole_runs=True).name == "triton"

    labels = torch.arange(N, device=DEVICE) % 3
    cases = [
        RunSpec(flow_field(network()), "rk4", STEPS, N),
        RunSpec(flow_field(network(num_classes=3), labels), "midpoint", STEPS, N),
    ]
    for spec in cases:
        assert not whole_run(spec)
        assert whole_run(RunSpec(flow_field(network()), "heun", STEPS, N))
        half = torch.float16
        assert not whole_run(RunSpec(flow_field(network()), "heun", STEPS, N), half)
    cache = TrajectoryCache(DEVICE, whole_runs=True)
    cache.start(cases[0])
    assert cache.wait(120) and cache.state.ready == STEPS


def test_a_bounded_cache_recomputes_the_kernels_steps_exactly(monkeypatch):
    """A bounded cache runs the kernel over ranges of steps (a few per launch): a backward
    scrub's recomputed steps are those of the first pass (kept whole for the traced
    particles), bit for bit, and within the kernel's precision of the eager steps."""
    from dexplorer.engine.trajectory import BUDGET_VARIABLE, RunSpec, TrajectoryCache

    n, steps = 640, 120
    field = flow_field(network())
    spec = RunSpec(field, "midpoint", steps, n, SEED)
    stepwise = TrajectoryCache(DEVICE, whole_runs=False, native=False)
    stepwise.start(spec)
    assert stepwise.wait(300)
    monkeypatch.setenv(BUDGET_VARIABLE, str(int(0.48 * (steps + 1) * n * 8)))
    bounded = TrajectoryCache(DEVICE, whole_runs=True)
    bounded.start(spec)
    assert bounded.wait(300) and bounded.state.backend == "triton" and bounded.layout
    first_pass = bounded.paths(torch.arange(bounded.traced, device=DEVICE))
    out = torch.empty((n, 2), device=DEVICE)
    for k in (3, 17, 0, 101, 9):
        bounded.hold(k / steps)
        bounded.interpolate(k / steps, out)
        assert torch.equal(out[: bounded.traced], first_pass[k])
        assert (out - stepwise.particles[k]).abs().max() < TOLERANCE
    bounded.cancel()
