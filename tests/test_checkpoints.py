"""Model files: round trips, atomic writes, and a corpus of bad files that must all give
CheckpointError (never another exception, never an unpickle)."""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save as save_safetensors

from dexplorer.core.checkpoints import (
    FORMAT,
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from dexplorer.core.datasets import Normalisation
from dexplorer.core.fields import NetworkField
from dexplorer.core.networks import MLP, NetworkConfig
from dexplorer.core.objectives import make_objective
from dexplorer.core.pretrained import pretrained_path

SMALL = NetworkConfig(width=16, depth=2, time_features=8, class_features=4)
CLASSES = ("left", "right", "ring")


def small_network(config: NetworkConfig = SMALL, seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(config)


def outputs(network: MLP, num_classes: int = 0) -> torch.Tensor:
    """The network at fixed points, times and (if conditional) every label and the null one."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(64, 2, generator=generator)
    t = torch.rand(64, generator=generator)
    with torch.no_grad():
        if not num_classes:
            return torch.stack([network(x, t), network(x, 0.25)])
        return torch.stack([network(x, t, label) for label in range(num_classes + 1)])


def data_size(data: bytes) -> int:
    """Bytes of tensor data in a safetensors file (after the header)."""
    return len(data) - 8 - struct.unpack("<Q", data[:8])[0]


def metadata_of(checkpoint: Checkpoint) -> dict:
    return {
        "network": checkpoint.network.config.to_dict(),
        "objective": checkpoint.objective.to_dict(),
        "dataset": checkpoint.dataset,
        "class_names": checkpoint.class_names,
        "class_weights": checkpoint.class_weights,
        "training_steps": checkpoint.training_steps,
    }


# --- round trips --------------------------------------------------------------------------


def test_round_trip_unconditional_flow(tmp_path: Path) -> None:
    network = small_network()
    objective = make_objective("flow")
    path = tmp_path / "nested" / "dir" / "flow.safetensors"
    save_checkpoint(path, network, objective, dataset="moons", training_steps=1234)
    loaded = load_checkpoint(path)
    assert torch.equal(outputs(loaded.network), outputs(network))
    assert metadata_of(loaded) == {
        "network": SMALL.to_dict(),
        "objective": objective.to_dict(),
        "dataset": "moons",
        "class_names": (),
        "class_weights": (),
        "training_steps": 1234,
    }
    assert loaded.path == str(path)
    assert not loaded.conditional
    assert not loaded.network.training
    assert not any(p.requires_grad for p in loaded.network.parameters())
    assert all(p.dtype == torch.float32 for p in loaded.network.parameters())
    assert isinstance(loaded.field(), NetworkField)


def test_round_trip_conditional_diffusion(tmp_path: Path) -> None:
    config = SMALL.with_classes(len(CLASSES))
    network = small_network(config)
    objective = make_objective("diffusion", "cosine")
    path = tmp_path / "diffusion.safetensors"
    save_checkpoint(path, network, objective, dataset="blobs", class_names=CLASSES)
    loaded = load_checkpoint(path)
    assert torch.equal(outputs(loaded.network, 3), outputs(network, 3))
    assert metadata_of(loaded) == {
        "network": config.to_dict(),
        "objective": {**objective.to_dict(), "schedule": "cosine"},
        "dataset": "blobs",
        "class_names": CLASSES,
        "class_weights": (1.0,) * len(CLASSES),
        "training_steps": 0,
    }
    assert loaded.conditional
    field = loaded.field(label=2, guidance=3.0)
    assert (field.label, field.guidance) == (2, 3.0)
    with pytest.raises(ValueError):
        loaded.field(label=3)


def test_round_trip_half(tmp_path: Path) -> None:
    network = small_network(SMALL.with_classes(3))
    path = tmp_path / "half.safetensors"
    objective = make_objective("vpred", "linear_beta")
    save_checkpoint(path, network, objective, dataset="d", class_names=CLASSES, half=True)
    full = tmp_path / "full.safetensors"
    save_checkpoint(full, network, objective, dataset="d", class_names=CLASSES)
    weights = sum(p.numel() for p in network.parameters())
    assert data_size(full.read_bytes()) == 2 * data_size(path.read_bytes()) == 4 * weights
    loaded = load_checkpoint(path)
    before, after = outputs(network, 3), outputs(loaded.network, 3)
    assert (after - before).abs().max() <= 1e-2 * before.abs().max()
    assert all(p.dtype == torch.float32 for p in loaded.network.parameters())
    assert loaded.objective.to_dict() == objective.to_dict()


def test_round_trip_normalisation(tmp_path: Path) -> None:
    frame = Normalisation((10.499709002432901, -1e6), (0.6672143401435945, -1 / 3))
    path = tmp_path / "screen.safetensors"
    save_checkpoint(path, small_network(), make_objective("flow"), dataset="custom")
    assert load_checkpoint(path).normalisation.identity
    checkpoint = load_checkpoint(path)
    Checkpoint(checkpoint.network, checkpoint.objective, "custom", normalisation=frame).save(path)
    assert load_checkpoint(path).normalisation == frame  # exactly: JSON keeps every digit


def test_version_1_files_load_with_the_identity(tmp_path: Path) -> None:
    path = tmp_path / "v1.safetensors"
    path.write_bytes(raw_file(metadata=without(good_metadata(), "normalisation"), version=1))
    assert load_checkpoint(path).normalisation.identity
    shipped = load_checkpoint(pretrained_path("smiley/flow"))  # bundled data: the identity
    assert shipped.normalisation.identity


@pytest.mark.parametrize(
    ("normalisation", "reason"),
    [
        ({"centre": [0, float("nan")], "scale": [1, 1]}, r"centre: got \(0, nan\)"),
        ({"centre": [0, 0], "scale": [1, 0]}, "scale.*non-zero"),
        ({"centre": [0, 0], "scale": [1, 1e999]}, "scale.*finite"),
        ({"centre": [0, 0, 0], "scale": [1, 1]}, "centre.*two finite numbers"),
        ({"centre": [0, 0], "scale": ["1", 1]}, "scale.*two finite numbers"),
        ({"centre": [0, 0], "scale": [True, 1]}, "scale.*two finite numbers"),
        ({"centre": [0, 0]}, r"normalisation: missing keys \['scale'\]"),
        ({"centre": [0, 0], "scale": [1, 1], "y_down": 1}, r"unknown keys \['y_down'\]"),
        ({"centre": "0, 0", "scale": [1, 1]}, "centre is '0, 0', not a list"),
        ([0, 0, 1, 1], "normalisation is .*, not a table"),
    ],
)
def test_bad_normalisation_is_refused_with_a_reason(
    tmp_path: Path, normalisation: object, reason: str
) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw_file(normalisation=normalisation))
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("version", "keys", "reason"),
    [
        (FORMAT_VERSION, "without", r"missing keys \['normalisation'\]"),
        (1, "with", r"unknown keys \['normalisation'\]"),
    ],
)
def test_each_version_has_its_own_keys(
    tmp_path: Path, version: int, keys: str, reason: str
) -> None:
    metadata = good_metadata() if keys == "with" else without(good_metadata(), "normalisation")
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw_file(metadata=metadata, version=version))
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(path)


def test_save_rejects_a_bad_normalisation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="normalisation"):
        save_checkpoint(
            tmp_path / "x.safetensors",
            small_network(),
            make_objective("flow"),
            dataset="d",
            normalisation=(0, 1),  # type: ignore[arg-type]
        )


def test_save_rejects_wrong_class_count(tmp_path: Path) -> None:
    network = small_network(SMALL.with_classes(3))
    with pytest.raises(ValueError, match="class names"):
        save_checkpoint(
            tmp_path / "m", network, make_objective("flow"), dataset="d", class_names=["a"]
        )
    with pytest.raises(ValueError, match="class names"):
        save_checkpoint(
            tmp_path / "m", small_network(), make_objective("flow"), dataset="d", class_names="a"
        )
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_non_finite_weights(tmp_path: Path) -> None:
    network = small_network()
    with torch.no_grad():
        network.output.bias[0] = 1e6  # finite in float32, infinite in float16
    objective = make_objective("flow")
    with pytest.raises(ValueError, match="finite"):
        save_checkpoint(tmp_path / "m", network, objective, dataset="d", half=True)
    assert list(tmp_path.iterdir()) == []


# --- atomic writes ------------------------------------------------------------------------


def test_overwrite_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    for seed in range(2):
        save_checkpoint(path, small_network(seed=seed), make_objective("flow"), dataset="d")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert torch.equal(outputs(load_checkpoint(path).network), outputs(small_network(seed=1)))


def test_failed_write_keeps_existing_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, small_network(), make_objective("flow"), dataset="old")
    before = path.read_bytes()

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, small_network(seed=5), make_objective("flow"), dataset="new")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_killed_save_leaves_a_temporary_file_that_the_next_save_sweeps(tmp_path: Path) -> None:
    """A save killed mid-write (SIGKILL: no clean-up runs) leaves its temporary file; the
    next save into that folder removes it, since its writer is gone."""
    path = tmp_path / "model.safetensors"
    writer = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from dexplorer.core import outputs\n"
        "with outputs.replacing(Path(sys.argv[1])) as tmp:\n"
        "    tmp.write_bytes(bytes(100_000))\n"
        "    print(tmp, flush=True)\n"
        "    time.sleep(60)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    process = subprocess.Popen(
        [sys.executable, "-c", writer, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    left = Path(process.stdout.readline().strip())
    process.kill()
    process.wait()
    process.stdout.close()
    assert left.exists() and left.parent == tmp_path and not path.exists()
    save_checkpoint(path, small_network(), make_objective("flow"), dataset="d")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


# --- bad files ----------------------------------------------------------------------------


def valid_bytes(tmp_path: Path, num_classes: int = 0) -> bytes:
    path = tmp_path / "valid.safetensors"
    names = CLASSES[:num_classes]
    network = small_network(SMALL.with_classes(num_classes))
    save_checkpoint(path, network, make_objective("flow"), dataset="d", class_names=names)
    return path.read_bytes()


def good_metadata(config: NetworkConfig = SMALL) -> dict:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "network": config.to_dict(),
        "objective": make_objective("flow").to_dict(),
        "dataset": "d",
        "class_names": [],
        "class_weights": [],
        "training_steps": 0,
        "normalisation": {"centre": [0.0, 0.0], "scale": [1.0, 1.0]},
    }


def raw_file(tensors: dict | None = None, metadata: dict | str | None = None, **changes) -> bytes:
    """A safetensors file with the given tensors (default: a SMALL network's) and
    dexplorer metadata (a dict is updated with ``changes`` and JSON encoded)."""
    if tensors is None:
        tensors = {k: v.contiguous() for k, v in small_network().state_dict().items()}
    if metadata is None:
        metadata = good_metadata()
    if isinstance(metadata, dict):
        metadata = json.dumps({**metadata, **changes})
    return save_safetensors(tensors, metadata={"dexplorer": metadata})


def state(config: NetworkConfig = SMALL) -> dict:
    return {k: v.contiguous() for k, v in small_network(config).state_dict().items()}


def without(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


def with_nan() -> dict:
    tensors = state()
    tensors["hidden.1.weight"][3, 4] = float("nan")
    return tensors


def torch_saved() -> bytes:
    buffer = io.BytesIO()
    torch.save({"hidden.0.weight": torch.zeros(3)}, buffer)
    return buffer.getvalue()


def header_past_end(data: bytes) -> bytes:
    return struct.pack("<Q", len(data)) + data[8:]


def header_json(data: bytes, edit) -> bytes:
    """Re-encode a file's header after ``edit(header)``."""
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    edit(header)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + size :]


BAD_FILES = {
    "empty": lambda valid: b"",
    "four bytes": lambda valid: b"\x01\x02\x03\x04",
    "truncated header": lambda valid: valid[:40],
    "truncated data": lambda valid: valid[: len(valid) // 2],
    "one byte short": lambda valid: valid[:-1],
    "header only": lambda valid: valid[: 8 + struct.unpack("<Q", valid[:8])[0]],
    "random bytes": lambda valid: random.Random(7).randbytes(4096),
    "pickle": lambda valid: pickle.dumps({"hidden.0.weight": [1.0, 2.0]}),
    "torch.save": lambda valid: torch_saved(),
    "json": lambda valid: json.dumps(good_metadata()).encode(),
    "foreign safetensors": lambda valid: save_safetensors({"w": torch.ones(2, 2)}),
    "foreign metadata": lambda valid: save_safetensors({"w": torch.ones(2)}, {"name": "x"}),
    "wrong format": lambda valid: raw_file(format="other-model"),
    "future version": lambda valid: raw_file(version=FORMAT_VERSION + 1),
    "version zero": lambda valid: raw_file(version=0),
    "version not int": lambda valid: raw_file(version="1"),
    "metadata not json": lambda valid: raw_file(metadata="{format: dexplorer-model"),
    "metadata a list": lambda valid: raw_file(metadata="[1, 2]"),
    "missing dataset": lambda valid: raw_file(metadata=without(good_metadata(), "dataset")),
    "missing network": lambda valid: raw_file(metadata=without(good_metadata(), "network")),
    "missing objective": lambda valid: raw_file(metadata=without(good_metadata(), "objective")),
    "steps not int": lambda valid: raw_file(training_steps=1.5),
    "negative steps": lambda valid: raw_file(training_steps=-1),
    "class names not strings": lambda valid: raw_file(class_names=[1, 2]),
    "class names without classes": lambda valid: raw_file(class_names=["a"], class_weights=[1]),
    "missing class weights": lambda valid: raw_file(
        metadata=without(good_metadata(), "class_weights")
    ),
    "negative class weight": lambda valid: raw_file(
        network=SMALL.with_classes(2).to_dict(), class_names=["a", "b"], class_weights=[1, -1]
    ),
    "class weights not numbers": lambda valid: raw_file(class_weights=["x"]),
    "unknown objective": lambda valid: raw_file(
        objective={"name": "magic", "schedule": "cosine", "prediction": "v", "ot_coupling": False}
    ),
    "wrong prediction": lambda valid: raw_file(
        objective={**make_objective("flow").to_dict(), "prediction": "epsilon"}
    ),
    "unknown schedule": lambda valid: raw_file(
        objective={**make_objective("flow").to_dict(), "schedule": "quadratic"}
    ),
    "invalid network": lambda valid: raw_file(network={**SMALL.to_dict(), "activation": "tanh"}),
    "network width a string": lambda valid: raw_file(network={**SMALL.to_dict(), "width": "16"}),
    "network unknown key": lambda valid: raw_file(network={**SMALL.to_dict(), "dropout": 0}),
    "huge depth": lambda valid: raw_file(network={**SMALL.to_dict(), "depth": 10**12}),
    "huge width": lambda valid: raw_file(network={**SMALL.to_dict(), "width": 10**6}),
    "huge classes": lambda valid: raw_file(network={**SMALL.to_dict(), "num_classes": 10**9}),
    "wrong tensor shape": lambda valid: raw_file(
        tensors=state(NetworkConfig(width=32, depth=2, time_features=8)),
        network=NetworkConfig(width=64, depth=2, time_features=8).to_dict(),
    ),
    "missing tensor": lambda valid: raw_file(tensors=without(state(), "output.bias")),
    "extra tensor": lambda valid: raw_file(tensors={**state(), "extra.weight": torch.ones(2)}),
    "nan weights": lambda valid: raw_file(tensors=with_nan()),
    "integer tensor": lambda valid: raw_file(
        tensors={**state(), "output.bias": torch.zeros(2, dtype=torch.int32)}
    ),
    "header length past end": header_past_end,
    "header length zero": lambda valid: bytes(8) + valid[8:],
    "header not utf-8": lambda valid: valid[:8] + b"\xff" * (len(valid) - 8),
    "header a list": lambda valid: struct.pack("<Q", 2) + b"[]",
    "offsets past end": lambda valid: header_json(
        valid, lambda h: h["output.bias"].update(data_offsets=[10**9, 10**9 + 8])
    ),
    "offsets overlapping": lambda valid: header_json(
        valid, lambda h: h["output.bias"].update(data_offsets=[0, 8])
    ),
    "shape mismatching offsets": lambda valid: header_json(
        valid, lambda h: h["output.bias"].update(shape=[3])
    ),
    "negative shape": lambda valid: header_json(
        valid, lambda h: h["output.bias"].update(shape=[-2])
    ),
    "unknown dtype": lambda valid: header_json(
        valid, lambda h: h["output.bias"].update(dtype="F64", shape=[1])
    ),
    "metadata value not a string": lambda valid: header_json(
        valid, lambda h: h["__metadata__"].update(dexplorer={"format": FORMAT})
    ),
    "entry not an object": lambda valid: header_json(
        valid, lambda h: h.update({"output.bias": [1, 2, 3]})
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_file_raises_checkpoint_error(tmp_path: Path, name: str) -> None:
    data = BAD_FILES[name](valid_bytes(tmp_path))
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("foreign safetensors", "not a dexplorer model"),
        ("wrong format", "not a dexplorer model"),
        ("future version", "made by a newer dexplorer"),
        ("wrong tensor shape", r"shape \[64, 10\].*\[32, 10\]|\[32, 10\].*\[64, 10\]"),
        ("missing tensor", "output.bias"),
        ("extra tensor", "extra.weight"),
        ("nan weights", "hidden.1.weight"),
        ("unknown objective", "magic"),
        ("pickle", "not a safetensors file"),
        ("huge width", "network: width is 1000000; expected at most 4096"),
        ("huge depth", "network: depth is 1000000000000; expected at most 64"),
        ("huge classes", "network: num_classes is 1000000000; expected at most 256"),
        ("negative class weight", "class weights must be finite non-negative"),
    ],
)
def test_bad_file_reasons(tmp_path: Path, name: str, reason: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(BAD_FILES[name](valid_bytes(tmp_path)))
    with pytest.raises(CheckpointError, match=reason):
        load_checkpoint(path)


def test_truncation_anywhere(tmp_path: Path) -> None:
    valid = valid_bytes(tmp_path, num_classes=3)
    path = tmp_path / "cut.safetensors"
    for cut in [0, 1, 7, 8, 9, 100, len(valid) // 3, len(valid) - 4, len(valid) - 1]:
        path.write_bytes(valid[:cut])
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


def test_directory_and_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_special_and_oversized_files_are_refused_unread(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(CheckpointError, match=r"is a FIFO \(named pipe\); expected a regular"):
        load_checkpoint(fifo)
    big = tmp_path / "big.safetensors"
    with open(big, "wb") as file:
        file.truncate(3 << 30)  # sparse: nothing is written
    with pytest.raises(CheckpointError, match="file is 3 GiB; expected at most 64 MiB"):
        load_checkpoint(big)


def test_checkpoint_error_pickles() -> None:
    error = pickle.loads(pickle.dumps(CheckpointError("a.safetensors", "broken")))
    assert (error.path, error.reason) == ("a.safetensors", "broken")
    assert isinstance(error, ValueError)


def test_load_never_unpickles(tmp_path: Path, monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    path = tmp_path / "p.safetensors"
    path.write_bytes(torch_saved())
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    path.write_bytes(valid_bytes(tmp_path))
    assert isinstance(load_checkpoint(path), Checkpoint)


# --- fuzzing ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    directory = tmp_path_factory.mktemp("fuzz")
    return valid_bytes(directory, num_classes=3), directory / "fuzzed.safetensors"


# (in the header?, position, new byte): most damage lands in the header, where it matters.
edits = st.lists(
    st.tuples(st.booleans(), st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=6
)


@settings(max_examples=300, deadline=None)
@given(changes=edits)
def test_damaged_file_gives_checkpoint_or_error(
    fuzz_target: tuple[bytes, Path], changes: list[tuple[bool, int, int]]
) -> None:
    valid, path = fuzz_target
    header_end = 8 + struct.unpack("<Q", valid[:8])[0]
    data = bytearray(valid)
    for in_header, position, value in changes:
        data[position % (header_end if in_header else len(data))] = value
    path.write_bytes(data)
    try:
        result = load_checkpoint(path)
    except CheckpointError:
        return
    assert isinstance(result, Checkpoint)
    assert result.network.config.num_classes == len(result.class_names)
