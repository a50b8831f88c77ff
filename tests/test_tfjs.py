"""The original Diffusion Explorer's TF.js model files: a model.json and its weight files,
written here the way the original's tfjs-layers writes them, load as an ``original``-preset
flow matching model turned the right way up (the original draws y down): it samples as the
original does, reflected in y, and `sample` writes the original's own points; a wrong or
foreign file is a CheckpointError that says what is wrong."""

from __future__ import annotations

import json
import math
import os
import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch

from dexplorer.cli import main
from dexplorer.core.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from dexplorer.core.datasets import Normalisation
from dexplorer.core.fields import Field, NetworkField
from dexplorer.core.importers import load_dataset_file
from dexplorer.core.networks import MLP, PRESETS, build_network
from dexplorer.core.objectives import make_objective
from dexplorer.core.samplers import SamplerSettings, initial_noise, iterate, sample
from dexplorer.engine.runs import Engine
from dexplorer.session import apply_session
from dexplorer.state import AppState

BIN = "model.weights.bin"
FLIP = torch.tensor([1.0, -1.0])
"""F = diag(1, -1): the original's y-down coordinates to ours (y up), and back."""


def original_network(seed: int = 0) -> MLP:
    """An ``original``-preset network with random weights (biases too, so that a bias in the
    wrong place shows)."""
    torch.manual_seed(seed)
    network = build_network("original")
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.normal_(0.0, 0.15)
    return network.eval()


def dense(name: str, units: int, activation: str, inputs: int | None = None) -> dict:
    """A Dense layer as tfjs-layers 4.22 serialises it."""
    initializer = {"class_name": "VarianceScaling", "config": {"scale": 1, "mode": "fan_avg"}}
    config = {
        "units": units,
        "activation": activation,
        "use_bias": True,
        "kernel_initializer": initializer,
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
        "name": name,
        "trainable": True,
    }
    if inputs is not None:
        config |= {"batch_input_shape": [None, inputs], "dtype": "float32"}
    return {"class_name": "Dense", "config": config}


def tfjs_model(network: MLP, first: int = 5) -> tuple[dict, bytes]:
    """The model.json object and the weight bytes of ``network`` in the TF.js layers format
    (layers named dense_Dense<first>..., kernels [in, out], float32 little-endian)."""
    modules = [*network.hidden, network.output]
    layers, specs, blobs = [], [], []
    for index, module in enumerate(modules):
        name = f"dense_Dense{first + index}"
        last = index == len(modules) - 1
        inputs = module.in_features if index == 0 else None
        layers.append(dense(name, module.out_features, "linear" if last else "elu", inputs))
        for kind, value in (("kernel", module.weight.T), ("bias", module.bias)):
            array = value.detach().numpy().astype("<f4")
            specs.append({"name": f"{name}/{kind}", "shape": list(array.shape), "dtype": "float32"})
            blobs.append(array.tobytes())
    info = {
        "modelTopology": {
            "class_name": "Sequential",
            "config": {"name": "sequential_2", "layers": layers},
            "keras_version": "tfjs-layers 4.22.0",
            "backend": "tensor_flow.js",
        },
        "weightsManifest": [{"paths": [BIN], "weights": specs}],
    }
    return info, b"".join(blobs)


def write(folder: Path, info: dict, data: bytes, name: str = "model.json") -> Path:
    """Write model.json and the files of its (single) manifest group, splitting ``data``
    evenly over the group's paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = info["weightsManifest"][0]["paths"]
    size = math.ceil(len(data) / len(paths))
    for index, path in enumerate(paths):
        (folder / path).write_bytes(data[index * size : (index + 1) * size])
    model = folder / name
    model.write_text(json.dumps(info))
    return model


def trajectory(field: Field, x0: torch.Tensor, steps: int, sampler: str) -> torch.Tensor:
    """A deterministic sampler's trajectory (steps + 1, n, 2) from ``x0``."""
    return torch.stack([x0, *iterate(field, x0, steps, sampler, SamplerSettings())])


def flow(network: MLP) -> NetworkField:
    return NetworkField(network, make_objective("flow"))


def assert_flipped(loaded: dict[str, torch.Tensor], reference: MLP) -> None:
    """``loaded`` holds the reference's weights with the y input column of the first layer
    and the y row and bias of the output layer negated, every other weight equal."""
    expected = {name: value.clone() for name, value in reference.state_dict().items()}
    expected["hidden.0.weight"][:, 1] *= -1
    expected["output.weight"][1] *= -1
    expected["output.bias"][1] *= -1
    assert loaded.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(loaded[name], value), name


@pytest.fixture(scope="module")
def reference():
    return original_network()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, reference):
    return write(tmp_path_factory.mktemp("original"), *tfjs_model(reference))


# --- loading -------------------------------------------------------------------------------


def test_a_tfjs_model_loads_as_the_original_network_turned_the_right_way_up(model_file, reference):
    checkpoint = load_checkpoint(model_file)
    assert checkpoint.network.config == PRESETS["original"]
    assert checkpoint.objective.to_dict() == make_objective("flow").to_dict()
    assert (checkpoint.dataset, checkpoint.class_names, checkpoint.path) == (
        "",
        (),
        str(model_file),
    )
    assert checkpoint.normalisation == Normalisation((0.0, 0.0), (1.0, -1.0))
    assert_flipped(checkpoint.network.state_dict(), reference)
    assert not any(p.requires_grad for p in checkpoint.network.parameters())


@pytest.mark.parametrize("sampler", ["euler", "midpoint", "heun"])
def test_a_tfjs_model_samples_the_reference_trajectory_reflected(model_file, reference, sampler):
    checkpoint = load_checkpoint(model_file)
    x0, _ = initial_noise(300, 5)
    ours = trajectory(checkpoint.field(), x0, 12, sampler)
    expected = trajectory(flow(reference), x0 * FLIP, 12, sampler) * FLIP
    assert (ours - expected).abs().max() <= 1e-5
    assert torch.equal(ours, sample(checkpoint.field(), 300, 12, sampler, seed=5))


def original_sampler(info: dict, data: bytes, x0: np.ndarray, steps: int) -> np.ndarray:
    """The original's sampling, from the file alone, in float64: the Sequential model on
    [x, y, t] (x @ kernel + bias, ELU), its midpoint step on linspace(0, 1, steps + 1)."""
    specs = info["weightsManifest"][0]["weights"]
    values, offset = [], 0
    for spec in specs:
        count = math.prod(spec["shape"])
        array = np.frombuffer(data, "<f4", count, offset).reshape(spec["shape"])
        values.append(array.astype(np.float64))
        offset += 4 * count

    def velocity(x: np.ndarray, t: float) -> np.ndarray:
        h = np.concatenate([x, np.full((len(x), 1), t)], axis=1)
        for index in range(0, len(values), 2):
            h = h @ values[index] + values[index + 1]
            if index < len(values) - 2:
                h = np.where(h > 0, h, np.expm1(np.minimum(h, 0)))
        return h

    grid = np.linspace(0.0, 1.0, steps + 1)
    x, trajectory = x0, [x0]
    for t, t_next in pairwise(grid):
        dt = t_next - t
        x = x + dt * velocity(x + 0.5 * dt * velocity(x, t), t + 0.5 * dt)
        trajectory.append(x)
    return np.stack(trajectory)


def test_our_midpoint_matches_the_originals_sampler_on_its_file(reference, tmp_path):
    info, data = tfjs_model(reference)
    checkpoint = load_checkpoint(write(tmp_path, info, data))
    ours = sample(checkpoint.field(), 200, 16, "midpoint", seed=2).double().numpy()
    x0, _ = initial_noise(200, 2)
    expected = original_sampler(info, data, (x0 * FLIP).double().numpy(), 16) * FLIP.numpy()
    assert np.abs(ours - expected).max() <= 1e-5


def test_weights_in_several_files_and_groups_load_in_manifest_order(reference, tmp_path):
    info, data = tfjs_model(reference)
    info["weightsManifest"][0]["paths"] = ["shard1of3.bin", "shard2of3.bin", "shard3of3.bin"]
    write(tmp_path / "shards", info, data)
    weights = info["weightsManifest"][0]["weights"]
    split = sum(4 * math.prod(spec["shape"]) for spec in weights[:3])
    info["weightsManifest"] = [
        {"paths": ["group1.bin"], "weights": weights[:3]},
        {"paths": ["./group2.bin"], "weights": weights[3:]},
    ]
    (tmp_path / "group1.bin").write_bytes(data[:split])
    (tmp_path / "group2.bin").write_bytes(data[split:])
    (tmp_path / "model.json").write_text(json.dumps(info))
    for path in (tmp_path / "shards" / "model.json", tmp_path / "model.json"):
        assert_flipped(load_checkpoint(path).network.state_dict(), reference)


def test_the_bare_topology_some_explainers_ship_loads(reference, tmp_path):
    info, data = tfjs_model(reference, first=1)
    bare = info["modelTopology"] | {"weightsManifest": info["weightsManifest"]}
    model = write(tmp_path, bare, data, name="flow_matching_model.json")
    assert_flipped(load_checkpoint(model).network.state_dict(), reference)


def test_a_model_that_goes_down_the_originals_screen_goes_down_ours(tmp_path):
    """A network that only adds (0.5, 2) to the noise in the original's coordinates (y down:
    towards the bottom of its plot) moves our particles by (0.5, -2), to where its y-down
    data file's points at (0.5, 2) import; `sample` writes them back at +2."""
    network = build_network("original")
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        network.output.bias.copy_(torch.tensor([0.5, 2.0]))
    model = write(tmp_path, *tfjs_model(network))
    x0, _ = initial_noise(500, 4)
    ours = sample(load_checkpoint(model).field(), 500, 4, "euler", seed=4)[-1]
    assert (ours - (x0 + torch.tensor([0.5, -2.0]))).abs().max() <= 1e-6
    assert ours[:, 1].mean() < -1.8
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"points": [[0.5, 2.0]] * 4}))
    assert np.array_equal(load_dataset_file(data, y_down=True).points, [[0.5, -2.0]] * 4)
    out = tmp_path / "s.npy"
    argv = ["sample", "--model", str(model), "-n", "500", "--steps", "4", "--sampler", "euler"]
    assert main([*argv, "--seed", "4", "--out", str(out)]) == 0
    written = np.load(out)
    assert np.abs(written - (x0 * FLIP + torch.tensor([0.5, 2.0])).numpy()).max() <= 1e-6
    assert written[:, 1].mean() > 1.8


# --- refusals ------------------------------------------------------------------------------


def layers(info: dict) -> list[dict]:
    return info["modelTopology"]["config"]["layers"]


def weights(info: dict) -> list[dict]:
    return info["weightsManifest"][0]["weights"]


def nan_in_bias(info: dict, data: bytes) -> tuple[dict, bytes]:
    offset = 4 * (3 * 64)  # the first bias follows the first kernel
    return info, data[:offset] + np.float32(np.nan).tobytes() + data[offset + 4 :]


def renamed(info: dict, data: bytes) -> tuple[dict, bytes]:
    weights(info)[3]["name"] = "dense_Dense6/weights"
    return info, data


def transposed(info: dict, data: bytes) -> tuple[dict, bytes]:
    weights(info)[0]["shape"] = [64, 3]
    return info, data


def conditional(info: dict, data: bytes) -> tuple[dict, bytes]:
    """The original's conditional diffusion model: x, y, t and three one-hot classes."""
    layers(info)[0]["config"]["batch_input_shape"] = [None, 6]
    weights(info)[0]["shape"] = [6, 64]
    return info, data + bytes(4 * 3 * 64)


def wider(info: dict, data: bytes) -> tuple[dict, bytes]:
    layers(info)[1]["config"] |= {"units": 128, "activation": "relu"}
    return info, data


def no_bias(info: dict, data: bytes) -> tuple[dict, bytes]:
    layers(info)[3]["config"]["use_bias"] = False
    return info, data


def extra_layer(info: dict, data: bytes) -> tuple[dict, bytes]:
    layers(info).insert(1, dense("dense_extra", 64, "elu"))
    return info, data


def functional(info: dict, data: bytes) -> tuple[dict, bytes]:
    """A Keras model.to_json() of another architecture."""
    keras = {"class_name": "Functional", "config": {"layers": []}, "keras_version": "2.15.0"}
    return keras, data


def with_key(key: str, value: object):
    def change(info: dict, data: bytes) -> tuple[dict, bytes]:
        info[key] = value
        return info, data

    return change


def with_spec(**changes: object):
    def change(info: dict, data: bytes) -> tuple[dict, bytes]:
        weights(info)[2].update(changes)
        return info, data

    return change


def with_path(path: str):
    def change(info: dict, data: bytes) -> tuple[dict, bytes]:
        info["weightsManifest"][0]["paths"] = [path]
        return info, data

    return change


def duplicated(info: dict, data: bytes) -> tuple[dict, bytes]:
    weights(info)[3]["name"] = weights(info)[1]["name"]
    return info, data


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda i, d: (i, d[:-4]), "hold 34820 bytes; the 8 float32 weights of weightsManifest"),
        (lambda i, d: (i, d + bytes(4)), f"'{BIN}' hold 34828 bytes"),
        (nan_in_bias, "weight 'dense_Dense5/bias' has non-finite values"),
        (renamed, "unexpected weight 'dense_Dense6/weights'"),
        (duplicated, "weight 'dense_Dense5/bias' appears twice"),
        (transposed, "'dense_Dense5/kernel' has shape [64, 3]; the original's network needs [3"),
        (conditional, "inputs of shape [null, 6]; the original's flow matching network takes"),
        (wider, "layer 2 is Dense(128, relu); the original's network has 3 Dense(64, elu)"),
        (no_bias, "layer 4 is Dense(2, linear, no bias)"),
        (extra_layer, "5 layers; the original's network has 3 Dense(64, elu) layers"),
        (functional, "a 'Functional' model; the original's network is Sequential"),
        (with_key("format", "graph-model"), "a TF.js 'graph-model', not a layers model"),
        (with_key("modelTopology", [1, 2]), "not a TF.js layers model (no modelTopology)"),
        (with_key("weightsManifest", []), "no weightsManifest"),
        (with_spec(dtype="int32"), "'dense_Dense6/kernel' has dtype 'int32', not float32"),
        (with_spec(quantization={"dtype": "uint8"}), "'dense_Dense6/kernel' is quantised"),
        (with_spec(shape=[64, "64"]), "has shape [64, '64'], not a list of sizes"),
        (with_path("/etc/model.weights.bin"), "is not relative to model.json"),
        (with_path("https://example.org/w.bin"), "is not relative to model.json"),
    ],
)
def test_a_wrong_tfjs_model_says_what_is_wrong(reference, tmp_path, change, reason):
    info, data = tfjs_model(reference)
    info, data = change(info, data)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / BIN).write_bytes(data)
    model = folder / "model.json"
    model.write_text(json.dumps(info))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(model)
    assert error.value.path == str(model)
    assert reason in str(error.value), str(error.value)
    assert str(model) in str(error.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"{not json", "not JSON"),
        (b'{"a": 1, "a": 2}', "repeated key"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[1, 2, 3]", "the JSON is not an object"),
        (b"", "not JSON"),
    ],
)
def test_a_model_json_that_is_not_a_tfjs_model_is_refused(tmp_path, text, reason):
    model = tmp_path / "model.json"
    model.write_bytes(text)
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(model)


def test_missing_files_are_named(reference, tmp_path):
    with pytest.raises(CheckpointError, match=r"'model\.json': no such file"):
        load_checkpoint(tmp_path / "model.json")
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path / "folder.json")
    model = write(tmp_path, *tfjs_model(reference))
    (tmp_path / BIN).unlink()
    with pytest.raises(CheckpointError, match=re.escape(f"weight file '{BIN}': no such file")):
        load_checkpoint(model)


def test_special_files_are_refused_unread(reference, tmp_path):
    """A FIFO would block the reader forever: refused from its metadata, as model.json or as
    a weight file (whose declared size, 0 bytes for a manifest of empty shapes, it matches)."""
    os.mkfifo(tmp_path / "pipe.json")
    with pytest.raises(CheckpointError, match=r"'pipe\.json' is a FIFO \(named pipe\)"):
        load_checkpoint(tmp_path / "pipe.json")
    info, _ = tfjs_model(reference)
    for spec in info["weightsManifest"][0]["weights"]:
        spec["shape"] = [0]
    model = write(tmp_path, info, b"")
    (tmp_path / BIN).unlink()
    os.mkfifo(tmp_path / BIN)
    with pytest.raises(CheckpointError, match=re.escape(f"weight file '{BIN}' is a FIFO")):
        load_checkpoint(model)


def test_a_model_is_not_saved_as_json(reference, tmp_path):
    with pytest.raises(ValueError, match=r"save as \.safetensors"):
        save_checkpoint(tmp_path / "m.json", reference, make_objective("flow"), dataset="x")
    assert not (tmp_path / "m.json").exists()


# --- where users load it -------------------------------------------------------------------


def test_the_cli_samples_a_tfjs_model_in_the_originals_coordinates(
    capsys, model_file, reference, tmp_path
):
    out = tmp_path / "s.npy"
    argv = ["sample", "--model", str(model_file), "-n", "64", "--steps", "8", "--sampler"]
    assert main([*argv, "midpoint", "--seed", "3", "--out", str(out)]) == 0
    x0, _ = initial_noise(64, 3)  # the original's own samples from the same noise, reflected
    expected = trajectory(flow(reference), x0 * FLIP, 8, "midpoint")[-1]
    assert np.abs(np.load(out) - expected.numpy()).max() <= 1e-5
    assert main(["sample", "--model", str(tmp_path / "model.json"), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dexplorer: error: cannot load model")
    assert "'model.json': no such file" in lines[0]


def test_the_app_loads_a_tfjs_model_and_compares_it_with_ours(model_file, tmp_path):
    state = AppState()
    assert state.change(n=300)
    bad = tmp_path / "model.json"
    bad.write_text("{}")
    assert not state.load_model(str(bad)) and "no modelTopology" in state.message
    assert state.trained is None
    assert state.load_model(str(model_file)), state.message
    assert state.run.model == "trained"
    assert state.set_runs(["trained:midpoint:10", "flow:heun:10"]), state.message
    engine = Engine("cpu")
    try:
        problems = engine.sync(state.request())
        assert problems == []
        engine.wait()
        original, ours = (simulation.cache.particles for simulation in engine.simulations)
        n = engine.simulations[0].n
    finally:
        engine.close()
    assert torch.equal(original[0], ours[0])
    expected = sample(state.trained.field(), n, 10, "midpoint", seed=state.data.seed)
    assert (original - expected).abs().max() <= 1e-5


def test_a_session_names_a_tfjs_model_for_a_side_by_side_comparison(model_file):
    session = model_file.with_name("original.toml")
    session.write_text(
        'format = "dexplorer-session"\ncompare = ["trained:midpoint:20", "flow:heun:20"]\n'
        '[settings]\nmodel = "trained"\n[files]\nmodel = "model.json"\n'
    )
    state = AppState()
    assert apply_session(state, session), state.message
    assert state.trained is not None and state.trained.path == str(model_file)
    assert [run.model for run in state.runs] == ["trained", "flow"]
