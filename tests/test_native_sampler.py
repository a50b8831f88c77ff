"""The compiled CPU sampler (core/native_sampler.py, core/mlp_sampler.c): equal to the eager
samplers, run in pieces or whole, refusing what it cannot run with the reason, and the
trajectory cache using it, or torch when there is no compiler."""

from __future__ import annotations

import platform
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest
import torch

from dexplorer.core import native_build, native_sampler
from dexplorer.core.fields import NetworkField
from dexplorer.core.networks import NetworkConfig, build_network
from dexplorer.core.objectives import make_objective
from dexplorer.core.samplers import initial_noise, sample
from dexplorer.engine import backends
from dexplorer.engine.grids import grid_points
from dexplorer.engine.trajectory import RunSpec, TrajectoryCache

N = 1001  # not a multiple of the 24-particle tile, nor of a thread's share
STEPS = 12
TOLERANCE = 5e-6
"""float32 throughout; the kernel's exp differs from torch's by under 1.7e-7 (relative)."""

needs_compiler = pytest.mark.skipif(
    native_build.compiler() is None, reason="no C compiler: the native sampler cannot be built"
)


@pytest.fixture
def no_build_remembered():
    """Forget the kernel's build before and after: a test may change how it is found."""
    native_build.forget()
    yield
    native_build.forget()


def flow_field(width=64, activation="elu", embedding="raw", num_classes=0, label=None, guidance=1):
    torch.manual_seed(5)
    config = NetworkConfig(width=width, activation=activation, time_embedding=embedding)
    network = build_network(config, num_classes or None).eval().requires_grad_(False)
    with torch.no_grad():  # larger weights, so the activations' negative side is used
        for p in network.parameters():
            p.mul_(1.5)
    return NetworkField(network, make_objective("flow"), label, guidance)


def eager(field, sampler, n=N, steps=STEPS):
    out = torch.empty(steps + 1, n, 2)
    field.fast = None
    return sample(field, n, steps, sampler, device="cpu", out=out)


def native(field, sampler, n=N, steps=STEPS, **options):
    x0, _ = initial_noise(n, 0, "cpu")  # the eager sampler's noise for seed 0
    return native_sampler.sample(field, x0, steps, sampler, **options)


@needs_compiler
@pytest.mark.parametrize("activation", ["elu", "silu", "relu"])
@pytest.mark.parametrize("sampler", ["euler", "midpoint", "heun"])
def test_it_equals_the_eager_samplers(sampler, activation):
    field = flow_field(activation=activation)
    expected = eager(field, sampler)
    got = native(field, sampler)
    assert (got - expected).abs().max() < TOLERANCE
    assert (got[-1] - got[0]).abs().mean() > 0.03  # the particles moved


@needs_compiler
@pytest.mark.parametrize("width", [16, 32, 128])
def test_every_width_equals_the_eager_sampler(width):
    field = flow_field(width=width, activation="silu", embedding="fourier")
    assert (native(field, "midpoint") - eager(field, "midpoint")).abs().max() < TOLERANCE


@needs_compiler
@pytest.mark.parametrize(("label", "guidance"), [(2, 1.0), (2, 0.0), (None, 1.0)])
def test_one_class_for_all_particles_or_the_null_class(label, guidance):
    field = flow_field(num_classes=3, label=label, guidance=guidance)
    assert (native(field, "heun") - eager(field, "heun")).abs().max() < TOLERANCE


@needs_compiler
def test_pieces_and_thread_counts_give_the_same_trajectory():
    field = flow_field()
    whole = native(field, "midpoint", threads=1)
    assert torch.equal(native(field, "midpoint", threads=3), whole)
    pieces = torch.empty_like(whole)
    pieces[0] = whole[0]
    for start, stop in [(0, 5), (5, 5), (5, 11), (11, STEPS)]:
        native_sampler.sample_steps(field, pieces, "midpoint", start, stop)
    assert torch.equal(pieces, whole)


@needs_compiler
def test_a_single_particle_and_a_single_step():
    field = flow_field()
    assert (native(field, "euler", n=1, steps=1) - eager(field, "euler", 1, 1)).abs().max() < 1e-6


@needs_compiler
@pytest.mark.parametrize(
    ("options", "sampler", "device", "reason"),
    [
        ({}, "rk4", "cpu", "sampler must be one of"),
        ({"width": 48}, "euler", "cpu", "network width must be one of"),
        ({"activation": "gelu"}, "euler", "cpu", "activation must be one of"),
        ({"num_classes": 3, "label": torch.arange(N) % 3}, "euler", "cpu", "one class"),
        ({}, "euler", "cuda", "runs on the CPU only"),
    ],
)
def test_what_it_cannot_run_is_refused_with_the_reason(options, sampler, device, reason):
    field = flow_field(**options)
    assert reason in native_sampler.unsupported(field, sampler, device)
    assert not native_sampler.available(field, sampler, device)
    if device == "cpu":
        with pytest.raises(ValueError, match=reason):
            native(field, sampler)


@needs_compiler
def test_bad_trajectories_and_step_ranges_are_refused():
    field = flow_field()
    with pytest.raises(ValueError, match="shape"):
        native_sampler.sample(field, torch.zeros(10, 3), STEPS, "euler")
    with pytest.raises(ValueError, match=r"out must have shape \(13, 10, 2\)"):
        native_sampler.sample(field, torch.zeros(10, 2), STEPS, "euler", torch.zeros(11, 10, 2))
    with pytest.raises(ValueError, match="contiguous float32"):
        native_sampler.sample_steps(field, torch.zeros(STEPS + 1, 10, 2).half(), "euler", 0, 1)
    with pytest.raises(ValueError, match="not within"):
        native_sampler.sample_steps(field, torch.zeros(STEPS + 1, 10, 2), "euler", 3, STEPS + 1)


def test_without_a_compiler_it_says_so_and_the_cache_uses_torch(monkeypatch, no_build_remembered):
    monkeypatch.setenv("DEXPLORER_CC", "/nonexistent/cc")
    field = flow_field()
    reason = native_sampler.unsupported(field, "midpoint", "cpu")
    assert "'/nonexistent/cc' was not found" in reason and "install gcc" in reason
    spec = RunSpec(field, "midpoint", STEPS, N)
    cache, stepwise = TrajectoryCache("cpu"), TrajectoryCache("cpu", native=False)
    cache.start(spec)
    stepwise.start(spec)
    assert cache.wait(60) and stepwise.wait(60) and not cache.state.error
    assert torch.equal(cache.particles, stepwise.particles)


def test_a_failed_build_gives_the_compilers_message(monkeypatch, tmp_path, no_build_remembered):
    broken = tmp_path / "cc"
    broken.write_text("#!/bin/sh\necho 'mlp_sampler.c:1: error: no vector unit' >&2\nexit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("DEXPLORER_CC", str(broken))
    monkeypatch.setenv("DEXPLORER_CACHE", str(tmp_path / "cache"))
    reason = native_sampler.unsupported(flow_field(), "euler", "cpu")
    assert reason == (
        "the native sampler is not built: cc could not build mlp_sampler.c: "
        "mlp_sampler.c:1: error: no vector unit"
    )
    assert not list((tmp_path / "cache").rglob("*.so"))


@needs_compiler
def test_the_set_up_builds_it_into_the_cache(monkeypatch, tmp_path, capsys, no_build_remembered):
    monkeypatch.setenv("DEXPLORER_CACHE", str(tmp_path))
    assert native_build.load("mlp_sampler", wait=False) is native_build.BUILDING
    reason = native_sampler.unsupported(flow_field(), "euler", "cpu", wait=False)
    assert reason == "the native sampler is not built: it is being built"
    assert native_build.main() == 0  # waits for the build started above
    built = list((tmp_path / "native").glob("mlp_sampler-*.so"))
    assert len(built) == 1
    assert "native mlp_sampler: ready (" in capsys.readouterr().out
    assert native_build.load("mlp_sampler", wait=False).path == built[0]


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or native_build.compiler() is None,
    reason="needs a C compiler for x86-64",
)
def test_the_portable_code_without_avx_equals_the_eager_sampler(monkeypatch, tmp_path):
    """The kernel's plain vector code, as CPUs without AVX (and other architectures) run it."""
    monkeypatch.setenv("DEXPLORER_CACHE", str(tmp_path))
    flags = ("-O0", "-march=x86-64", "-Wno-psabi", "-std=gnu11", "-shared", "-fPIC", "-nostdlib")
    portable = native_build.build("mlp_sampler", flags)
    assert portable.library is not None, portable.reason
    monkeypatch.setattr(native_sampler, "load", lambda name, wait=True: portable)
    for activation in ("elu", "silu", "relu"):
        field = flow_field(activation=activation)
        assert (native(field, "heun") - eager(field, "heun")).abs().max() < TOLERANCE


def test_a_compiler_that_hangs_is_stopped(monkeypatch, tmp_path, no_build_remembered):
    marker = tmp_path / "still-running"
    hanging = tmp_path / "cc"
    hanging.write_text(
        "#!/bin/sh\n"
        '[ "$1" = --version ] && { echo "hanging cc 1.0"; exit 0; }\n'
        f"(sleep 5; touch {marker}) &\n"
        "wait\n"
    )
    hanging.chmod(hanging.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("DEXPLORER_CC", str(hanging))
    monkeypatch.setenv("DEXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(native_build, "COMPILE_SECONDS", 1)
    assert native_build.load("mlp_sampler").reason == "building mlp_sampler.c took longer than 1 s"
    time.sleep(5)
    assert not marker.exists()  # the compiler's children were stopped with it


def test_the_compiler_may_be_given_with_arguments(monkeypatch, tmp_path):
    fake = tmp_path / "mycc"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("DEXPLORER_CC", raising=False)
    monkeypatch.setenv("CC", f"{fake} -m64")
    assert native_build.compiler() == [str(fake), "-m64"]
    monkeypatch.setenv("DEXPLORER_CC", "no-such-cc -O2")
    assert native_build.compiler() is None
    monkeypatch.setenv("DEXPLORER_CC", 'gcc "-O2')  # unbalanced quote
    assert native_build.compiler() is None


def test_an_unwritable_cache_folder_falls_back_to_a_temporary_one(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("DEXPLORER_CACHE", str(blocker / "cache"))
    folder = native_build._writable_dir()
    assert folder.parent == Path(tempfile.gettempdir()) and folder.is_dir()


@needs_compiler
def test_the_trajectory_cache_runs_it_a_few_steps_at_a_time(monkeypatch, no_build_remembered):
    calls = []
    plain = native_sampler.sample_steps
    monkeypatch.setattr(
        native_sampler,
        "sample_steps",
        lambda *args, **kwargs: (calls.append(args[-2:]), plain(*args, **kwargs))[1],
    )
    monkeypatch.setattr(backends, "NATIVE_PARTICLE_STEPS", 5 * N)
    assert native_build.load("mlp_sampler").library is not None
    native_build.forget()  # as in a new process: the kernel is in the cache, not in memory
    field = flow_field()
    mesh = grid_points(3, 2.0, "cpu")
    cache = TrajectoryCache("cpu")
    cache.start(RunSpec(field, "heun", STEPS, N, extra=mesh))
    assert cache.wait(60) and cache.state.ready == STEPS
    assert calls == [(0, 5), (5, 10), (10, 12)]
    assert (cache.particles - eager(flow_field(), "heun")).abs().max() < TOLERANCE
    stepwise = TrajectoryCache("cpu", native=False)
    stepwise.start(RunSpec(field, "heun", STEPS, N, extra=mesh))
    assert stepwise.wait(60)
    # The mesh goes step by step in both; with one torch thread, the matrix kernels round
    # differently for the mesh alone and the mesh beside the particles (2.4e-7 seen).
    assert (cache.extra - stepwise.extra).abs().max() < 1e-6


def test_the_work_queue_covers_every_item_once_and_nothing_of_none():
    done, lock = [], threading.Lock()

    def work(begin, end, worker):
        with lock:
            done.extend(range(begin, end))

    native_build.in_pieces(103, 8, 2, work)
    assert sorted(done) == list(range(103))
    done.clear()
    native_build.in_pieces(0, 0, 2, work)  # no particles: nothing, and no error
    native_build.in_pieces(3, 50, 2, work)  # more pieces asked than items
    assert sorted(done) == [0, 1, 2]
