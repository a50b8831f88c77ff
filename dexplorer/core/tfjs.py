"""The original Diffusion Explorer's model files: a TF.js layers model (``model.json`` and
the weight files its manifest names), read as an ``original``-preset flow matching network.

What the original tool writes (tfjs-layers 4.x, ``model.save`` or its own ``saveModel``)::

    {"modelTopology": {"class_name": "Sequential", "config": {"layers": [
         {"class_name": "Dense", "config": {"name": "dense_Dense1", "units": 64,
          "activation": "elu", "use_bias": true, "batch_input_shape": [null, 3], ...}},
         ... two more Dense(64, elu), then Dense(2, linear)]}, ...},
     "weightsManifest": [{"paths": ["model.weights.bin"], "weights": [
         {"name": "dense_Dense1/kernel", "shape": [3, 64], "dtype": "float32"},
         {"name": "dense_Dense1/bias", "shape": [64], "dtype": "float32"}, ...]}]}

(one of its explainers ships the topology itself at the top level, with the manifest next
to ``class_name``; both are read). The network's input is ``[x, y, t]`` with t raw, its
output the velocity of flow matching on x_t = (1 - t) e + t x1: the original's time runs
as ours (t = 0 noise, t = 1 data), so nothing is converted. A Dense kernel is stored
``[in, out]`` (torch's weight transposed). Each manifest group's files, in order, hold its
weights one after the other, float32 little-endian.

Coordinates: the original's model works in the coordinates of its data files (its plot
spans [-3, 3]^2), drawn with y pointing down (SVG). The network is read as the equivalent
network in y-up coordinates, exactly: with F = diag(1, -1) its velocity is F v(F x, t), its
first layer's y input column and its output layer's y row and y bias negated (the noise
N(0, I) is symmetric, so sampling is the original's turned over). Its smiley shows the
right way up, like the original's JSON datasets imported y down, and its normalisation
:data:`Y_DOWN` maps samples back to the original's own coordinates.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from .choices import TFJS_SUFFIX
from .datasets import Normalisation
from .inputs import InputFileError, file_size, read_bytes
from .networks import MLP, PRESETS, parameter_shapes
from .objectives import Objective, make_objective

PRESET = "original"
"""The network the original's files hold (TF.js names its activation as we do)."""
OBJECTIVE = "flow"
MAX_JSON_BYTES = 16 << 20
"""Largest model.json read (the original's are about 2.5 KB)."""
MAX_WEIGHT_BYTES = 16 << 20
"""Largest weight file read (the original network's weights are about 18 KB)."""
Y_DOWN = Normalisation((0.0, 0.0), (1.0, -1.0))
"""The original's coordinates (y down) to the loaded network's (y up), and back."""


class TfjsError(ValueError):
    """What is wrong with a TF.js model file (the caller adds the file's name)."""


def is_tfjs(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a TF.js model file (by its suffix)."""
    return os.fspath(path).lower().endswith(TFJS_SUFFIX)


def read_tfjs(path: str | os.PathLike[str]) -> tuple[MLP, Objective, Normalisation]:
    """Read a TF.js layers model of the original's network, turned the right way up.

    Returns
    -------
    MLP, Objective, Normalisation
        The ``original``-preset network (float32, on the CPU) with its weights in y-up
        coordinates, flow matching, and :data:`Y_DOWN` (the map to its file's coordinates).

    Raises
    ------
    TfjsError
        The file or a weight file is missing or unreadable, model.json is not JSON or not
        a TF.js layers model, its network is not the original's, or its weights do not fit
        the network (name, shape, dtype, count, byte count) or are not finite.
    """
    path = Path(path)
    info = _read_json(path)
    layers = _check_topology(_topology(info))
    weights = _read_weights(path.parent, _manifest(info))
    network = MLP(PRESETS[PRESET])
    network.load_state_dict(_flip_y(_state_dict(layers, weights)), strict=True)
    return network, make_objective(OBJECTIVE), Y_DOWN


def _read_json(path: Path) -> dict:
    """model.json as a JSON object (repeated keys refused)."""
    _size(path, "model file")
    try:
        text = _read(path, "model file", MAX_JSON_BYTES).decode("utf-8")
        info = json.loads(text, object_pairs_hook=_unique)
    except (UnicodeDecodeError, ValueError) as exc:
        raise TfjsError(f"not JSON ({exc})") from None
    if not isinstance(info, dict):
        raise TfjsError("not a TF.js model: the JSON is not an object")
    return info


def _size(path: Path, what: str) -> int:
    """A regular file's size in bytes."""
    try:
        return file_size(path)
    except InputFileError as exc:
        raise TfjsError(f"{what} {path.name!r} {exc}") from None
    except FileNotFoundError:
        raise TfjsError(f"{what} {path.name!r}: no such file") from None
    except OSError as exc:
        raise TfjsError(f"cannot read {what} {path.name!r} ({exc.strerror or exc})") from None


def _read(path: Path, what: str, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit`` of them."""
    try:
        return read_bytes(path, limit)
    except InputFileError as exc:
        raise TfjsError(f"{what} {path.name!r}: {exc}") from None
    except OSError as exc:
        raise TfjsError(f"cannot read {what} {path.name!r} ({exc.strerror or exc})") from None


def _unique(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object hook that refuses repeated keys (parsers disagree on which wins)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("repeated key in a JSON object")
    return result


def _topology(info: dict) -> dict:
    """The model topology: under ``modelTopology`` (itself perhaps wrapping a converted
    Keras model's ``model_config``), or the file itself."""
    if info.get("format", "layers-model") != "layers-model":
        raise TfjsError(f"a TF.js {info['format']!r}, not a layers model")
    topology = info.get("modelTopology", info)
    if isinstance(topology, dict):
        topology = topology.get("model_config", topology)
    if not isinstance(topology, dict) or "class_name" not in topology:
        raise TfjsError("not a TF.js layers model (no modelTopology)")
    return topology


def _manifest(info: dict) -> list:
    manifest = info.get("weightsManifest")
    if not isinstance(manifest, list) or not manifest:
        raise TfjsError("no weightsManifest: the file names no weights")
    return manifest


def _check_topology(topology: dict) -> list[str]:
    """Check that the topology is the original's network; return its layers' names."""
    config = PRESETS[PRESET]
    inputs = 2 + config.time_dim
    expected = (
        f"{config.depth} Dense({config.width}, {config.activation}) layers "
        f"and Dense(2, linear) on {inputs} inputs (x, y, t)"
    )
    if topology["class_name"] != "Sequential":
        raise TfjsError(
            f"a {topology['class_name']!r} model; the original's network is Sequential: {expected}"
        )
    body = topology.get("config")
    layers = body.get("layers") if isinstance(body, dict) else None
    if not isinstance(layers, list):
        raise TfjsError("the Sequential model has no list of layers")
    wanted = [(config.width, config.activation)] * config.depth + [(2, "linear")]
    if len(layers) != len(wanted):
        raise TfjsError(f"{len(layers)} layers; the original's network has {expected}")
    names = []
    for index, (layer, (units, activation)) in enumerate(zip(layers, wanted, strict=True)):
        where = f"layer {index + 1}"
        if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
            raise TfjsError(f"{where} is not a layer object")
        kind, settings = layer.get("class_name"), layer["config"]
        found = (kind, settings.get("units"), settings.get("activation", "linear"))
        bias = settings.get("use_bias", True) is True
        if found != ("Dense", units, activation) or not bias:
            raise TfjsError(
                f"{where} is {kind}({found[1]}, {found[2]}{'' if bias else ', no bias'}); "
                f"the original's network has {expected}"
            )
        shape = settings.get("batch_input_shape", [None, inputs])
        if index == 0 and shape != [None, inputs]:
            raise TfjsError(
                f"{where} takes inputs of shape {json.dumps(shape)}; the original's flow matching "
                f"network takes [null, {inputs}] (x, y, t), no class"
            )
        if settings.get("dtype", "float32") != "float32":
            raise TfjsError(f"{where} computes in {settings['dtype']!r}, not float32")
        name = settings.get("name")
        if not isinstance(name, str) or not name:
            raise TfjsError(f"{where} has no name")
        names.append(name)
    if len(set(names)) != len(names):
        raise TfjsError(f"two layers share a name: {names}")
    return names


def _read_weights(folder: Path, manifest: list) -> dict[str, np.ndarray]:
    """Every weight the manifest names, from its group's files (relative to model.json, in
    order), checked for dtype, shape, byte count and finiteness."""
    weights: dict[str, np.ndarray] = {}
    for number, group in enumerate(manifest, start=1):
        where = f"weightsManifest group {number}"
        if not isinstance(group, dict) or not isinstance(group.get("weights"), list):
            raise TfjsError(f"{where} has no list of weights")
        specs = [_check_spec(spec, where) for spec in group["weights"]]
        files = [folder / name for name in _shard_names(group, where)]
        needed = sum(4 * math.prod(shape) for _, shape in specs)
        held = sum(_size(file, "weight file") for file in files)
        if held != needed:
            names = ", ".join(repr(file.name) for file in files)
            raise TfjsError(
                f"weight file(s) {names} hold {held} bytes; "
                f"the {len(specs)} float32 weights of {where} need {needed}"
            )
        data = b"".join(_read(file, "weight file", MAX_WEIGHT_BYTES) for file in files)
        offset = 0
        for name, shape in specs:
            if name in weights:
                raise TfjsError(f"weight {name!r} appears twice in the manifest")
            count = math.prod(shape)
            values = np.frombuffer(data, dtype="<f4", count=count, offset=offset)
            if not np.isfinite(values).all():
                raise TfjsError(f"weight {name!r} has non-finite values (NaN or infinity)")
            weights[name] = values.reshape(shape)
            offset += 4 * count
    return weights


def _check_spec(spec: object, where: str) -> tuple[str, tuple[int, ...]]:
    """One manifest entry's name and shape (float32, not quantised)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise TfjsError(f"{where}: a weight entry has no name")
    name, shape = spec["name"], spec.get("shape")
    if "quantization" in spec:
        raise TfjsError(f"weight {name!r} is quantised; only float32 weights are read")
    if spec.get("dtype") != "float32":
        raise TfjsError(f"weight {name!r} has dtype {spec.get('dtype')!r}, not float32")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise TfjsError(f"weight {name!r} has shape {shape!r}, not a list of sizes")
    return name, tuple(shape)


def _shard_names(group: dict, where: str) -> list[str]:
    """The group's weight files: paths relative to model.json, as a browser resolves them."""
    names = group.get("paths")
    if not isinstance(names, list) or not names:
        raise TfjsError(f"{where} has no list of paths")
    for name in names:
        if not isinstance(name, str) or not name:
            raise TfjsError(f"{where}: path {name!r} is not a file name")
        if "://" in name or Path(name).is_absolute():
            raise TfjsError(f"{where}: path {name!r} is not relative to model.json")
    return names


def _state_dict(layers: list[str], weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Our MLP's state_dict from the Dense layers' kernels and biases (a TF.js kernel is
    our weight transposed), after checking that the manifest names exactly those, with the
    network's shapes."""
    ours = [f"hidden.{i}" for i in range(len(layers) - 1)] + ["output"]
    shapes = parameter_shapes(PRESETS[PRESET])
    expected = {}
    for layer, target in zip(layers, ours, strict=True):
        expected[f"{layer}/kernel"] = (f"{target}.weight", shapes[f"{target}.weight"][::-1])
        expected[f"{layer}/bias"] = (f"{target}.bias", shapes[f"{target}.bias"])
    for name in sorted(weights.keys() - expected.keys()):
        raise TfjsError(f"unexpected weight {name!r} (the layers are {', '.join(layers)})")
    state = {}
    for name, (target, shape) in expected.items():
        if name not in weights:
            raise TfjsError(f"weight {name!r} (shape {list(shape)}) is missing")
        if weights[name].shape != shape:
            raise TfjsError(
                f"weight {name!r} has shape {list(weights[name].shape)}; "
                f"the original's network needs {list(shape)}"
            )
        value = torch.from_numpy(weights[name].astype(np.float32))
        state[target] = value.T.contiguous() if name.endswith("/kernel") else value
    return state


def _flip_y(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights of the network F v(F x, t), F = diag(1, -1): the first layer's y input
    column and the output layer's y row and y bias negated (``state`` is changed in place)."""
    flip = torch.tensor([1.0, -1.0])
    state["hidden.0.weight"][:, :2] *= flip
    state["output.weight"] *= flip[:, None]
    state["output.bias"] *= flip
    return state
