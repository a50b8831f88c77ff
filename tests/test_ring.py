"""The bounded trajectory cache: keyframes and a ring of steps when the whole trajectory does
not fit its budget (DEXPLORER_CACHE_BYTES makes a small one), steps recomputed exactly."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from test_native_sampler import flow_field, needs_compiler

from dexplorer.core import native_sampler
from dexplorer.core.fields import ExactField
from dexplorer.core.paths import LinearPath
from dexplorer.core.straightness import straightness
from dexplorer.engine.ring import Layout, Ring, bounded_layout, smallest_bytes
from dexplorer.engine.trajectory import BUDGET_VARIABLE, RunSpec, TrajectoryCache

CENTRES = torch.tensor([[1.0, 1.0], [-1.0, 0.5], [0.0, -1.5]])
N, STEPS, MESH = 2000, 120, 9
FULL_BYTES = (STEPS + 1) * (N + MESH) * 2 * 4
BOUNDED = str(int(0.45 * FULL_BYTES))
"""Less than the whole trajectory takes in float16: the cache is bounded."""
SCRUB = [120, 3, 17, 0, 119, 25, 5, 6, 7, 60, 41, 40]
"""Steps visited in this order: backward scrubs, forward ones, keyframes and not."""


def spec(sampler="euler", field=None, mesh=True, **options):
    field = field or ExactField(CENTRES, LinearPath())
    extra = torch.linspace(-2, 2, MESH * 2).reshape(MESH, 2) if mesh else None
    return RunSpec(field, sampler, steps=STEPS, n=N, extra=extra, **options)


def computed(run, monkeypatch, budget=None, **options):
    if budget is None:
        monkeypatch.delenv(BUDGET_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(BUDGET_VARIABLE, budget)
    cache = TrajectoryCache(**options)
    cache.start(run)
    assert cache.wait(60) and not cache.state.error
    return cache


def scrubbed(cache, steps=SCRUB, fraction=0.0):
    """The positions shown at each of ``steps`` (+ ``fraction``), once held."""
    shown = {}
    for k in steps:
        t = (k + fraction) / STEPS
        cache.hold(t)
        assert cache.shown_position(t) == cache.step_position(t)
        shown[k] = cache.interpolate(t, torch.empty(N, 2)).clone()
    return shown


@pytest.mark.parametrize(
    ("sampler", "options"),
    [("euler", {}), ("heun", {}), ("ddpm", {}), ("euler_maruyama", {"noise_scale": 0.7})],
)
def test_a_bounded_run_shows_the_whole_runs_positions_exactly(monkeypatch, sampler, options):
    """Deterministic and stochastic samplers on torch: every step recomputed after a scrub
    (backward from a keyframe, forward through the ring) equals the whole run's, bit for
    bit, and so do the traced paths, the mesh and the non-finite counts."""
    run = spec(sampler, **options)
    whole = computed(run, monkeypatch)
    bounded = computed(run, monkeypatch, BOUNDED)
    assert whole.layout is None and whole.particles.dtype == torch.float32
    layout = bounded.layout
    assert layout is not None and bounded.particles is None
    assert len(layout.keyframes) + layout.ring < STEPS // 2
    for k, positions in scrubbed(bounded).items():
        assert torch.equal(positions, whole.particles[k]), k
    for k, positions in scrubbed(bounded, [30, 12, 70], 0.25).items():
        assert torch.equal(positions, torch.lerp(whole.particles[k], whole.particles[k + 1], 0.25))
    index = torch.arange(bounded.traced)
    assert bounded.traced == layout.traced < N
    assert torch.equal(bounded.paths(index), whole.particles[:, : layout.traced])
    assert torch.equal(bounded.extra, whole.extra)
    assert torch.equal(bounded.row(STEPS), whole.particles[-1])
    assert bounded.state.nonfinite == whole.state.nonfinite
    bounded.cancel()


@needs_compiler
@pytest.mark.parametrize("sampler", ["midpoint", "heun"])
def test_the_native_kernel_recomputes_its_own_steps_exactly(monkeypatch, sampler):
    """The compiled kernel (no noise: it runs only the ODE samplers) runs whole ranges of
    steps: recomputed steps are those of the bounded run's first pass bit for bit (the
    traced paths keep them), and within float32 rounding of the whole run's."""
    field = flow_field()
    assert native_sampler.unsupported(field, sampler, "cpu") is None  # built before the runs
    run = spec(sampler, field, mesh=False)  # a network's mesh steps on torch: slow here
    whole = computed(run, monkeypatch)
    bounded = computed(run, monkeypatch, BOUNDED)
    assert whole.state.backend == bounded.state.backend == "native"
    first_pass = bounded.paths(torch.arange(bounded.traced))
    for k, positions in scrubbed(bounded).items():
        assert torch.equal(positions[: bounded.traced], first_pass[k]), k
        assert torch.allclose(positions, whole.particles[k], atol=1e-5), k
    bounded.cancel()


def test_the_chunked_network_recomputes_a_stochastic_run_exactly(monkeypatch):
    """The torch back-end of a network field (chunked), with a sampler that draws noise."""
    run = spec("euler_maruyama", flow_field(width=16), mesh=False, noise_scale=0.5)
    whole = computed(run, monkeypatch, native=False)
    bounded = computed(run, monkeypatch, BOUNDED, native=False)
    assert whole.state.backend == bounded.state.backend == "chunked"
    for k, positions in scrubbed(bounded, [90, 7, 50, 2]).items():
        assert torch.equal(positions, whole.particles[k]), k
    bounded.cancel()


def test_a_backward_scrub_recomputes_from_the_keyframe_before_and_shows_a_held_step():
    """Until the steps asked for are back, the ring shows the nearest step held (never
    another time's positions as these) and says which keyframe it recomputes from."""
    layout = Layout(n=4, steps=20, extra=0, every=5, ring=10)
    ring = Ring(layout, torch.device("cpu"))
    ring.keyframes.copy_(torch.arange(5.0)[:, None, None].expand(5, 4, 2))
    ring.keyed = 20
    ring.lo, ring.hi, ring.front = 11, 20, 20  # the end of a first pass
    ring.ring[:] = torch.arange(11.0, 21.0)[:, None, None]
    ring.want = (7, 0.5)
    assert ring._plan() == (5, True)  # from keyframe 5, not from step 20
    assert ring._shown(7, 0.25) == (5, 0.0)  # keyframe 5 is the nearest held
    assert ring._shown(9, 0.0) == (10, 0.0)
    assert ring._shown(12, 0.5) == (12, 0.5)
    ring.want = (20, 0.0)
    assert ring._plan() is None and ring.recomputing is None


def test_bounded_straightness_equals_the_whole_trajectorys(monkeypatch):
    run = spec("heun")
    whole = computed(run, monkeypatch)
    bounded = computed(run, monkeypatch, BOUNDED)
    expected = straightness(whole.particles)
    value, count = bounded.bounded_straightness
    assert count == expected.particles == N
    assert value == pytest.approx(expected.value, rel=1e-6)
    bounded.cancel()


def test_the_layout_fits_the_budget_or_the_run_is_refused(monkeypatch):
    budget = float(BOUNDED)
    layout = bounded_layout(N, STEPS, MESH, budget)
    assert layout.bytes <= budget and layout.ring >= 2 * layout.every
    assert layout.ring % layout.every == 0 and layout.keyframes[-1] == STEPS
    assert bounded_layout(N, STEPS, MESH, smallest_bytes(N, STEPS, MESH) - 1) is None
    monkeypatch.setenv(BUDGET_VARIABLE, str(smallest_bytes(N, STEPS, MESH) // 2))
    cache = TrajectoryCache()
    with pytest.raises(MemoryError, match="fewer particles or steps"):
        cache.start(spec())
    monkeypatch.setenv(BUDGET_VARIABLE, "lots")
    with pytest.raises(ValueError, match="DEXPLORER_CACHE_BYTES must be a number of bytes"):
        cache.start(spec())


def test_cancel_stops_a_bounded_runs_worker(monkeypatch):
    cache = computed(spec(), monkeypatch, BOUNDED)
    worker = cache._thread
    assert worker.is_alive()  # it keeps the ring around the time shown
    cache.cancel()
    assert not worker.is_alive()
    assert not any(t.name == "dexplorer-trajectory" for t in threading.enumerate())


def test_a_bounded_simulation_reads_what_it_keeps(monkeypatch):
    """The simulation's readers of the cache in a bounded run: the positions, the final
    quality and the straightness are the whole run's; paths and clicks are for the traced
    particles; a live edit restarts the run; the controls are told what is kept and when
    a scrub recomputes."""
    from dexplorer.core.datasets import Dataset
    from dexplorer.core.editing import moved
    from dexplorer.core.runs import Data, Run
    from dexplorer.engine.simulation import Simulation

    points = torch.rand(40, 2).mul(4).sub(2).numpy()
    custom = Dataset.custom(points)
    run = Run("exact", "heun", STEPS)
    sims = []
    n = 4000
    data = Data("custom", n, 0)
    for budget in (None, str(int(0.48 * (STEPS + 1) * (n + 225) * 8))):
        if budget is None:
            monkeypatch.delenv(BUDGET_VARIABLE, raising=False)
        else:
            monkeypatch.setenv(BUDGET_VARIABLE, budget)
        sim = Simulation(data, run, custom=custom, density_resolution=32, measure=True)
        sim.wait()
        sims.append(sim)
    whole, bounded = sims
    assert whole.memory_note == "" and whole.selectable == n
    assert "keyframes" in bounded.memory_note and bounded.selectable == bounded.cache.traced
    for t in (0.9, 0.1, 0.55):
        bounded.cache.hold(t)
        bounded.update_positions(t)
        whole.update_positions(t)
        assert torch.equal(bounded.positions.target, whole.positions.target)
        assert bounded.recompute_note == "" or "recomputing from step" in bounded.recompute_note
    assert bounded.quality == whole.quality
    assert bounded.straightness.value == pytest.approx(whole.straightness.value, rel=1e-6)
    selected = [0, 7, bounded.selectable - 1]
    np.testing.assert_array_equal(bounded.paths(selected), whole.paths(selected))
    assert bounded.nearest(10.0, 10.0) < bounded.selectable
    edit = moved(custom, 3, 0.5, 0.5, None)
    generation = bounded.cache.state.generation
    bounded.follow(edit, edit.after)
    assert bounded.live is None and bounded.cache.state.generation == generation + 1
    for sim in sims:
        sim.close()


def test_the_app_says_what_a_bounded_run_keeps_and_draws_the_time_asked(monkeypatch):
    pytest.importorskip("pygfx")
    from test_live_edit import _state

    from dexplorer.headless import offscreen_app

    n = 4000
    monkeypatch.setenv(BUDGET_VARIABLE, str(int(0.48 * (STEPS + 1) * (n + 225) * 8)))
    state = _state()  # 40 points: the exact field is quick
    state.mode = "select"
    assert state.change(model="exact", sampler="euler", steps=STEPS, n=n)
    app = offscreen_app(state, (640, 360), "cpu", ui=True)
    app.settle()
    state.t = 0.3  # before the ring the first pass leaves at the end: recomputed
    app.draw()
    sim = app.engine.simulations[0]
    assert "keyframes" in app.status.memory and app.status.recompute == ""
    assert sim.cache.shown_position(0.3) == sim.cache.step_position(0.3)
    expected = sim.cache.interpolate(0.3, torch.empty(n, 2))
    assert torch.equal(sim.positions.target, expected)
    app.close()
