"""Model files a student might hand over: a small valid model whose metadata or tensors were
edited (sizes that would allocate gigabytes, zero, negative, strings), damaged files, special
files, and a TF.js model.json whose weights have the wrong shapes. Each is refused before its
network is built."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save as save_safetensors

from dexplorer.core.checkpoints import save_checkpoint
from dexplorer.core.networks import MLP, PRESETS, NetworkConfig
from dexplorer.core.objectives import make_objective

from . import Case

SMALL = NetworkConfig(width=16, depth=2, time_features=8)


def _sample(name: str) -> list[str]:
    return ["sample", "--model", name, "-n", "10", "--steps", "2", "--out", "s.npy"]


def _valid(folder: Path) -> bytes:
    """A valid model file of a small network."""
    path = folder / "valid.safetensors"
    torch.manual_seed(0)
    save_checkpoint(path, MLP(SMALL), make_objective("flow"), dataset="moons")
    data = path.read_bytes()
    path.unlink()
    return data


def _edited(
    network: dict | None = None, tensors: Callable[[dict], dict] | None = None
) -> Callable[[Path], list[str]]:
    """A small model with ``network`` merged into its metadata's network description and
    its tensors passed through ``tensors``."""

    def build(folder: Path) -> list[str]:
        torch.manual_seed(0)
        state = {k: v.contiguous() for k, v in MLP(SMALL).state_dict().items()}
        if tensors is not None:
            state = tensors(state)
        info = {
            "format": "dexplorer-model",
            "version": 2,
            "network": {**SMALL.to_dict(), **(network or {})},
            "objective": make_objective("flow").to_dict(),
            "dataset": "moons",
            "class_names": [],
            "class_weights": [],
            "training_steps": 0,
            "normalisation": {"centre": [0.0, 0.0], "scale": [1.0, 1.0]},
        }
        data = save_safetensors(state, metadata={"dexplorer": json.dumps(info)})
        (folder / "bad.safetensors").write_bytes(data)
        return _sample("bad.safetensors")

    return build


def _without(name: str) -> Callable[[dict], dict]:
    return lambda state: {k: v for k, v in state.items() if k != name}


def _reshaped(name: str, shape: tuple[int, ...]) -> Callable[[dict], dict]:
    return lambda state: {**state, name: torch.zeros(shape)}


def _bytes(edit: Callable[[bytes], bytes]) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        (folder / "bad.safetensors").write_bytes(edit(_valid(folder)))
        return _sample("bad.safetensors")

    return build


def _fifo(folder: Path) -> list[str]:
    os.mkfifo(folder / "pipe.safetensors")
    return _sample("pipe.safetensors")


def _sparse(folder: Path) -> list[str]:
    with open(folder / "huge.safetensors", "wb") as file:
        file.truncate(3 << 30)
    return _sample("huge.safetensors")


def _tfjs(kernel_shape: list[int], held: int | None = None) -> Callable[[Path], list[str]]:
    """The original's TF.js model.json whose first kernel is declared ``kernel_shape``; its
    weight file holds ``held`` floats (by default as many as declared: only the shape is
    wrong)."""

    def build(folder: Path) -> list[str]:
        config = PRESETS["original"]
        widths = [2 + config.time_dim] + [config.width] * config.depth + [2]
        layers, specs, sizes = [], [], []
        for index, (a, b) in enumerate(pairwise(widths)):
            name = f"dense_Dense{index + 1}"
            settings = {"name": name, "units": b, "use_bias": True}
            settings["activation"] = "linear" if index == len(widths) - 2 else config.activation
            if index == 0:
                settings["batch_input_shape"] = [None, a]
            layers.append({"class_name": "Dense", "config": settings})
            kernel = kernel_shape if index == 0 else [a, b]
            for weight, shape in ((f"{name}/kernel", kernel), (f"{name}/bias", [b])):
                specs.append({"name": weight, "shape": shape, "dtype": "float32"})
                sizes.append(int(np.prod(shape)))
        info = {
            "modelTopology": {"class_name": "Sequential", "config": {"layers": layers}},
            "weightsManifest": [{"paths": ["model.weights.bin"], "weights": specs}],
        }
        (folder / "model.json").write_text(json.dumps(info))
        floats = sum(sizes) if held is None else held
        (folder / "model.weights.bin").write_bytes(np.zeros(floats, "<f4").tobytes())
        return _sample("model.json")

    return build


CASES = [
    Case(
        "sample --model depth 3e7",
        _edited({"depth": 30_000_000}),
        "network: depth is 30000000; expected at most 64",
    ),
    Case(
        "sample --model depth 1e9",
        _edited({"depth": 1_000_000_000}),
        "network: depth is 1000000000; expected at most 64",
    ),
    Case(
        "sample --model depth 3e7 as a float",
        _edited({"depth": 3e7}),
        "network: depth is 30000000.0, not an integer",
    ),
    Case(
        "sample --model width 10**30",
        _edited({"width": 10**30}),
        f"network: width is {10**30}; expected at most 4096",
    ),
    Case(
        "sample --model 1e9 classes",
        _edited({"num_classes": 10**9}),
        "network: num_classes is 1000000000; expected at most 256",
    ),
    Case("sample --model width 0", _edited({"width": 0}), "width must be at least 1"),
    Case("sample --model width -64", _edited({"width": -64}), "width must be at least 1"),
    Case("sample --model width '64'", _edited({"width": "64"}), "network: width is '64', not a"),
    Case(
        "sample --model a missing tensor",
        _edited(tensors=_without("output.bias")),
        "tensor output.bias (shape [2]) is missing",
    ),
    Case(
        "sample --model a wrongly shaped tensor",
        _edited(tensors=_reshaped("hidden.1.weight", (16, 17))),
        "tensor hidden.1.weight has shape [16, 17], the network needs [16, 16]",
    ),
    Case(
        "sample --model depth 3 for 2 layers",
        _edited({"depth": 3}),
        "tensor hidden.2.weight (shape [16, 16]) is missing",
    ),
    Case(
        "sample --model truncated",
        _bytes(lambda data: data[: len(data) // 2]),
        "run past the 480-byte data section",
    ),
    Case(
        "sample --model garbage bytes",
        _bytes(lambda data: bytes((i * 131 + 7) % 256 for i in range(len(data)))),
        "not a safetensors file",
    ),
    Case("sample --model a FIFO", _fifo, "is a FIFO (named pipe); expected a regular file"),
    Case("sample --model 3 GiB", _sparse, "file is 3 GiB; expected at most 64 MiB"),
    Case(
        "sample --model model.json, wrong kernel shape",
        _tfjs([3, 65]),
        "weight 'dense_Dense1/kernel' has shape [3, 65]; the original's network needs [3, 64]",
    ),
    Case(
        "sample --model model.json, a 1e12-float kernel",
        _tfjs([1_000_000, 1_000_000], held=8_642),
        "hold 34568 bytes; the 8 float32 weights of weightsManifest group 1 need 4000000034056",
    ),
    Case(
        "sample --model finite weights x 1e18",
        _edited(tensors=lambda state: {k: v * 1e18 for k, v in state.items()}),
        "10 of 10 particles became non-finite",
    ),
]
