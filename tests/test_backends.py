"""The sampling back-end dispatcher (engine/backends.py): what it chooses is what runs, every
back-end forced by name gives the eager samplers' particles, what it skips comes with the
reason, ``dexplorer sample --verbose`` says so, and the kernel codes are one table that the
C kernel's enums follow."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
import torch

from dexplorer.cli import main
from dexplorer.core import native_build, native_sampler, triton_sampler
from dexplorer.core.fields import ExactField, NetworkField
from dexplorer.core.networks import NetworkConfig, build_network
from dexplorer.core.objectives import make_objective
from dexplorer.core.paths import make_path
from dexplorer.core.samplers import SamplerSettings, initial_noise, sample
from dexplorer.core.whole_run import ACTIVATION_CODES, SAMPLER_CODES
from dexplorer.engine import backends
from dexplorer.engine.backends import BACKENDS, choose
from dexplorer.engine.trajectory import RunSpec, TrajectoryCache

N, STEPS, SEED = 500, 8, 2
TOLERANCE = 5e-6
"""As the native sampler's tests: float32 throughout, the kernel's exp within 1.7e-7."""
WGSL_TOLERANCE = 1e-5
"""As the WGSL sampler's tests."""

needs_compiler = pytest.mark.skipif(
    native_build.compiler() is None, reason="no C compiler: the native sampler cannot be built"
)


def flow_field(num_classes=0, label=None):
    torch.manual_seed(4)
    config = NetworkConfig(width=32, activation="silu", time_embedding="fourier")
    network = build_network(config, num_classes or None).eval().requires_grad_(False)
    with torch.no_grad():  # larger weights, so the activations' negative side is used
        for p in network.parameters():
            p.mul_(1.5)
    return NetworkField(network, make_objective("flow"), label)


def exact_field():
    points = torch.tensor([[1.0, 0.5], [-1.0, -0.5], [0.0, 1.5]])
    return ExactField(points, make_path("linear"))


def eager(field, sampler="midpoint"):
    return sample(field, N, STEPS, sampler, seed=SEED)


def forced(field, name, sampler="midpoint"):
    backend = choose(field, sampler, "cpu", N, STEPS, force=name)
    x0, generator = initial_noise(N, SEED)
    out = torch.empty(STEPS + 1, N, 2)
    return backends.trajectory(backend, x0, SamplerSettings(generator=generator), out)


def kernel_built():
    return native_build.load("mlp_sampler").library is not None


def test_the_kernel_codes_are_the_c_kernels_enums():
    source = Path(native_sampler.__file__).with_name("mlp_sampler.c").read_text()
    enums = [
        [name.strip().lower() for name in body.split(",")]
        for body in re.findall(r"enum\s*\{([^}]*)\}", source)
    ]
    assert [{name: code for code, name in enumerate(enum)} for enum in enums] == [
        ACTIVATION_CODES,
        SAMPLER_CODES,
    ]


def test_a_network_field_runs_chunked_where_no_kernel_can():
    backend = choose(flow_field(), "ddpm", "cpu", N, STEPS)
    assert backend.name == "chunked"
    assert backend.skipped["native"] == "sampler must be one of ('euler', 'midpoint', 'heun')"
    assert backend.skipped["triton"].startswith("runs on CUDA (on the CPU only when whole runs")
    assert backend.skipped["torch"] == "chunked comes first"
    assert "only when asked for by name" in backend.skipped["wgsl"]
    assert set(backend.skipped) == set(BACKENDS) - {"chunked"}


@pytest.mark.parametrize("sampler", ["ddpm", "euler_maruyama", "rk4"])
@needs_compiler
def test_samplers_the_kernels_cannot_run_are_skipped_with_the_reason(sampler):
    backend = choose(flow_field(), sampler, "cpu", N, STEPS, whole_runs=True)
    assert backend.name == "chunked"
    assert backend.skipped["native"] == "sampler must be one of ('euler', 'midpoint', 'heun')"
    assert backend.skipped["triton"] == triton_sampler.unsupported(flow_field(), sampler, "cpu")


def test_without_cuda_the_triton_kernel_says_why():
    reason = choose(flow_field(), "heun", "cpu", N, STEPS, whole_runs=True).skipped.get("triton")
    if not triton_sampler.triton_installed():
        assert reason == "triton is not installed"
    elif not triton_sampler.interpreted():
        assert reason == "needs a CUDA device (or TRITON_INTERPRET=1 on the CPU)"


def test_an_exact_field_runs_in_plain_torch():
    backend = choose(exact_field(), "heun", "cpu", N, STEPS)
    assert backend.name == "torch"
    assert backend.skipped["chunked"] == backend.skipped["native"] == "needs a network field"


@needs_compiler
def test_float16_trajectories_skip_the_kernels():
    backend = choose(flow_field(), "heun", "cpu", N, STEPS, dtype=torch.float16)
    assert backend.name == "chunked"
    assert backend.skipped["native"] == "the trajectory is float16: kernels write float32"


def test_without_a_compiler_the_native_kernel_says_so(monkeypatch):
    monkeypatch.setenv("DEXPLORER_CC", "/nonexistent/cc")
    native_build.forget()
    try:
        backend = choose(flow_field(), "heun", "cpu", N, STEPS)
    finally:
        native_build.forget()
    assert backend.name == "chunked"
    assert backend.skipped["native"].startswith("the native sampler is not built")
    assert "'/nonexistent/cc' was not found" in backend.skipped["native"]


def test_the_switches_turn_the_kernels_off():
    backend = choose(flow_field(), "heun", "cpu", N, STEPS, native=False, whole_runs=False)
    assert backend.name == "chunked"
    assert backend.skipped["native"] == "the native kernel is switched off"
    assert backend.skipped["triton"] == "whole runs are switched off"


@pytest.mark.parametrize("name", ["torch", "chunked", "native", "wgsl"])
def test_every_back_end_forced_gives_the_eager_particles(name):
    if name == "native" and not kernel_built():
        pytest.skip("no C compiler: the native sampler cannot be built")
    if name == "wgsl":
        from test_scene import _adapter_problem

        if _adapter_problem():
            pytest.skip(_adapter_problem())
    field = flow_field()
    expected = eager(field)
    got = forced(field, name)
    assert torch.equal(got[0], expected[0])
    tolerance = WGSL_TOLERANCE if name == "wgsl" else TOLERANCE
    assert (got - expected).abs().max() < tolerance
    if name == "torch":
        assert torch.equal(got, expected)


def test_forcing_names_the_others_and_refuses_what_cannot_run():
    backend = choose(flow_field(), "heun", "cpu", N, STEPS, force="torch")
    assert backend.name == "torch"
    assert backend.skipped == {name: "torch was asked for" for name in BACKENDS if name != "torch"}
    with pytest.raises(ValueError, match="the native back-end cannot run this: sampler must be"):
        choose(flow_field(), "ddim", "cpu", N, STEPS, force="native")
    with pytest.raises(ValueError, match="the chunked back-end cannot run this: needs a network"):
        choose(exact_field(), "heun", "cpu", N, STEPS, force="chunked")
    with pytest.raises(ValueError, match="unknown sampling back-end 'cuda'"):
        choose(flow_field(), "heun", "cpu", N, STEPS, force="cuda")


@pytest.mark.parametrize(
    ("field", "options"),
    [
        (flow_field, {}),
        (flow_field, {"native": False}),
        (exact_field, {}),
        (lambda: flow_field(3, torch.arange(N) % 3), {}),
    ],
)
def test_the_cache_records_and_runs_the_back_end_chosen(field, options, monkeypatch):
    """What the cache records is what choose() says, and the run is that back-end's."""
    kernel_built()  # built before: the cache does not wait for it
    spec = RunSpec(field(), "midpoint", STEPS, N, SEED)
    backend = choose(spec.field, "midpoint", "cpu", N, STEPS, **options)
    ran = []
    plain = backends._runner
    monkeypatch.setattr(
        backends, "_runner", lambda name, *a: (ran.append(name), plain(name, *a))[1]
    )
    cache = TrajectoryCache("cpu", **options)
    cache.start(spec)
    assert cache.wait(60) and not cache.state.error
    assert cache.state.backend == backend.name == ran[0]
    assert cache.state.skipped == backend.skipped
    assert (cache.particles - forced(spec.field, backend.name)).abs().max() == 0


def test_final_positions_are_the_trajectorys_last_row_and_can_be_cancelled():
    field = flow_field()
    for name in ("chunked", "native") if kernel_built() else ("chunked",):
        backend = choose(field, "heun", "cpu", N, STEPS, force=name)
        x0, _ = initial_noise(N, SEED)
        final = backends.final_positions(backend, x0, STEPS, SamplerSettings())
        whole = backends.trajectory(backend, x0, SamplerSettings(), torch.empty(STEPS + 1, N, 2))
        assert torch.equal(final, whole[-1])
        cancel = threading.Event()
        cancel.set()
        assert backends.final_positions(backend, x0, STEPS, SamplerSettings(), cancel) is None


def test_sample_verbose_says_which_back_end_ran_and_why_not_the_others(capsys, tmp_path):
    out = tmp_path / "s.npy"
    argv = ["sample", "--exact", "moons", "-n", "50", "--steps", "3", "--out", str(out)]
    assert main([*argv, "--verbose"]) == 0
    printed, err = capsys.readouterr()
    assert "wrote 50 particles" in printed
    assert err.splitlines()[0] == "sampling back-end: torch"
    assert "  chunked skipped: needs a network field" in err.splitlines()
    assert len(err.splitlines()) == len(BACKENDS)
    assert main(argv) == 0
    assert capsys.readouterr().err == ""
