"""The command line: outputs match the library, user mistakes give one line and exit 2."""

import subprocess
import sys

import numpy as np
import pytest

from dexplorer.cli import main, parse
from dexplorer.core.checkpoints import load_checkpoint
from dexplorer.core.datasets import make_dataset
from dexplorer.core.importers import DatasetWarning, load_dataset_file


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(capsys, *argv, match):
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dexplorer: error:"), err
    assert match in lines[0], lines[0]


@pytest.fixture(scope="module")
def flow_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "moons.safetensors"
    assert main(["train", "--dataset", "moons", "--steps", "40", "--out", str(path)]) == 0
    return path


def test_list_names_everything(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for name in ("smiley", "eight_gaussians", "custom", "vpred", "euler_maruyama", "original"):
        assert name in out
    assert "shipped models" in out


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out, _ = capsys.readouterr()
    assert exit_info.value.code == 0
    for command in ("list", "data", "train", "sample", "screenshot", "render"):
        assert command in out


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_data_export_matches_the_dataset(capsys, tmp_path, suffix):
    out = tmp_path / f"d{suffix}"
    code, _, _ = run(
        capsys, "data", "--dataset", "moons", "-n", "300", "--seed", "4", "--out", str(out)
    )
    assert code == 0
    expected = make_dataset("moons", n=300, seed=4)
    if suffix == ".npy":
        points = np.load(out)
    else:
        table = np.loadtxt(out, delimiter=",", skiprows=1)
        points = table[:, :2]
        assert np.array_equal(table[:, 2], expected.labels)
    assert np.allclose(points, expected.points, atol=1e-6)


def test_train_writes_a_loadable_model(flow_model):
    checkpoint = load_checkpoint(flow_model)
    assert checkpoint.dataset == "moons" and checkpoint.training_steps == 40
    assert checkpoint.conditional and checkpoint.class_names == ("upper moon", "lower moon")


def test_sample_final_points_and_trajectory(capsys, tmp_path, flow_model):
    out = tmp_path / "s.npy"
    code, _, _ = run(
        capsys, "sample", "--model", str(flow_model), "-n", "64", "--steps", "5", "--out", str(out)
    )
    assert code == 0 and np.load(out).shape == (64, 2)
    code, _, _ = run(
        capsys,
        "sample",
        "--model",
        str(flow_model),
        "-n",
        "64",
        "--steps",
        "5",
        "--trajectory",
        "--out",
        str(out),
    )
    trajectory = np.load(out)
    assert code == 0 and trajectory.shape == (6, 64, 2)
    csv = tmp_path / "s.csv"
    run(
        capsys,
        "sample",
        "--model",
        str(flow_model),
        "-n",
        "8",
        "--steps",
        "2",
        "--trajectory",
        "--out",
        str(csv),
    )
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert table.shape == (3 * 8, 4) and set(table[:, 0]) == {0, 1, 2}


def test_sample_is_reproducible_and_guided(capsys, tmp_path, flow_model):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    for out in (a, b):
        run(
            capsys,
            "sample",
            "--model",
            str(flow_model),
            "-n",
            "50",
            "--seed",
            "3",
            "--out",
            str(out),
        )
    assert np.array_equal(np.load(a), np.load(b))
    code, _, _ = run(
        capsys,
        "sample",
        "--model",
        str(flow_model),
        "--class",
        "1",
        "--guidance",
        "3",
        "-n",
        "20",
        "--out",
        str(a),
    )
    assert code == 0


def test_sample_runs_the_compiled_kernel_where_it_can(capsys, tmp_path, flow_model, monkeypatch):
    """One class at guidance 1 on the CPU: the compiled kernel, with torch's particles."""
    from dexplorer.core import native_build, native_sampler
    from dexplorer.core.checkpoints import load_checkpoint
    from dexplorer.core.samplers import sample

    if native_build.load("mlp_sampler").library is None:
        pytest.skip("no C compiler: the native sampler cannot be built")
    calls = []
    plain = native_sampler.sample_steps
    monkeypatch.setattr(
        native_sampler, "sample_steps", lambda *a, **k: (calls.append(a[2]), plain(*a, **k))[1]
    )
    out = tmp_path / "s.npy"
    argv = ["--model", str(flow_model), "--class", "1", "--guidance", "1", "-n", "300"]
    code, _, _ = run(
        capsys, "sample", *argv, "--sampler", "midpoint", "--seed", "4", "--out", str(out)
    )
    assert code == 0 and calls == ["midpoint"]
    field = load_checkpoint(flow_model).field(1, 1.0)
    expected = sample(field, 300, 50, "midpoint", seed=4)[-1].numpy()
    assert np.abs(np.load(out) - expected).max() < 1e-5
    run(capsys, "sample", *argv, "--sampler", "rk4", "--out", str(out))
    assert calls == ["midpoint"]  # rk4: torch


def test_sample_precision_goes_to_the_triton_kernel_and_says_when_it_does_not_apply(
    capsys, tmp_path, flow_model, monkeypatch
):
    from dexplorer.engine import backends

    asked = []
    plain = backends.choose
    monkeypatch.setattr(
        backends, "choose", lambda *a, **k: (asked.append(k.get("precision")), plain(*a, **k))[1]
    )
    out = tmp_path / "s.npy"
    argv = ["sample", "--model", str(flow_model), "-n", "16", "--steps", "2", "--out", str(out)]
    code, _, err = run(capsys, *argv, "--precision", "bf16", "--device", "cpu")
    assert code == 0 and asked == ["bf16"]
    assert "--precision applies to the triton back-end only" in err
    code, _, err = run(capsys, *argv)
    assert code == 0 and asked == ["bf16", None] and "precision" not in err
    assert_user_error(capsys, *argv, "--precision", "fp8", match="precision")


def test_sample_leaves_out_particles_that_became_non_finite_and_says_so(
    capsys, tmp_path, flow_model, monkeypatch
):
    """A particle that became inf or nan is left out whole (every step of a trajectory),
    and the line says how many."""
    from dexplorer.engine import backends

    def poisoned(plain):
        def run(*args, **kwargs):
            points = plain(*args, **kwargs)  # final positions, or the trajectory
            if points.dim() == 3:
                points[3:, [5, 9]] = float("nan")
            else:
                points[[5, 9]] = float("nan")
            return points

        return run

    for name in ("final_positions", "trajectory"):
        monkeypatch.setattr(backends, name, poisoned(getattr(backends, name)))
    argv = ["sample", "--model", str(flow_model), "--sampler", "ddpm", "-n", "64", "--steps", "5"]
    for suffix, extra, shape in ((".npy", (), (62, 2)), (".npy", ("--trajectory",), (6, 62, 2))):
        out = tmp_path / f"s{suffix}"
        code, printed, _ = run(capsys, *argv, *extra, "--out", str(out))
        assert code == 0 and np.load(out).shape == shape
        assert "wrote" in printed and "62 particles" in printed
        assert "2 of 64 particles became non-finite (inf or nan) and were left out" in printed
    csv = tmp_path / "s.csv"
    run(capsys, *argv, "--out", str(csv))
    assert np.isfinite(np.loadtxt(csv, delimiter=",", skiprows=1)).all()


def test_sample_with_every_particle_non_finite_fails_and_writes_nothing(
    capsys, tmp_path, flow_model
):
    """Finite weights x 1e18 overflow; Euler-Maruyama at noise scale 1e6, which overflowed
    too, is refused before sampling."""
    checkpoint = load_checkpoint(flow_model)
    for parameter in checkpoint.network.parameters():
        parameter.data.mul_(1e18)
    huge = tmp_path / "huge.safetensors"
    checkpoint.save(huge)
    out = tmp_path / "s.csv"
    assert_user_error(
        capsys,
        *("sample", "--model", str(huge), "-n", "400", "--out", str(out)),
        match="400 of 400 particles became non-finite (inf or nan): nothing was written",
    )
    assert_user_error(
        capsys,
        *("sample", "--model", str(flow_model), "--sampler", "euler_maruyama"),
        *("--noise-scale", "1e6", "-n", "200", "--out", str(out)),
        match="--noise-scale: expected a number from 0 to 10, got 1e6",
    )
    assert not out.exists()


def test_sample_exact_field_memorises(capsys, tmp_path):
    out = tmp_path / "e.npy"
    code, _, _ = run(
        capsys,
        "sample",
        "--exact",
        "eight_gaussians",
        "--sampler",
        "euler",
        "--steps",
        "100",
        "-n",
        "200",
        "--out",
        str(out),
    )
    assert code == 0
    data = make_dataset("eight_gaussians", n=5000, seed=0).points
    distances = np.linalg.norm(np.load(out)[:, None] - data[None], axis=2).min(1)
    # Over seeds 0-7 the median is 0.0045 to 0.0061 and the largest 0.018 to 0.050.
    assert np.median(distances) < 0.007 and distances.max() < 0.06


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["data", "--dataset", "donut", "--out", "x.npy"], "invalid choice"),
        (["data", "--dataset", "moons", "--out", "x.txt"], ".npy or .csv"),
        (["data", "--dataset", "moons", "-n", "0", "--out", "x.npy"], "1 to 10,000,000, got 0"),
        (["data", "--dataset", "moons", "--out", "/no/such/dir/x.npy"], "does not exist"),
        (["train", "--dataset", "moons", "--out", "m.pt"], ".safetensors"),
        (
            [
                "train",
                "--dataset",
                "moons",
                "--ot",
                "--objective",
                "vpred",
                "--out",
                "m.safetensors",
            ],
            "flow matching only",
        ),
        (["train", "--dataset", "moons", "--seconds", "-1", "--out", "m.safetensors"], "--seconds"),
        (["train", "--dataset", "moons", "--lr", "0", "--out", "m.safetensors"], "--lr"),
        (["train", "--data", "missing.csv", "--out", "m.safetensors"], "missing.csv"),
        (["train", "--dataset", "moons", "--y-down", "--out", "m.safetensors"], "--y-down"),
        (["screenshot", "--y-down", "--out", "x.png"], "give --data FILE too"),
        (["sample", "--pretrained", "donut/flow", "--out", "s.npy"], "no shipped model"),
        (["sample", "--exact", "moons", "--steps", "0", "--out", "s.npy"], "from 1 to 1,000"),
        (["sample", "--exact", "moons", "--steps", "1001", "--out", "s.npy"], "from 1 to 1,000"),
        (
            ["sample", "--exact", "moons", "--sampler", "ddim", "--eta", "2", "--out", "s.npy"],
            "eta",
        ),
        (
            ["sample", "--exact", "spiral", "--class", "1", "--out", "s.npy"],
            "the exact field of spiral has no classes: it takes no class or guidance",
        ),
        (["sample", "--model", "nothing.safetensors", "--out", "s.npy"], "no such file"),
        (["sample", "--exact", "moons", "--device", "cuda", "--out", "s.npy"], "CUDA"),
        (["sample", "--out", "s.npy"], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, match):
    if "--device" in argv and "cuda" in argv:
        pytest.importorskip("torch")
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    monkeypatch.chdir(tmp_path)
    assert_user_error(capsys, *argv, match=match)


def test_model_mistakes(capsys, tmp_path, flow_model):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model at all")
    assert_user_error(
        capsys,
        "sample",
        "--model",
        str(bad),
        "--out",
        str(tmp_path / "s.npy"),
        match="cannot load model",
    )
    assert_user_error(
        capsys,
        "sample",
        "--model",
        str(flow_model),
        "--class",
        "7",
        "--out",
        str(tmp_path / "s.npy"),
        match="class 7 does not exist",
    )


def test_bad_data_file_is_named(capsys, tmp_path):
    data = tmp_path / "points.csv"
    data.write_text("1,2\n3,oops\n")
    assert_user_error(
        capsys,
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "m.safetensors"),
        match="line 2",
    )


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "dexplorer", "sample", "--exact", "moons", "--out", "/x/y.txt"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_render_writes_a_video_with_the_expected_frames(capsys, tmp_path):
    pytest.importorskip("pygfx")
    import imageio.v3 as iio

    out = tmp_path / "clip.mp4"
    code, _, err = run(
        capsys,
        "render",
        "--out",
        str(out),
        "--seconds",
        "0.5",
        "--fps",
        "8",
        "--size",
        "192x128",
        "-n",
        "300",
        "--steps",
        "5",
    )
    assert code == 0, err
    frames = iio.imread(out)
    assert frames.shape == (4, 128, 192, 3)
    assert frames[0].std() > 5 and not np.array_equal(frames[0], frames[-1])


def test_without_a_display_the_main_job_says_so_and_renders_the_demo(capsys, monkeypatch, tmp_path):
    import dexplorer.scenes as scenes

    calls = []
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(scenes, "_render", lambda *args: calls.append(args))
    code, _, err = run(capsys, "--demo-out", str(tmp_path / "demo.mp4"), "-n", "100")
    assert code == 0 and "no display" in err and "demo.mp4" in err
    ((state, _device, size, path, seconds, fps),) = calls
    assert (seconds, fps) == (8.0, 30)
    assert path == tmp_path / "demo.mp4" and size == (1280, 720) and state.data.n == 100


def test_render_writes_a_gif_that_loads_back(capsys, tmp_path):
    pytest.importorskip("pygfx")
    import imageio.v3 as iio

    out = tmp_path / "clip.gif"
    code, _, err = run(
        capsys,
        "render",
        "--out",
        str(out),
        "--seconds",
        "0.6",
        "--fps",
        "5",
        "--size",
        "160x96",
        "-n",
        "200",
        "--steps",
        "4",
    )
    assert code == 0, err
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 3 and frames.shape[1:3] == (96, 160)
    assert iio.immeta(out, index=0)["duration"] == 200  # 5 frames a second


@pytest.fixture(scope="module")
def screen_file(tmp_path_factory):
    """A file in screen orientation (y down) far outside the domain: three quarters of the
    points in a small blob at the top (y = 7.5), a quarter in a wide bar at the bottom (y = 14),
    spanning about [6, 15] in x and y."""
    rng = np.random.default_rng(0)
    blob = rng.normal([10.5, 7.5], 0.3, (1500, 2))
    bar = np.column_stack([rng.uniform(6, 15, 500), rng.normal(14.0, 0.2, 500)])
    points = np.concatenate([blob, bar])
    path = tmp_path_factory.mktemp("screen") / "screen.csv"
    np.savetxt(path, points, delimiter=",", header="x,y", comments="")
    return path, points


def test_an_off_domain_y_down_file_keeps_its_coordinates(capsys, tmp_path, screen_file):
    path, points = screen_file
    model, samples, trajectory = (tmp_path / name for name in ("m.safetensors", "s.npy", "t.csv"))
    argv = ["train", "--data", str(path), "--y-down", "--steps", "400", "--out", str(model)]
    assert run(capsys, *argv)[0] == 0
    normalisation = load_checkpoint(model).normalisation
    with pytest.warns(DatasetWarning, match="mapped back"):
        assert normalisation == load_dataset_file(path, y_down=True).normalisation
    assert normalisation.scale[1] < 0 < normalisation.scale[0]
    sample = ["sample", "--model", str(model), "-n", "2000"]
    assert run(capsys, *sample, "--steps", "20", "--out", str(samples))[0] == 0
    assert run(capsys, *sample, "--steps", "4", "--trajectory", "--out", str(trajectory))[0] == 0
    final = np.load(samples)
    np.testing.assert_allclose(final.mean(0), points.mean(0), atol=0.4)
    for q, edge in ((1, points.min(0)), (99, points.max(0))):  # the file's box, not [-3, 3]
        np.testing.assert_allclose(np.percentile(final, q, axis=0), edge, atol=0.8)
    top = final[:, 1] < 10.75  # the right way up: the blob (3/4) at small y, as in the file
    assert 0.65 < top.mean() < 0.85
    assert final[top, 0].std() < 0.6 < 2.0 < final[~top, 0].std()
    table = np.loadtxt(trajectory, delimiter=",", skiprows=1)  # step, particle, x, y
    noise, data = table[table[:, 0] == 0, 2:], table[table[:, 0] == 4, 2:]
    np.testing.assert_allclose(noise.mean(0), normalisation.centre, atol=0.25)
    np.testing.assert_allclose(noise.std(0), 1 / np.abs(normalisation.scale), rtol=0.1)
    assert data[:, 1].mean() == pytest.approx(points[:, 1].mean(), abs=0.6)


def test_scenes_open_a_y_down_file_the_right_way_up(original_smiley):
    from dexplorer.cli import build_parser
    from dexplorer.scenes import scene_state

    smiley = original_smiley
    argv = ["screenshot", "--data", str(smiley.path), "--y-down", "--out", "x.png"]
    state = scene_state(build_parser().parse_args(argv), 0.5)
    points = state.custom.points
    assert points[smiley.eyes, 1].min() > points[smiley.mouth, 1].max()
    assert state.custom.normalisation.scale == (1.0, -1.0) and state.y_down


def test_options_before_the_command_apply_to_it():
    args = parse(["--t", "1", "--dataset", "moons", "screenshot", "--out", "x.png"])
    assert (args.command, args.t, args.dataset, args.out) == ("screenshot", 1.0, "moons", "x.png")
    assert parse(["-n", "5", "train", "--dataset", "moons", "--out", "m.safetensors"]).n == 5
    assert parse(["--seed=4", "render", "--out", "x.mp4"]).seed == 4
    assert parse(["screenshot", "--out", "x.png"]).t is None
    assert parse(["--t", "0.3", "--paused"]).t == 0.3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--paused", "train", "--dataset", "moons", "--out", "m.safetensors"], "--paused before"),
        (["--y-down", "sample", "--exact", "moons", "--out", "s.npy"], "--y-down before 'sample'"),
        (["--t", "1", "screenshot", "--t", "0.5", "--out", "x.png"], "--t given both before"),
    ],
)
def test_options_before_a_command_that_does_not_take_them_are_refused(argv, message, capsys):
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("dexplorer: error: ") and message in error and error.count("\n") == 1


def test_every_number_option_has_a_range_and_one_rule_per_option():
    """No bare int or float: each typed option of each command reads through a Number, and
    an option means one range wherever it is taken (train's optimiser --steps and render's
    --seconds are other quantities than the sampler's steps and train's time budget)."""
    from dexplorer.cli import Number, _subparser, build_parser
    from dexplorer.core import limits

    parser = build_parser()
    commands = [None, "list", "data", "train", "sample", "reflow", "screenshot", "render"]
    seen: dict[tuple[str, str], limits.Range] = {}
    for command in commands:
        actions = (parser if command is None else _subparser(parser, command))._actions
        for action in actions:
            if action.type is None or action.choices is not None:
                continue
            assert isinstance(action.type, Number), (command, action.dest)
            trains = command in ("train", "reflow") and action.dest in ("steps", "seconds")
            meaning = "train" if trains else ""
            key = (action.dest, meaning or ("video" if action.dest == "seconds" else ""))
            assert seen.setdefault(key, action.type.limit) == action.type.limit, (command, key)
    assert seen[("seed", "")] == limits.SEED and seen[("n", "")] == limits.PARTICLES


@pytest.mark.parametrize(
    ("limit", "good", "bad"),
    [
        ("SEED", ["0", "4294967295"], ["-1", "4294967296", "1.5", "nan", "x"]),
        ("TRAIN_SECONDS", ["0.01", "86400"], ["0", "-1", "86401", "inf", "nan", "1e308"]),
        ("TIME", ["0", "1", "0.5"], ["-0.0001", "1.0001", "nan", "-inf"]),
    ],
)
def test_a_range_takes_its_numbers_and_refuses_the_others(limit, good, bad):
    from dexplorer.core import limits

    rule = getattr(limits, limit)
    for text in good:
        assert rule.contains(rule.parse(text))
    for text in bad:
        with pytest.raises(limits.LimitError, match=f"expected .*, got {text}"):
            rule.parse(text)


def test_requests_that_would_not_fit_in_memory_are_refused_before_allocating(
    capsys, tmp_path, monkeypatch
):
    """The estimate (particles x steps x bytes) against the memory available: refused with
    both numbers, before anything is sampled or trained, and nothing written."""
    from dexplorer import commands
    from dexplorer.core import limits

    monkeypatch.setattr(limits, "available_memory", lambda: 100 << 20)  # 100 MB
    monkeypatch.setattr(commands.backends, "choose", lambda *a, **k: pytest.fail("sampled"))
    monkeypatch.setattr(commands, "Trainer", lambda *a, **k: pytest.fail("trained"))
    out = tmp_path / "s.npy"
    argv = ["sample", "--exact", "moons", "--steps", "1000", "--out", str(out)]
    assert_user_error(
        capsys,
        *argv,
        *("-n", "100000", "--trajectory"),
        match="sample -n 100,000 --steps 1000 --trajectory would need about 3.0 GB of memory; "
        "80.0 MB can be used here",
    )
    assert_user_error(
        capsys, *argv, "-n", "2000000", match="sample -n 2,000,000 --steps 1000 would need about"
    )
    assert_user_error(
        capsys,
        *("train", "--dataset", "moons", "--ot", "--batch-size", "4096"),
        *("--out", str(tmp_path / "m.safetensors")),
        match="train --batch-size 4,096 --ot would need about",
    )
    assert list(tmp_path.iterdir()) == []


def test_a_device_out_of_memory_is_one_line(capsys, tmp_path, monkeypatch):
    """A GPU that runs out of memory while sampling (torch.OutOfMemoryError, a RuntimeError)
    ends in one line saying so, not a traceback; other RuntimeErrors are not hidden."""
    import torch

    from dexplorer import commands

    def out_of_memory(*_, **__):
        raise torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 16.00 GiB. GPU 0 has a total capacity..."
        )

    monkeypatch.setattr(commands.backends, "choose", out_of_memory)
    argv = ["sample", "--exact", "moons", "-n", "100", "--out", str(tmp_path / "s.npy")]
    assert_user_error(capsys, *argv, match="CUDA out of memory: choose fewer particles or steps")
    monkeypatch.setattr(commands.backends, "choose", lambda *_, **__: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run(capsys, *argv)


def test_sample_keeps_only_the_current_state_without_trajectory(capsys, tmp_path, monkeypatch):
    """Without --trajectory the samplers return the final positions (nothing of size
    steps x particles is allocated), the same as the last step of the trajectory."""
    from dexplorer.core import samplers
    from dexplorer.core.fields import ExactField
    from dexplorer.core.objectives import make_objective

    field = ExactField(make_dataset("moons", n=200).points, make_objective("flow").path)
    for sampler in ("heun", "ddpm", "euler_maruyama"):
        final = samplers.sample(field, 50, 8, sampler, seed=2, record=False)
        trajectory = samplers.sample(field, 50, 8, sampler, seed=2)
        assert final.shape == (50, 2) and torch_equal(final, trajectory[-1])
    sizes = []
    empty = samplers.torch.empty
    monkeypatch.setattr(
        samplers.torch, "empty", lambda shape, **k: (sizes.append(shape), empty(shape, **k))[1]
    )
    out = tmp_path / "s.npy"
    argv = ["sample", "--exact", "moons", "--sampler", "rk4", "-n", "40", "--steps", "30"]
    assert run(capsys, *argv, "--out", str(out))[0] == 0
    assert np.load(out).shape == (40, 2) and sizes == []


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a, b)


def test_the_compiled_sampler_runs_in_chunks_without_trajectory(
    capsys, tmp_path, flow_model, monkeypatch
):
    """Chunks of particles hold a chunk's trajectory only, and give the same final points."""
    from dexplorer.core import native_build, native_sampler
    from dexplorer.engine import backends

    if native_build.load("mlp_sampler").library is None:
        pytest.skip("no C compiler: the native sampler cannot be built")
    argv = ["sample", "--model", str(flow_model), "--class", "0", "-n", "1000", "--steps", "20"]
    whole, chunked = tmp_path / "whole.npy", tmp_path / "chunked.npy"
    assert run(capsys, *argv, "--trajectory", "--out", str(whole))[0] == 0
    monkeypatch.setattr(backends, "PART_BYTES", 21 * 8 * 96)  # chunks of 96
    shapes = []
    plain = native_sampler.sample_steps
    monkeypatch.setattr(
        native_sampler,
        "sample_steps",
        lambda field, out, *a: (shapes.append(out.shape[1]), plain(field, out, *a))[1],
    )
    assert run(capsys, *argv, "--out", str(chunked))[0] == 0
    assert shapes == [96] * 10 + [40]
    np.testing.assert_array_equal(np.load(chunked), np.load(whole)[-1])


def test_warnings_go_to_stderr(capsys, tmp_path):
    out = tmp_path / "m.safetensors"
    data = tmp_path / "far.csv"
    np.savetxt(data, np.random.default_rng(0).normal(50, 1, (200, 2)), delimiter=",")
    code, printed, err = run(
        capsys, "train", "--data", str(data), "--steps", "5", "--out", str(out)
    )
    assert code == 0 and "dexplorer: warning" not in printed
    assert err.count("dexplorer: warning: ") >= 1


def test_outputs_are_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """A write that fails half-way leaves the previous file and no temporary file."""
    from dexplorer.user_files import write_points

    out = tmp_path / "p.csv"
    write_points(out, np.zeros((3, 2)))
    before = out.read_bytes()
    monkeypatch.setattr(np, "savetxt", lambda file, *a, **k: (file.write("1,2\n"), 1 / 0))
    with pytest.raises(ZeroDivisionError):
        write_points(out, np.ones((5, 2)))
    assert out.read_bytes() == before and list(tmp_path.iterdir()) == [out]


def test_a_recording_that_fails_leaves_the_previous_video(tmp_path):
    import imageio.v3 as iio

    from dexplorer.recording import Recorder

    out = tmp_path / "v.gif"
    frames = [np.full((32, 48, 3), 60 * k, np.uint8) for k in range(3)]
    with Recorder(out, fps=5) as recorder:
        for frame in frames:
            recorder.add(frame)
    before = out.read_bytes()
    with pytest.raises(RuntimeError), Recorder(out, fps=5) as recorder:
        recorder.add(frames[1])
        raise RuntimeError("the renderer failed")
    assert out.read_bytes() == before and list(tmp_path.iterdir()) == [out]
    assert iio.imread(out, index=None).shape[0] == 3


def test_an_interrupted_render_leaves_the_previous_video(capsys, tmp_path, monkeypatch):
    """Ctrl-C on frame 3 of a render over a good video: exit 130, the old video whole, no
    temporary file."""
    pytest.importorskip("pygfx")
    from dexplorer.app import App

    out = tmp_path / "clip.gif"
    argv = ["render", "--out", str(out), "--seconds", "0.6", "--fps", "5", "--size", "160x96"]
    argv += ["-n", "200", "--steps", "4"]
    assert run(capsys, *argv)[0] == 0
    before = out.read_bytes()
    plain, shots = App.screenshot, []

    def interrupted(self):
        shots.append(1)
        if len(shots) == 3:
            raise KeyboardInterrupt
        return plain(self)

    monkeypatch.setattr(App, "screenshot", interrupted)
    assert run(capsys, *argv)[0] == 130
    assert out.read_bytes() == before and list(tmp_path.iterdir()) == [out]


def test_a_bad_demo_output_is_refused_before_any_rendering(capsys, tmp_path, monkeypatch):
    import dexplorer.scenes as scenes

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(scenes, "_render", lambda *a: pytest.fail("rendered"))
    assert_user_error(capsys, "--demo-out", "demo.txt", match="expected a file ending in .mp4")
    assert_user_error(
        capsys, "--demo-out", str(tmp_path / "no" / "demo.mp4"), match="does not exist"
    )


def test_a_scene_whose_trajectories_would_not_fit_is_refused_in_one_line(
    capsys, tmp_path, monkeypatch
):
    """The engine's smallest cache (keyframes and a ring of steps) against the memory
    available, before any frame."""
    pytest.importorskip("pygfx")
    from dexplorer.core import limits

    monkeypatch.setattr(limits, "available_memory", lambda: 1 << 30)
    out = tmp_path / "big.png"
    argv = ["screenshot", "-n", "2000000", "--steps", "1000", "--size", "320x200"]
    assert_user_error(
        capsys,
        *argv,
        "--out",
        str(out),
        match="2,000,000 particles x 1000 steps need 1.5 GiB on cpu even keeping only keyframes "
        "and a ring of steps; the cache may take 614.4 MiB",
    )
    assert list(tmp_path.iterdir()) == []
