"""The particles drawn from steps of their run held on the device: the same pixels as the
array drawn each frame, each step uploaded once, a byte budget kept, and nothing of an older
run or of a run before a live edit's patch drawn."""

from contextlib import contextmanager

import numpy as np
import pytest
import torch

from dexplorer.core.fields import ExactField
from dexplorer.core.paths import LinearPath
from dexplorer.engine.rows import POINT_BYTES, DeviceRows
from dexplorer.engine.trajectory import BUDGET_VARIABLE, RunSpec, TrajectoryCache

N, STEPS = 50, 8


def _spec(seed: int = 0) -> RunSpec:
    field = ExactField(torch.tensor([[1.0, 1.0], [-1.0, 0.5]]), LinearPath())
    return RunSpec(field, "euler", steps=STEPS, n=N, seed=seed)


def _cache(seed: int = 0) -> TrajectoryCache:
    cache = TrajectoryCache(torch.device("cpu"))
    cache.start(_spec(seed))
    assert cache.wait(30) and not cache.state.error
    return cache


def _upload_steps(rows: DeviceRows, cache: TrajectoryCache, shown) -> dict[int, np.ndarray]:
    """Show ``shown`` (step, fraction) one after the other; what each slot holds after."""
    slots = {}
    for step, fraction in shown:
        result = rows.show(cache, step, fraction)
        for slot, row in result.uploads:
            slots[slot] = row
        assert result.fraction == fraction
        np.testing.assert_array_equal(slots[result.first], cache.row(step).numpy())
        after = step + 1 if fraction else step
        np.testing.assert_array_equal(slots[result.second], cache.row(after).numpy())
    return slots


def test_each_step_is_uploaded_once_and_the_next_ahead_while_there_is_room():
    cache = _cache()
    rows = DeviceRows(N, 10**9)
    first = rows.show(cache, 3, 0.25)
    assert [len(u.row) for u in first.uploads] == [N, N] and rows.held == [3, 4]
    again = rows.show(cache, 3, 0.5)  # nothing needed: one step ahead
    assert [u.row.tolist() for u in again.uploads] == [cache.row(5).tolist()]
    assert rows.held == [3, 4, 5]
    for _ in range(STEPS):
        rows.show(cache, 3, 0.5)
    assert rows.held == list(range(STEPS + 1))  # every step, and then no more uploads
    assert rows.show(cache, 3, 0.5).uploads == []
    assert rows.uploaded == (STEPS + 1) * N * POINT_BYTES


def test_a_budget_of_three_rows_keeps_the_steps_nearest_the_time_shown():
    cache = _cache()
    rows = DeviceRows(N, 3 * N * POINT_BYTES)
    assert rows.capacity == 3
    shown = [(s, f) for s in range(STEPS) for f in (0.0, 0.5, 0.5)]
    shown += [(s, 0.5) for s in reversed(range(STEPS))]
    slots = _upload_steps(rows, cache, shown)
    assert len(rows.held) == 3 and {0, 1} <= set(rows.held)
    assert sorted(slots) == [0, 1, 2]  # three slots, used again and again


def test_a_new_run_and_a_patch_forget_every_step_held():
    cache = _cache()
    rows = DeviceRows(N, 10**9)
    _upload_steps(rows, cache, [(2, 0.5), (2, 0.5)])
    cache.start(_spec(seed=1))
    assert cache.wait(30)
    _upload_steps(rows, cache, [(2, 0.5)])  # the new run's rows, not the old run's
    assert rows.held == [2, 3]
    index = torch.arange(5)
    cache.patch(index, torch.zeros(STEPS + 1, 5, 2))
    slots = _upload_steps(rows, cache, [(2, 0.5)])
    assert (slots[rows.show(cache, 2, 0.5).first][:5] == 0).all()


def test_a_step_the_run_does_not_hold_is_not_shown():
    class Holding:
        """A bounded run's cache that holds steps 0 to 3 only."""

        def __init__(self, cache):
            self.cache, self.state = cache, cache.state

        def row(self, step):
            return self.cache.row(step) if step <= 3 else None

    holding = Holding(_cache())
    rows = DeviceRows(N, 10**9)
    assert rows.show(holding, 5, 0.0) is None
    assert rows.show(holding, 3, 0.5) is None and rows.held == []  # 4 is not held: nothing
    assert rows.show(holding, 3, 0.0).uploads[0].row.shape == (N, 2)
    for _ in range(6):
        rows.show(holding, 3, 0.0)
    assert rows.held == [0, 1, 2, 3]  # steps ahead not held are skipped


def test_the_budget_on_a_cpu_and_at_least_two_rows(monkeypatch):
    from dexplorer.engine import rows
    from dexplorer.engine.rows import ROW_BYTES, ROW_SHARE, row_budget

    monkeypatch.setattr(rows, "available_memory", lambda device: 64 << 30)
    assert row_budget(torch.device("cpu")) == ROW_BYTES
    monkeypatch.setattr(rows, "available_memory", lambda device: 2 << 30)  # host memory
    assert row_budget(torch.device("cpu")) == int(ROW_SHARE * (2 << 30))
    monkeypatch.setattr(rows, "available_memory", lambda device: None)
    assert row_budget(torch.device("cpu")) == ROW_BYTES
    assert DeviceRows(10**6, 1).capacity == 2


@contextmanager
def device_app(monkeypatch, size: tuple[int, int], panels: int = 1, **changes):
    """An offscreen app whose particles the device's passes draw (from rows), on the data
    and run of ``changes``, with ``panels`` panels, density hidden; settled."""
    pytest.importorskip("pygfx")
    from test_scene import _adapter_problem

    if _adapter_problem():
        pytest.skip(_adapter_problem())
    from dexplorer.headless import offscreen_app
    from dexplorer.scene import cpu_points
    from dexplorer.state import AppState

    monkeypatch.setattr(cpu_points, "cpu_kernel", lambda: None)  # the device's passes draw
    state = AppState()
    state.change(dataset="moons", **changes)
    state.look.visible["density"] = False
    if panels > 1:
        assert state.set_view(panels)
    app = offscreen_app(state, size, "cpu", ui=False)
    try:
        app.settle()
        yield app
    finally:
        app.close()


@pytest.mark.parametrize("bounded", [False, True])
def test_rows_on_the_device_draw_the_pixels_of_the_array(monkeypatch, bounded):
    if bounded:  # keyframes and a ring: steps 44 and 45 are recomputed when shown
        monkeypatch.setenv(BUDGET_VARIABLE, str(int(0.48 * 121 * (4000 + 225) * 8)))
    images, held, memory = {}, {}, {}
    for path in ("rows", "array"):
        if path == "array":
            from dexplorer.scene import particles

            monkeypatch.setattr(particles.ParticlesLayer, "takes_rows", False)
        with device_app(monkeypatch, (320, 240), n=4000, steps=120) as app:
            for t in (0.37, 0.8, 0.37):
                app.state.t = t
                images[path, t] = np.asarray(app.screenshot()).copy()
            layer = app.view.panels[0].particles
            assert layer.material.rows == (path == "rows")
            held[path] = [rows.held for rows in app._rows.values()]
            memory[path] = app.status.memory
    assert ("keyframes" in memory["rows"]) == bounded
    assert {44, 45, 96} <= set(held["rows"][0]) and held["array"] == []
    for t in (0.37, 0.8):
        rows, array = images["rows", t].astype(int), images["array", t].astype(int)
        assert np.abs(rows - array).max() <= 1
    moved = images["rows", 0.37] != images["rows", 0.8]
    assert moved.any(axis=2).sum() > 1000  # the time moved the particles


def test_a_layer_drawn_from_rows_turns_to_the_cpu_only_once_drawn_from_its_array(monkeypatch):
    pytest.importorskip("pygfx")
    from dexplorer.scene import cpu_points
    from dexplorer.scene.particles import ParticlesLayer

    layer = ParticlesLayer(np.zeros((4, 2), np.float32))
    row = np.ones((4, 2), np.float32)
    monkeypatch.setattr(cpu_points, "cpu_kernel", lambda: None)
    layer.show_rows([(0, row), (1, row)], 0, 1, 0.5)
    assert layer.points.geometry.points is layer.slots[0]
    monkeypatch.setattr(cpu_points, "cpu_kernel", lambda: object())  # the kernel loaded
    assert not layer.takes_rows
    layer.points.fit((64, 64))
    assert not layer.material.on_cpu  # the rows are not on the host: the device still draws
    layer.update()
    layer.points.fit((64, 64))
    assert layer.material.on_cpu and layer.points.geometry.points is layer.positions


def test_hidden_particles_take_no_rows_and_the_cpu_taking_over_frees_the_slots(monkeypatch):
    """A buffer never drawn keeps each row sent to it on the host: with the particles and
    the data hidden no row is sent, and shown again they are drawn from rows. Once the
    CPU's kernel is loaded it draws, paused too, and the slots and the record of their
    steps are let go."""
    from dexplorer.core import native_build
    from dexplorer.scene import cpu_points

    kernel = cpu_points.cpu_kernel
    with device_app(monkeypatch, (160, 120), n=500, steps=30) as app:
        state = app.state
        state.t = 0.3
        app.screenshot()
        layer = app.view.panels[0].particles
        sent = app.uploaded_rows
        assert sent > 0 and layer.material.rows
        state.look.visible["particles"] = state.look.visible["data"] = False
        for t in (0.4, 0.5, 0.6, 0.7):
            state.t = t
            app.screenshot()
        assert app.uploaded_rows == sent and not layer.points.visible
        state.look.visible["particles"] = True
        app.screenshot()
        assert app.uploaded_rows > sent and layer.material.rows
        monkeypatch.setattr(cpu_points, "cpu_kernel", kernel)  # the CPU's kernel is loaded
        if native_build.load("splat").library is None or kernel() is None:
            pytest.skip("the splat kernel is not built here")
        app.screenshot()  # paused at the same time: drawn from the array all the same
        app.screenshot()
        assert layer.slots == [] and app.uploaded_rows == 0 and layer.material.on_cpu


def test_compared_panels_share_one_budget_of_rows(monkeypatch):
    from dexplorer.engine.rows import row_budget

    with device_app(monkeypatch, (240, 120), panels=2, n=500, steps=10) as app:
        app.screenshot()
        capacities = [rows.capacity for rows in app._rows.values()]
        budget = row_budget(torch.device("cpu"))
        assert capacities == [budget // 2 // (500 * POINT_BYTES)] * 2
