"""Side-by-side comparison: run specs, the state's actions, the engine's runs (same start,
own ends, energy distance), the quality-vs-steps sweep, the rendered panels and the CLI."""

from functools import partial
from itertools import pairwise

import numpy as np
import pytest
from test_scene import _adapter_problem

from dexplorer.cli import main
from dexplorer.core.datasets import make_dataset
from dexplorer.core.runs import Run, parse_run
from dexplorer.engine.runs import Engine, Problem
from dexplorer.engine.simulation import measure
from dexplorer.engine.sweep import QualitySweep
from dexplorer.state import AppState


def compare_state(*specs, n=400, dataset="smiley"):
    state = AppState()
    assert state.change(n=n, dataset=dataset)
    assert state.set_runs(list(specs)), state.message
    return state


def sync(engine: Engine, state: AppState) -> list[Problem]:
    """What the app does once a frame: bring the engine to the state's data and runs."""
    return engine.sync(state.request())


# --- specs and state -----------------------------------------------------------------------


def test_good_specs_parse_and_round_trip():
    run = parse_run("diffusion:ddim:50:eta=0.5")
    assert run == Run("diffusion", "ddim", 50, eta=0.5)
    assert parse_run(run.spec) == run
    assert parse_run("flow:euler_maruyama:20:noise=0.3").noise_scale == 0.3
    guided = parse_run("flow:heun:40:class=1:guidance=4")
    assert (guided.label, guided.guidance) == (1, 4.0)
    assert guided.title == "flow · heun 40, class 1, w 4"


@pytest.mark.parametrize(
    ("specs", "dataset", "match"),
    [
        (["flow:warp:50", "flow:heun:50"], "smiley", "'flow:warp:50': unknown sampler 'warp'"),
        (
            ["flow:heun:5000", "flow:heun:50"],
            "smiley",
            "'flow:heun:5000': steps: expected an integer from 1 to 1,000, got 5000",
        ),
        (
            ["flow:heun:0", "flow:heun:50"],
            "smiley",
            "'flow:heun:0': steps: expected an integer from 1 to 1,000, got 0",
        ),
        (
            ["flow:heun:ten", "flow:heun:50"],
            "smiley",
            "'flow:heun:ten': steps: expected an integer from 1 to 1,000, got ten",
        ),
        (["flow:heun", "flow:heun:50"], "smiley", "expected MODEL:SAMPLER:STEPS"),
        (["magic:heun:50", "flow:heun:50"], "smiley", "unknown model 'magic'"),
        (["flow:heun:50"] * 3, "smiley", "2 or 4 panels, got 3"),
        (["flow:heun:50"], "smiley", "2 or 4 panels, got 1"),
        (["flow:heun:50:eta=0.5", "flow:heun:50"], "smiley", "eta applies only to the ddim"),
        (["flow:ddim:50:noise=1", "flow:heun:50"], "smiley", "noise applies only to the euler"),
        (
            ["diffusion:ddim:50:eta=2", "flow:heun:50"],
            "smiley",
            "eta: expected a number from 0 to 1, got 2",
        ),
        (["flow:heun:50:guidance=3", "flow:heun:50"], "smiley", "flow model of smiley has no"),
        (["exact:heun:50:class=1", "flow:heun:50"], "spiral", "exact field of spiral has no"),
        (["flow:heun:50:class=7", "flow:heun:50"], "moons", "class 7 does not exist"),
        (["flow:heun:50:speed=2", "flow:heun:50"], "smiley", "unknown option 'speed=2'"),
    ],
)
def test_bad_specs_say_which_part_and_keep_the_runs(specs, dataset, match):
    state = AppState()
    state.change(dataset=dataset)
    state.set_view(2)
    before = list(state.runs)
    assert not state.set_runs(specs)
    assert match in state.message and "\n" not in state.message
    assert state.runs == before


def test_view_and_run_actions():
    state = AppState()
    assert state.set_view(2) and [r.model for r in state.runs] == ["flow", "diffusion"]
    state.change_run(1, sampler="ddpm", steps=30)
    state.set_view(4)
    assert len(state.runs) == 4 and state.runs[1] == Run("diffusion", "ddpm", 30)
    state.cycle_view()
    assert not state.comparing and len(state.runs) == 1
    state.cycle_view()
    assert len(state.runs) == 2 and state.runs[1].sampler == "ddpm"  # kept
    assert not state.set_view(3) and "2 or 4" in state.message


def test_bad_run_edits_keep_the_run_and_say_why():
    state = AppState()
    state.set_view(2)
    before = state.runs[0]
    assert not state.change_run(0, steps=0)
    assert state.runs[0] == before
    assert "panel 1: steps: expected an integer from 1 to 1,000, got 0" in state.message
    assert not state.change_run(0, label=1)
    assert state.runs[0] == before and "no classes" in state.message
    assert state.change_run(0, sampler="rk4") and state.message == ""


def test_runs_share_data_seed_and_particles_but_run_their_own_sampler():
    state = compare_state("flow:heun:50", "diffusion:ddim:30:eta=0.5", n=50000)
    engine = Engine("cpu")
    try:
        assert sync(engine, state) == []
        first, second = engine.simulations
    finally:
        engine.close()
    assert (first.data.dataset, first.data.seed, first.n) == (
        second.data.dataset,
        second.data.seed,
        second.n,
    )
    assert first.data == second.data == state.data
    assert first.n == 10000  # capped per panel
    run = second.run
    assert (run.model, run.sampler, run.steps, run.eta) == ("diffusion", "ddim", 30, 0.5)


def test_custom_data_turns_shipped_runs_into_the_exact_field():
    from dexplorer.core.datasets import make_dataset

    state = compare_state("flow:heun:50", "exact:euler:10")
    state.use_custom(make_dataset("moons", n=300))
    assert [r.model for r in state.runs] == ["exact", "exact"]


def test_changes_cancel_the_sweep():
    state = compare_state("flow:heun:50", "diffusion:ddim:50")
    state.measure_sweep()
    assert state.sweep
    state.change_run(0, steps=20)
    assert state.sweep == 0
    state.measure_sweep()
    state.change(seed=3)
    assert state.sweep == 0


# --- engine ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def comparison():
    state = compare_state("flow:heun:20", "diffusion:ddim:20:eta=0")
    engine = Engine("cpu")
    assert sync(engine, state) == []
    engine.wait()
    yield engine
    engine.close()


def test_runs_start_from_the_same_particles_and_end_apart(comparison):
    flow, diffusion = (sim.cache.particles for sim in comparison.simulations)
    assert np.array_equal(flow[0], diffusion[0])
    assert (flow[-1] - diffusion[-1]).norm(dim=1).mean() > 0.05


def test_each_run_measures_its_energy_distance_to_the_data(comparison):
    for sim in comparison.simulations:
        direct = measure(sim.cache.particles[-1].numpy(), sim.dataset.points)
        quality = sim.quality
        assert quality is not None and np.isfinite(quality.error) and sim.quality_problem == ""
        assert quality == direct
        assert 0.5 < quality.ratio < 5.0  # trained models: near the data
        assert quality.text == f"ED {quality.ratio:.2f} ± {quality.error:.2f}x held-out"


def test_a_measurement_that_fails_is_reported_in_the_caption(monkeypatch):
    """Whatever the measurement raises, its thread reports it instead of dying, so the
    caption never waits for a number forever."""
    from dexplorer.engine import simulation as engine_module

    def broken(samples, points):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(engine_module, "measure", broken)
    state = compare_state("exact:heun:4", "exact:euler:4", n=200)
    engine = Engine("cpu")
    sync(engine, state)
    engine.wait()
    for sim in engine.simulations:
        assert sim.quality is None
        assert sim.quality_problem == "no quality number: ZeroDivisionError: float division by zero"
    engine.close()


def test_degenerate_data_has_no_quality_number_and_says_why():
    from dexplorer.core.datasets import Dataset

    state = AppState()
    state.use_custom(Dataset.custom(np.ones((100, 2))))
    assert state.set_runs(["exact:heun:4", "exact:euler:4"]), state.message
    engine = Engine("cpu")
    sync(engine, state)
    engine.wait()
    for sim in engine.simulations:
        assert sim.quality is None
        assert sim.quality_problem == (
            "no quality number: the data is one point repeated, no spread to compare with"
        )
    engine.close()


def test_quality_improves_with_steps_on_the_exact_field():
    """Heun on the exact field (memorised data): more steps are never much worse, and at 64
    steps the samples are as close to the data as 1.5 draws of the data."""
    state = compare_state("exact:heun:10", "exact:euler:10", n=1500)
    engine = Engine("cpu")
    sync(engine, state)
    sweep = QualitySweep(engine.simulations[:1], engine.device, steps=(2, 4, 8, 16, 32, 64))
    assert sweep.wait(timeout=300) and not sweep.error
    (curve,) = sweep.curves
    assert curve.title == "exact · heun" and curve.steps == [2, 4, 8, 16, 32, 64]
    ratios = curve.ratios
    assert all(b <= 1.25 * a for a, b in pairwise(ratios)), ratios
    assert ratios[-1] < 1.5 and ratios[0] > 2 * ratios[-1], ratios
    engine.close()


def test_the_sweep_runs_flow_models_through_the_compiled_kernel(monkeypatch):
    """On the CPU a shipped flow model's sweep uses the compiled kernel where there is one,
    and measures what torch measures."""
    from dexplorer.core import native_build, native_sampler
    from dexplorer.engine import sweep as engine_sweep

    if native_build.load("mlp_sampler").library is None:
        pytest.skip("no C compiler: the native sampler cannot be built")
    calls = []
    plain = native_sampler.sample_steps
    monkeypatch.setattr(
        native_sampler, "sample_steps", lambda *a, **k: (calls.append(a[-2:]), plain(*a, **k))[1]
    )
    state = compare_state("flow:midpoint:4", "flow:euler:4", n=500)
    engine = Engine("cpu")
    sync(engine, state)
    assert all(sim.cache.wait(60) for sim in engine.simulations)
    assert calls == [(0, 4), (0, 4)]  # the runs' own trajectories
    calls.clear()
    compiled = QualitySweep(engine.simulations[:1], engine.device, steps=(2, 8))
    assert compiled.wait(timeout=120) and not compiled.error
    assert calls == [(0, 2), (0, 8)]
    monkeypatch.setattr(
        engine_sweep.backends, "choose", partial(engine_sweep.backends.choose, native=False)
    )
    stepwise = QualitySweep(engine.simulations[:1], engine.device, steps=(2, 8))
    assert stepwise.wait(timeout=120) and not stepwise.error
    assert len(calls) == 2
    assert compiled.curves[0].ratios == pytest.approx(stepwise.curves[0].ratios, rel=1e-3)
    engine.close()


def test_the_sweep_starts_on_request_and_stops_when_the_runs_change():
    state = compare_state("exact:euler:5", "exact:heun:5", n=300)
    engine = Engine("cpu")
    sync(engine, state)
    state.measure_sweep()
    sync(engine, state)
    sweep = engine.sweep
    assert sweep is not None and sweep.total == 2 * 6
    state.change_run(0, steps=6)
    sync(engine, state)
    assert engine.sweep is None and not sweep.running
    engine.close()


def test_the_single_views_run_is_kept_while_runs_are_compared():
    """Back in the single view, its run is shown again, not computed again, when nothing it
    ran has changed; when something has, it is computed anew."""
    state = AppState()
    assert state.change(n=300, steps=5)
    engine = Engine("cpu")
    sync(engine, state)
    engine.wait()
    single = engine.simulations[0]
    for panels in (2, 4, 1):
        assert state.set_view(panels)
        sync(engine, state)
    assert engine.simulations == [single] and single.cache.state.done
    assert state.set_view(2)
    sync(engine, state)
    assert state.change(seed=3)  # new data: the parked run is let go
    sync(engine, state)
    assert state.set_view(1)
    sync(engine, state)
    assert engine.simulations[0] is not single and engine.simulations[0].data.seed == 3
    state.use_custom(make_dataset("moons", n=200, seed=1))
    sync(engine, state)
    engine.wait()
    single = engine.simulations[0]
    state.use_custom(make_dataset("spiral", n=150, seed=1))  # other points and a comparison
    assert state.set_view(2)  # in the same frame: the single view's run is not kept
    sync(engine, state)
    assert state.set_view(1)
    sync(engine, state)
    assert engine.simulations[0] is not single and len(engine.simulations[0].dataset.points) == 150
    engine.close()


def test_an_unfinished_single_run_is_not_kept_computing_beside_a_comparison():
    state = AppState()
    assert state.change(n=20000, steps=400)
    engine = Engine("cpu")
    sync(engine, state)
    single = engine.simulations[0]
    assert state.set_view(2)
    sync(engine, state)
    assert engine._parked is None and not single.cache.state.done
    engine.close()


def test_a_run_that_does_not_fit_is_refused_and_the_previous_one_stays(monkeypatch):
    """The engine says which run could not start and why; its simulation still shows the
    run before (what the app puts back into the state)."""
    import dexplorer.engine.trajectory as trajectory

    state = compare_state("exact:euler:5", "exact:heun:5", n=300)
    engine = Engine("cpu")
    sync(engine, state)
    engine.wait()
    before = state.runs[0]
    monkeypatch.setattr(trajectory, "available_memory", lambda device: 10_000)
    assert state.change_run(0, steps=900)
    (problem,) = sync(engine, state)
    assert problem.index == 0 and "fewer particles" in problem.message
    assert engine.simulations[0].run == before and engine.simulations[0].run.steps == 5
    assert engine.simulations[0].cache.state.done  # the previous run is still shown
    engine.close()


# --- rendering -------------------------------------------------------------------------------


needs_gpu = pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())


@needs_gpu
def test_the_app_puts_back_a_run_that_does_not_fit_and_says_which_panel(monkeypatch):
    import dexplorer.engine.trajectory as trajectory
    from dexplorer.headless import offscreen_app

    state = compare_state("exact:euler:5", "exact:heun:5", n=300)
    app = offscreen_app(state, (320, 200), "cpu", ui=False)
    app.settle()
    before = state.runs[0]
    monkeypatch.setattr(trajectory, "available_memory", lambda device: 10_000)
    assert state.change_run(0, steps=900)
    app.update()
    assert "panel 1:" in state.message and "fewer particles" in state.message
    assert state.runs[0] == before and app.engine.simulations[0].run.steps == 5
    assert app.engine.simulations[0].cache.state.done  # the previous run is still shown
    app.close()


def test_a_comparison_that_cannot_start_goes_back_to_the_single_view(monkeypatch):
    import dexplorer.engine.trajectory as trajectory
    from dexplorer.headless import offscreen_app

    state = AppState()
    state.change(n=300, steps=5)
    app = offscreen_app(state, (320, 200), "cpu", ui=False)
    app.settle()
    monkeypatch.setattr(trajectory, "available_memory", lambda device: 10_000)
    assert state.set_runs(["exact:euler:900", "exact:heun:900"])
    app.update()
    assert not state.comparing and "panel 1:" in state.message
    assert len(app.engine.simulations) == 1 and app.engine.simulations[0].run.steps == 5
    app.close()


def panel_pixels(app, image, index):
    x, y, w, h = (round(v) for v in app.view.layout.panels[index])
    return image[y : y + h, x : x + w]


@needs_gpu
def test_a_paused_comparison_does_not_recompute_its_panels(monkeypatch):
    from dexplorer.headless import offscreen_app

    state = AppState()
    state.change(n=400, steps=6, dataset="moons")
    assert state.set_runs(["flow:euler:6", "flow:heun:6"])
    app = offscreen_app(state, (400, 240), "cpu", ui=False)
    app.settle()
    calls = []
    for sim in app.engine.simulations:
        original = sim.update_positions
        record = lambda t, f=original, **k: (calls.append(t), f(t, **k))  # noqa: E731
        monkeypatch.setattr(sim, "update_positions", record)
    state.playing = False
    state.set_time(0.5)
    app.update()
    assert calls == [0.5, 0.5]
    app.update()
    assert calls == [0.5, 0.5]  # same t, same finished runs
    state.set_time(0.75)
    app.update()
    assert calls == [0.5, 0.5, 0.75, 0.75]


@needs_gpu
def test_rendered_panels_agree_at_t0_and_differ_at_t1():
    from dexplorer.headless import offscreen_app

    state = compare_state("flow:heun:20", "diffusion:ddim:20:eta=0", n=2000)
    app = offscreen_app(state, (400, 260), "cpu", ui=False)
    app.settle()
    state.set_time(0.0)
    image = app.screenshot()[..., :3].astype(int)
    first, second = panel_pixels(app, image, 0), panel_pixels(app, image, 1)
    assert first.shape == second.shape and first.shape[0] > 100
    assert first.std() > 5
    # Alike up to the rasteriser's rounding (one level in a few edge pixels).
    assert np.abs(first - second).max() <= 1 and (first != second).any(axis=2).mean() < 0.005
    state.set_time(1.0)
    image = app.screenshot()[..., :3].astype(int)
    first, second = panel_pixels(app, image, 0), panel_pixels(app, image, 1)
    assert np.abs(first - second).max(axis=2).astype(bool).mean() > 0.01
    for index, sim in enumerate(app.engine.simulations):
        caption = app.view.texts[index]
        assert caption == f"{sim.run.title}\n{sim.quality.text}\n{sim.straightness.text}"
        x, y = (round(v) for v in app.view.layout.captions[index])
        ink = 255 - image[y : y + 20, x : x + 120].min(axis=2)
        assert (ink > 100).sum() > 30  # the caption is drawn above its panel


@needs_gpu
def test_four_panels_sit_in_an_aligned_grid_beside_the_controls():
    from dexplorer.headless import offscreen_app
    from dexplorer.ui.controls import CONTROLS_WIDTH, TIME_BAR_HEIGHT

    state = compare_state("flow:heun:5", "flow:euler:5", "exact:heun:5", "exact:euler:5", n=300)
    app = offscreen_app(state, (960, 600), "cpu")
    app.settle()
    app.screenshot()
    panels = app.view.layout.panels
    assert len(panels) == 4 and len({(w, h) for _, _, w, h in panels}) == 1
    columns, rows = {x for x, *_ in panels}, {y for _, y, *_ in panels}
    assert len(columns) * len(rows) == 4  # a 2 x 2 grid, or a row where that is larger
    for x, y, w, h in panels:
        assert x >= CONTROLS_WIDTH and y >= 0 and x + w <= 960 and y + h <= 600 - TIME_BAR_HEIGHT
    w0 = panels[0][2]
    assert all(b - a >= w0 for a, b in pairwise(sorted(columns)))  # no overlap
    state.set_view(1)
    app.screenshot()
    assert not app.comparing and len(app.engine.simulations) == 1


# --- command line ----------------------------------------------------------------------------


def test_compare_specs_on_the_command_line_fail_with_one_line(capsys, tmp_path):
    out = str(tmp_path / "x.png")
    cases = [
        (["flow:heun:50", "flow:warp:50"], "--compare 'flow:warp:50': unknown sampler 'warp'"),
        (["flow:heun:50"] * 3, "--compare a comparison needs 2 or 4 panels, got 3"),
        (["flow:heun:50:eta=0", "flow:heun:9"], "eta applies only to the ddim sampler"),
        (["flow:heun:50:guidance=2", "flow:heun:9"], "has no classes"),
        (
            ["flow:heun:2000", "flow:heun:9"],
            "--compare 'flow:heun:2000': steps: expected an integer from 1 to 1,000, got 2000",
        ),
    ]
    for specs, match in cases:
        argv = ["screenshot", "--out", out, *(a for spec in specs for a in ("--compare", spec))]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert match in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@needs_gpu
def test_render_compare_writes_the_expected_frames(capsys, tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "compare.mp4"
    argv = ["render", "--out", str(out), "--seconds", "0.5", "--fps", "8", "--size", "320x200"]
    argv += ["-n", "300", "--compare", "flow:heun:5", "--compare", "diffusion:ddim:5:eta=0"]
    assert main(argv) == 0, capsys.readouterr().err
    frames = iio.imread(out)
    assert frames.shape == (4, 200, 320, 3)
    assert not np.array_equal(frames[0], frames[-1])


@needs_gpu
def test_the_panels_stay_put_while_their_runs_compute_and_are_measured():
    """The room above the panels follows the longest caption a run can have, not the one
    of the moment ("computing 2/4", then its quality and straightness)."""
    from dexplorer.headless import offscreen_app

    specs = ("flow:euler:4", "flow:heun:20", "diffusion:ddpm:20", "diffusion:ddim:20:eta=0.5")
    state = compare_state(*specs, n=2000)
    app = offscreen_app(state, (1280, 720), "cpu")
    app.settled = False  # the frames of a window, not waiting for the runs
    try:
        placed = set()
        for _ in range(12):
            app.screenshot()
            placed.add(app.view.layout.panels)
        app.settled = True
        app.settle()
        app.screenshot()
        placed.add(app.view.layout.panels)
        assert all(sim.quality is not None for sim in app.engine.simulations)
        assert len(placed) == 1
    finally:
        app.close()
