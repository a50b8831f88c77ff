"""The engine: progressive fill, cancellation, interpolation, zero copy, memory limits."""

import math
import threading
import time

import numpy as np
import pytest
import torch

from dexplorer.core.fields import ExactField, Field
from dexplorer.core.paths import LinearPath
from dexplorer.core.runs import Data, Run
from dexplorer.engine.buffers import SharedArray
from dexplorer.engine.grids import DensityGrid, grid_points
from dexplorer.engine.simulation import Simulation
from dexplorer.engine.trajectory import RunSpec, TrajectoryCache

CENTRES = torch.tensor([[-2.0, 0.0], [2.0, 1.0]])


class GatedField(Field):
    """An exact field that waits for permission before each evaluation."""

    def __init__(self) -> None:
        self.inner = ExactField(CENTRES, LinearPath(), spread=0.3)
        self.path = self.inner.path
        self.gate = threading.Semaphore(0)

    def estimate(self, x, t):
        assert self.gate.acquire(timeout=10)
        return self.inner.estimate(x, t)


class OverflowingField(Field):
    """An exact field whose data estimate is infinite right of x = ``edge`` after t = 0.5:
    the particles there become inf (then nan) from that step on."""

    def __init__(self, edge: float = 1.0) -> None:
        self.inner = ExactField(CENTRES, LinearPath(), spread=0.3)
        self.path = self.inner.path
        self.edge = edge

    def estimate(self, x, t):
        estimate = self.inner.estimate(x, t)
        if float(t) >= 0.5:
            estimate.data[x[:, 0] > self.edge] = torch.inf
        return estimate


def wait_for(condition, timeout=10.0):
    end = time.time() + timeout
    while not condition():
        assert time.time() < end, "timed out"
        time.sleep(0.005)


def test_cache_fills_progressively_and_shows_what_is_ready():
    field = GatedField()
    cache = TrajectoryCache()
    cache.start(RunSpec(field, "euler", steps=10, n=100))
    out = torch.empty(100, 2)
    assert cache.state.ready == 0
    assert torch.equal(cache.interpolate(0.7, out), cache.particles[0])  # only noise so far
    for step in range(1, 4):
        field.gate.release()
        wait_for(lambda step=step: cache.state.ready == step)
    assert torch.equal(cache.interpolate(1.0, out), cache.particles[3])
    field.gate.release(7)
    assert cache.wait(10) and cache.state.ready == 10 and not cache.state.error


def test_new_settings_cancel_the_running_computation():
    slow = GatedField()
    cache = TrajectoryCache()
    cache.start(RunSpec(slow, "euler", steps=50, n=100))
    slow.gate.release(2)
    wait_for(lambda: cache.state.ready == 2)
    first_state = cache.state
    releaser = threading.Timer(0.05, lambda: slow.gate.release(1))
    releaser.start()
    cache.start(RunSpec(ExactField(CENTRES, LinearPath()), "euler", steps=5, n=100))
    assert cache.wait(10) and cache.state.ready == 5
    assert not first_state.done and first_state.ready < 50
    assert cache.state.generation == first_state.generation + 1


def test_interpolation_between_cached_steps():
    cache = TrajectoryCache()
    cache.start(RunSpec(ExactField(CENTRES, LinearPath(), spread=0.3), "heun", steps=8, n=64))
    cache.wait()
    out = torch.empty(64, 2)
    for i, fraction in ((2, 0.5), (5, 0.25), (0, 0.9)):
        expected = (1 - fraction) * cache.particles[i] + fraction * cache.particles[i + 1]
        assert torch.allclose(cache.interpolate((i + fraction) / 8, out), expected, atol=1e-6)
    assert torch.equal(cache.interpolate(1.0, out), cache.particles[8])


def test_the_time_of_a_step_is_that_step():
    """k / steps * steps falls just below k for some k (29, 57 and 58 of 100): the step
    keys and the video frames at a step's time show that step, not the one before."""
    cache = TrajectoryCache()
    cache.start(RunSpec(ExactField(CENTRES, LinearPath(), spread=0.3), "euler", steps=100, n=8))
    cache.wait()
    assert all(math.floor(k / 100 * 100) == k - 1 for k in (29, 57, 58))
    for k in (29, 57, 58, 100):
        assert cache.step_position(k / 100) == (k, 0.0)
    step, fraction = cache.step_position(0.575)
    assert step == 57 and fraction == pytest.approx(0.5)


def test_cpu_shared_array_is_the_tensor_memory():
    shared = SharedArray((1000, 2), torch.device("cpu"))
    assert shared.target.data_ptr() == shared.array.ctypes.data
    shared.target.fill_(7.0)
    assert (shared.array == 7).all()


def test_simulation_writes_positions_in_place_without_copies():
    sim = Simulation(Data(n=500), Run(steps=10), density_resolution=32)
    sim.cache.wait()
    array = sim.positions.array
    sim.update_positions(1.0)
    assert np.shares_memory(array, sim.positions.target.numpy())
    assert np.allclose(array, sim.cache.particles[-1].numpy())
    from dexplorer.scene.particles import ParticlesLayer

    layer = ParticlesLayer(sim.positions.array)
    assert layer.positions.data is array  # the renderer uploads this very array


def test_cache_counts_the_particles_that_became_non_finite():
    cache = TrajectoryCache()
    mesh = grid_points(5, 3.0)
    cache.start(RunSpec(OverflowingField(), "euler", steps=10, n=300, extra=mesh))
    assert cache.wait(10) and not cache.state.error
    broken = ~torch.isfinite(cache.particles).all(dim=2).all(dim=0)
    broken_mesh = ~torch.isfinite(cache.extra).all(dim=2).all(dim=0)
    assert 0 < int(broken.sum()) < 300 and int(broken_mesh.sum()) > 0
    assert cache.state.nonfinite == int(broken.sum())
    assert cache.state.nonfinite_extra == int(broken_mesh.sum())
    assert torch.isfinite(cache.particles[:6]).all()  # finite until t = 0.5


class FailingField(Field):
    """An exact field that raises from t = 0.5 on (a run that fails part way)."""

    def __init__(self) -> None:
        self.inner = ExactField(CENTRES, LinearPath(), spread=0.3)
        self.path = self.inner.path

    def estimate(self, x, t):
        if float(t) >= 0.5:
            raise RuntimeError("the field failed")
        return self.inner.estimate(x, t)


def test_a_run_that_failed_wants_no_more_steps():
    """Its progress is complete where it stopped (the time bar does not say it is still
    computing, and playback does not wait for it)."""
    sim = Simulation(Data(n=300), Run(steps=10), density_resolution=32, mesh_count=5)
    sim.cache.wait()
    sim.cache.start(RunSpec(FailingField(), "euler", steps=10, n=300))
    sim.cache.wait(10)
    state = sim.cache.state
    assert "the field failed" in state.error and 0 < state.ready < 10
    assert sim.progress == (state.ready, state.ready)


def test_simulation_reports_non_finite_particles_and_never_selects_them():
    sim = Simulation(Data(n=300), Run(steps=10), density_resolution=32, mesh_count=5)
    sim.cache.wait()
    assert sim.notice == ""
    sim.cache.start(RunSpec(OverflowingField(), "euler", steps=10, n=300, extra=sim.mesh_start))
    sim.cache.wait()
    state = sim.cache.state
    assert sim.notice == (
        f"{state.nonfinite} of 300 particles became non-finite (inf or nan): not drawn; "
        f"{state.nonfinite_extra} of 25 mesh points became non-finite: not drawn"
    )
    sim.update_positions(1.0)
    broken = ~torch.isfinite(sim.positions.target).all(dim=1)
    assert int(broken.sum()) == state.nonfinite
    assert not broken[sim.nearest(2.0, 0.0)]  # where they were heading


def test_too_many_particles_get_a_message_and_the_old_run_stays():
    sim = Simulation(Data(n=200), Run(steps=5), density_resolution=32)
    sim.cache.wait()
    data, run, n = sim.data, sim.run, sim.n
    with pytest.raises(MemoryError, match="particles"):
        # Data.check (the UI caps N) is not asked: far more than the machine has.
        sim.apply(Data(n=10**11), Run(steps=1000))
    assert (sim.data, sim.run, sim.n) == (data, run, n) and sim.data is data
    assert sim.cache.state.done


def test_density_grid_counts_particles_where_they_are():
    grid = DensityGrid(resolution=64, extent=3.5, blur=1.0)
    points = torch.tensor([[1.0, 2.0]]).repeat(100, 1)
    out = torch.empty(64, 64)
    grid.compute(points, out)
    row, column = np.unravel_index(int(out.argmax()), out.shape)
    assert abs((column + 0.5) / 64 * 7 - 3.5 - 1.0) < 0.11
    assert abs((row + 0.5) / 64 * 7 - 3.5 - 2.0) < 0.11
    assert float(out.max()) == pytest.approx(1.0)


def test_density_ignores_particles_outside_the_grid_and_nan():
    grid = DensityGrid(resolution=32, extent=3.5, blur=1.0)
    inside = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.2, 0.2]])
    outside = torch.tensor([[9.0, 0.0], [0.0, -3.6], [float("nan"), 1.0], [3.5, 3.5]])
    expected = grid.compute(inside, torch.empty(32, 32))
    mixed = grid.compute(torch.cat([outside, inside, outside]), torch.empty(32, 32))
    assert torch.equal(mixed, expected)


def test_density_blur_is_the_separable_gaussian_with_zeros_beyond_the_edges():
    grid = DensityGrid(resolution=32, extent=3.5, blur=1.5)
    points = torch.randn(500, 2, generator=torch.Generator().manual_seed(0)) * 2.5
    out = torch.empty(32, 32)
    grid.compute(points, out)
    cells = ((points + 3.5) * (32 / 7)).floor().long()
    counts = np.zeros((32, 32))
    for x, y in cells.tolist():
        if 0 <= x < 32 and 0 <= y < 32:
            counts[y, x] += 1
    kernel = grid.kernel.numpy().astype(float)
    pad = len(kernel) // 2
    padded = np.pad(counts, pad)
    rows = np.array(
        [[padded[i, j : j + len(kernel)] @ kernel for j in range(32)] for i in range(32 + 2 * pad)]
    )
    blurred = np.array(
        [[rows[i : i + len(kernel), j] @ kernel for j in range(32)] for i in range(32)]
    )
    np.testing.assert_allclose(out.numpy(), blurred / blurred.max(), atol=1e-5)


def test_grid_points_cover_the_square_row_by_row():
    points = grid_points(3, 2.0)
    assert points.tolist() == [
        [-2, -2],
        [0, -2],
        [2, -2],
        [-2, 0],
        [0, 0],
        [2, 0],
        [-2, 2],
        [0, 2],
        [2, 2],
    ]


def test_a_new_run_may_take_the_memory_of_the_run_it_replaces(monkeypatch):
    """The free memory is measured while the old run still holds its own: the same run
    started again keeps its precision instead of alternating with float16."""
    import dexplorer.engine.trajectory as trajectory

    spec = RunSpec(ExactField(CENTRES, LinearPath()), "euler", steps=10, n=1000)
    needed32 = 11 * 1000 * 2 * 4
    total = 2 * needed32  # 60 % of it fits float32
    cache = TrajectoryCache()
    held = lambda: 0 if cache.particles is None else cache.particles.nbytes  # noqa: E731
    monkeypatch.setattr(trajectory, "available_memory", lambda device: total - held())
    dtypes = []
    for _ in range(3):
        cache.start(spec)
        cache.wait()
        dtypes.append(cache.particles.dtype)
    assert dtypes == [torch.float32] * 3


def test_cache_falls_back_to_half_precision_when_memory_is_tight(monkeypatch):
    import dexplorer.engine.trajectory as trajectory

    spec = RunSpec(ExactField(CENTRES, LinearPath()), "euler", steps=10, n=1000)
    needed32 = 11 * 1000 * 2 * 4
    monkeypatch.setattr(trajectory, "available_memory", lambda device: needed32)  # 60 % fits f16
    cache = TrajectoryCache()
    cache.start(spec)
    cache.wait()
    assert cache.particles.dtype == torch.float16
    out = torch.empty(1000, 2)
    assert torch.allclose(
        cache.interpolate(0.55, out), cache.particles[5:7].float().mean(0), atol=2e-2
    )
    monkeypatch.setattr(trajectory, "available_memory", lambda device: needed32 // 4)
    with pytest.raises(MemoryError, match="fewer particles"):
        cache.start(spec)
    assert cache.particles.dtype == torch.float16 and cache.state.done  # the old run stays


def test_copy_path_copies_into_the_array_the_layer_draws():
    """The GPU path (forced here on the CPU): the engine writes a separate tensor, publish
    copies it into the array, sync waits for the copy; the renderer's layer keeps drawing
    from that one array."""
    from dexplorer.scene.particles import ParticlesLayer

    shared = SharedArray((100, 2), torch.device("cpu"), copies=True)
    assert not np.shares_memory(shared.array, shared.target.numpy())
    layer = ParticlesLayer(shared.array)
    buffer = layer.points.geometry.points
    for value in (1.0, 2.0, 3.0):
        shared.target.fill_(value)
        shared.publish()
        shared.sync()
        assert (shared.array == value).all()
        layer.update()
        assert layer.points.geometry.points is buffer and buffer.data is shared.array


def test_simulation_runs_the_exact_field_of_custom_data():
    from dexplorer.core.datasets import Dataset

    points = np.random.default_rng(0).uniform(-2, 2, (30, 2)).astype(np.float32)
    sim = Simulation(
        Data(dataset="custom", n=200),
        Run(model="exact", sampler="euler", steps=50),
        density_resolution=32,
        custom=Dataset.custom(points),
    )
    sim.cache.wait()
    final = sim.cache.particles[-1].numpy()
    nearest = np.linalg.norm(final[:, None] - points[None], axis=2).min(1)
    assert np.median(nearest) < 0.01  # memorised: the particles land on the points
    with pytest.raises(ValueError, match="no trained model"):
        sim.apply(Data(), Run(model="trained"))
