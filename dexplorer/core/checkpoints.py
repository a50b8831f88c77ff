"""Model files: a trained network, its objective and what it was trained on, in one
safetensors file. Loading never unpickles, and checks the file's structure before any byte
reaches the safetensors parser, so a damaged or foreign file gives a :class:`CheckpointError`.

Layout: the network's state_dict tensors (float32, or float16 with ``half=True``) and one
JSON string under the safetensors metadata key ``"dexplorer"``::

    {"format": "dexplorer-model", "version": 2, "network": {...NetworkConfig...},
     "objective": {...Objective.to_dict()...}, "dataset": "...", "class_names": [...],
     "class_weights": [...], "training_steps": 0,
     "normalisation": {"centre": [cx, cy], "scale": [sx, sy]}}

``class_weights`` are the classes' proportions in the training data (empty when
unconditional): a sampler that is given no class draws each particle's class from them.
``normalisation`` maps the training file's coordinates into the model's (see
:class:`~dexplorer.core.datasets.Normalisation`); outputs are mapped back with it. Version 1
files (written before it was stored, like the shipped models) have every other key and no
``normalisation``: they read as the identity.

A ``.json`` file is the original Diffusion Explorer's TF.js model instead (see
:mod:`dexplorer.core.tfjs`); it loads as an ``original``-preset flow matching model, turned
the right way up, whose normalisation maps outputs back to the original's y-down coordinates.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path as FilePath

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor

from . import outputs
from .choices import TFJS_SUFFIX
from .datasets import IDENTITY, MAX_CLASSES, DatasetError, Normalisation
from .fields import NetworkField, draw_labels
from .inputs import TYPE_WORDS, InputFileError, read_bytes
from .networks import MLP, NetworkConfig, parameter_shapes
from .objectives import Objective, objective_from_dict
from .tfjs import TfjsError, is_tfjs, read_tfjs

FORMAT = "dexplorer-model"
FORMAT_VERSION = 2
METADATA_KEY = "dexplorer"
MAX_FILE_BYTES = 64 << 20
"""Largest model file read (a model of the default network is about 150 KiB)."""
MAX_HEADER_BYTES = 16 << 20
"""Largest safetensors header accepted (the header of a dexplorer model is a few KiB)."""
NETWORK_LIMITS = {
    "width": 4096,
    "depth": 64,
    "time_features": 1024,
    "num_classes": MAX_CLASSES,
    "class_features": 1024,
}
"""The largest network a model file may describe, size by size: checked before anything is
built from its description, which must then match the tensors the file holds."""

DTYPE_SIZES = {"F32": 4, "F16": 2, "BF16": 2}
METADATA_TYPES = {
    "format": str,
    "version": int,
    "network": dict,
    "objective": dict,
    "dataset": str,
    "class_names": list,
    "class_weights": list,
    "training_steps": int,
}
"""The metadata keys of a version 1 file; version 2 adds ``normalisation`` and, for a model
trained from another source than N(0, I), ``source``."""
NORMALISATION_TYPES = {"centre": list, "scale": list}
OBJECTIVE_TYPES = {"name": str, "schedule": str, "prediction": str, "ot_coupling": bool}
NETWORK_TYPES = {f.name: type(f.default) for f in fields(NetworkConfig)}


class CheckpointError(ValueError):
    """A model file that cannot be loaded: says which file and why.

    Parameters
    ----------
    path : str
        The file.
    reason : str
        What is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot load model {path!r}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self) -> tuple:
        return type(self), (self.path, self.reason)


class _BadFile(Exception):
    """Raised inside the loader with a reason; :func:`load_checkpoint` adds the path."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded model file.

    Owns the network (in eval mode, its parameters frozen) and the objective it was trained
    under, plus what it was trained on: the dataset name, the class names and proportions
    (empty for an unconditional model), the number of training steps and the normalisation
    of the training data's file (its outputs map back to that file's coordinates). ``path``
    is the file it came from, or ``None``.
    """

    network: MLP
    objective: Objective
    dataset: str
    class_names: tuple[str, ...] = ()
    class_weights: tuple[float, ...] = ()
    training_steps: int = 0
    path: str | None = None
    normalisation: Normalisation = IDENTITY
    source: str = "gaussian"
    """What the model was trained from at t = 0 (:mod:`~dexplorer.core.sources`)."""

    @property
    def conditional(self) -> bool:
        """Whether the network takes class labels."""
        return self.network.config.num_classes > 0

    def field(self, label: int | Tensor | None = None, guidance: float = 1.0) -> NetworkField:
        """The network as a field for the samplers.

        Parameters
        ----------
        label : int or Tensor, optional
            Class to generate, or one class per particle (conditional models only);
            ``None`` for the unconditional (null class) output.
        guidance : float
            Classifier-free guidance weight: 0 unconditional, 1 conditional, > 1 guided.
        """
        return NetworkField(self.network, self.objective, label, guidance)

    def save(self, path: str | os.PathLike[str], half: bool = False) -> None:
        """Write this model to ``path`` (see :func:`save_checkpoint`)."""
        save_checkpoint(
            path,
            self.network,
            self.objective,
            dataset=self.dataset,
            class_names=self.class_names,
            class_weights=self.class_weights,
            training_steps=self.training_steps,
            normalisation=self.normalisation,
            half=half,
            source=self.source,
        )

    def particle_labels(self, n: int, seed: int, device: str | torch.device = "cpu") -> Tensor:
        """One class per particle drawn from the training proportions (conditional only)."""
        if not self.conditional:
            raise ValueError("this model is unconditional: it takes no class")
        return draw_labels(list(self.class_weights), n, seed, device)


# --- saving -------------------------------------------------------------------------------


def save_checkpoint(
    path: str | os.PathLike[str],
    network: MLP,
    objective: Objective,
    *,
    dataset: str,
    class_names: Sequence[str] = (),
    class_weights: Sequence[float] = (),
    training_steps: int = 0,
    normalisation: Normalisation = IDENTITY,
    half: bool = False,
    source: str = "gaussian",
) -> None:
    """Write a model file atomically (a reader never sees a partial file).

    Parameters
    ----------
    path : str or PathLike
        Destination; parent directories are created.
    network : MLP
        The trained network.
    objective : Objective
        What it was trained to predict.
    dataset : str
        Name of the training data.
    class_names : sequence of str
        One name per class: as many as ``network.config.num_classes``.
    class_weights : sequence of float
        The classes' proportions in the training data; equal when not given.
    training_steps : int
        Number of optimisation steps taken.
    normalisation : Normalisation
        How the training data were mapped from their file (identity: they were not).
    half : bool
        Store the weights as float16 (half the size, about 3 significant digits).
    source : str
        What the model was trained from at t = 0 (stored when not the Gaussian).

    Raises
    ------
    ValueError
        The class names do not match the network, a weight is not finite (in float16), or
        the path ends in ``.json`` (read back as a TF.js model, not as this format).
    """
    if is_tfjs(path):
        raise ValueError(f"{TFJS_SUFFIX} is read as a TF.js model: save as .safetensors")
    metadata = _metadata(
        network, objective, dataset, class_names, class_weights, training_steps, normalisation
    )
    if source != "gaussian":  # files of the N(0, I) source stay as they were
        metadata["source"] = source
    tensors = _tensors_to_save(network, torch.float16 if half else torch.float32)
    data = save_safetensors(tensors, metadata={METADATA_KEY: json.dumps(metadata)})
    FilePath(path).parent.mkdir(parents=True, exist_ok=True)
    outputs.write_bytes(FilePath(path), data)


def _metadata(
    network: MLP,
    objective: Objective,
    dataset: str,
    class_names: Sequence[str],
    class_weights: Sequence[float],
    training_steps: int,
    normalisation: Normalisation,
) -> dict:
    """The ``"dexplorer"`` metadata of a model file, checked."""
    names = [class_names] if isinstance(class_names, str) else list(class_names)
    if len(names) != network.config.num_classes:
        raise ValueError(
            f"{len(names)} class names for a network with {network.config.num_classes} classes"
        )
    if not all(isinstance(name, str) for name in names):
        raise ValueError("class names must be strings")
    weights = [float(w) for w in class_weights] or [1.0] * len(names)
    problem = _weights_problem(weights, len(names))
    if problem:
        raise ValueError(problem)
    if not isinstance(dataset, str):
        raise ValueError("dataset must be a string")
    if not _is_type(training_steps, int) or training_steps < 0:
        raise ValueError("training_steps must be a non-negative int")
    if not isinstance(normalisation, Normalisation):
        raise ValueError("normalisation must be a Normalisation")
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "network": network.config.to_dict(),
        "objective": objective.to_dict(),
        "dataset": dataset,
        "class_names": names,
        "class_weights": weights,
        "training_steps": training_steps,
        "normalisation": {"centre": list(normalisation.centre), "scale": list(normalisation.scale)},
    }


def _tensors_to_save(network: MLP, dtype: torch.dtype) -> dict[str, Tensor]:
    """The network's state_dict as contiguous CPU tensors of ``dtype``, all finite."""
    tensors = {}
    for name, value in network.state_dict().items():
        tensor = value.detach().to(device="cpu", dtype=dtype).contiguous()
        if not torch.isfinite(tensor).all():
            raise ValueError(f"weight {name} is not finite (in {dtype})")
        tensors[name] = tensor
    return tensors


# --- loading ------------------------------------------------------------------------------


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Checkpoint:
    """Load a model file written by :func:`save_checkpoint`, or the original Diffusion
    Explorer's TF.js ``model.json`` (with its weight files beside it).

    Parameters
    ----------
    path : str or PathLike
        The file; a ``.json`` suffix means a TF.js model.
    device : str or torch.device
        Where to put the network.

    Returns
    -------
    Checkpoint
        The network (float32, eval mode, frozen) with its objective and metadata.

    Raises
    ------
    CheckpointError
        The file is missing, unreadable, not a dexplorer model, made by a newer dexplorer,
        damaged, or its weights do not fit its network description (for a TF.js model: see
        :func:`~dexplorer.core.tfjs.read_tfjs`).
    """
    name = os.fspath(path)
    device = torch.device(device)
    try:
        if is_tfjs(name):  # the original's files do not say what data they learnt
            network, objective, normalisation = read_tfjs(name)
            checkpoint = Checkpoint(network, objective, dataset="", normalisation=normalisation)
        else:
            checkpoint = _parse(_read(name))
    except (_BadFile, TfjsError) as exc:
        raise CheckpointError(name, str(exc)) from None
    except Exception as exc:
        raise CheckpointError(name, f"{type(exc).__name__}: {exc}") from exc
    network = checkpoint.network.to(device).eval().requires_grad_(False)
    return Checkpoint(
        network,
        checkpoint.objective,
        checkpoint.dataset,
        checkpoint.class_names,
        checkpoint.class_weights,
        checkpoint.training_steps,
        name,
        checkpoint.normalisation,
        checkpoint.source,
    )


def _read(path: str) -> bytes:
    """The file's bytes (a regular file of at most :data:`MAX_FILE_BYTES`)."""
    try:
        return read_bytes(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise _BadFile("no such file") from None
    except InputFileError as exc:
        raise _BadFile(str(exc)) from None
    except OSError as exc:
        raise _BadFile(f"cannot read it ({exc.strerror or exc})") from None


def _parse(data: bytes) -> Checkpoint:
    """Validate a file's bytes and build the checkpoint (on the CPU, without a path)."""
    header, body = _split(data)
    shapes = _check_tensors(header, len(body))
    metadata = _dexplorer_metadata(header)
    network = _build_network(metadata["network"], shapes)
    objective = _build_objective(metadata["objective"])
    if len(metadata["class_names"]) != network.config.num_classes:
        raise _BadFile(
            f"{len(metadata['class_names'])} class names for a network with "
            f"{network.config.num_classes} classes"
        )
    normalisation = _build_normalisation(metadata.get("normalisation"))
    network.load_state_dict(_load_tensors(data), strict=True)
    return Checkpoint(
        network,
        objective,
        metadata["dataset"],
        tuple(metadata["class_names"]),
        tuple(float(w) for w in metadata["class_weights"]),
        metadata["training_steps"],
        normalisation=normalisation,
        source=_source(metadata.get("source", "gaussian")),
    )


def _source(name: object) -> str:
    """The source a model file says it was trained from, checked."""
    if not isinstance(name, str) or not name:
        raise _BadFile(f"source must be a source name, got {name!r}")
    return name


def _split(data: bytes) -> tuple[dict, bytes]:
    """The safetensors header (a JSON object) and the data section after it."""
    if len(data) < 8:
        raise _BadFile(f"too short for a safetensors file ({len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if not 2 <= size <= min(len(data) - 8, MAX_HEADER_BYTES):
        raise _BadFile(
            f"not a safetensors file: header length {size} does not fit "
            f"a {len(data)}-byte file (at most {MAX_HEADER_BYTES} bytes)"
        )
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _BadFile(f"not a safetensors file: bad header ({exc})") from None
    if not isinstance(header, dict):
        raise _BadFile("not a safetensors file: the header is not a JSON object")
    return header, data[8 + size :]


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object hook that rejects repeated keys (parsers disagree on which wins)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("repeated key in a JSON object")
    return result


def _check_tensors(header: dict, body_size: int) -> dict[str, tuple[int, ...]]:
    """Check every tensor entry and that their data tiles the data section exactly.

    Returns
    -------
    dict
        Tensor name -> shape.
    """
    shapes, spans = {}, []
    for name, entry in header.items():
        if name != "__metadata__":
            shapes[name], span = _check_entry(name, entry)
            spans.append((span, name))
    position = 0
    for (begin, end), name in sorted(spans):
        if begin != position or end > body_size:
            raise _BadFile(
                f"tensor {name}: data offsets [{begin}, {end}] overlap, leave a gap "
                f"or run past the {body_size}-byte data section"
            )
        position = end
    if position != body_size:
        raise _BadFile(f"the data section has {body_size} bytes but the tensors use {position}")
    return shapes


def _check_entry(name: str, entry: object) -> tuple[tuple[int, ...], tuple[int, int]]:
    """Check one tensor entry; return its shape and its [begin, end) byte span."""
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise _BadFile(f"tensor {name}: entry needs dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_SIZES:
        raise _BadFile(f"tensor {name}: dtype {dtype!r} is not one of {sorted(DTYPE_SIZES)}")
    if not _int_list(shape, length=None):
        raise _BadFile(f"tensor {name}: shape {shape!r} is not a list of non-negative ints")
    if not _int_list(offsets, length=2) or offsets[0] > offsets[1]:
        raise _BadFile(f"tensor {name}: bad data_offsets {offsets!r}")
    nbytes = math.prod(shape) * DTYPE_SIZES[dtype]
    if offsets[1] - offsets[0] != nbytes:
        raise _BadFile(f"tensor {name}: shape {shape} needs {nbytes} bytes, offsets differ")
    return tuple(shape), (offsets[0], offsets[1])


def _int_list(value: object, length: int | None) -> bool:
    """Whether ``value`` is a list of non-negative ints (of the given length)."""
    return (
        isinstance(value, list)
        and (length is None or len(value) == length)
        and all(_is_type(v, int) and v >= 0 for v in value)
    )


def _is_type(value: object, kind: type) -> bool:
    """isinstance, except that a bool is not an int."""
    if kind is int and isinstance(value, bool):
        return False
    return isinstance(value, kind)


def _dexplorer_metadata(header: dict) -> dict:
    """The ``"dexplorer"`` metadata, with format, version and key types checked."""
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _BadFile("not a safetensors file: __metadata__ must map strings to strings")
    if METADATA_KEY not in metadata:
        raise _BadFile(f"not a dexplorer model (no {METADATA_KEY!r} metadata)")
    try:
        info = json.loads(metadata[METADATA_KEY], object_pairs_hook=_unique_keys)
    except ValueError as exc:
        raise _BadFile(f"the {METADATA_KEY!r} metadata is not JSON ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise _BadFile("not a dexplorer model (wrong format name)")
    version = info.get("version")
    if not _is_type(version, int) or version < 1:
        raise _BadFile(f"unknown format version {version!r}")
    if version > FORMAT_VERSION:
        raise _BadFile(
            f"made by a newer dexplorer (format version {version}; "
            f"this one reads up to {FORMAT_VERSION})"
        )
    expected = METADATA_TYPES if version == 1 else {**METADATA_TYPES, "normalisation": dict}
    if version > 1 and "source" in info:  # a model trained from another source than N(0, I)
        expected = {**expected, "source": str}
    _check_types(info, expected, "metadata")
    if not all(isinstance(name, str) for name in info["class_names"]):
        raise _BadFile("metadata: class_names must be strings")
    if info["training_steps"] < 0:
        raise _BadFile("metadata: training_steps is negative")
    problem = _weights_problem(info["class_weights"], len(info["class_names"]))
    if problem:
        raise _BadFile(f"metadata: {problem}")
    return info


def _weights_problem(weights: list, count: int) -> str:
    """What is wrong with class weights for ``count`` classes ('' if nothing)."""
    if len(weights) != count:
        return f"{len(weights)} class weights for {count} classes"
    numbers = all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights)
    if not numbers or not all(math.isfinite(w) and w >= 0 for w in weights):
        return "class weights must be finite non-negative numbers"
    if count and sum(weights) <= 0:
        return "class weights must not all be zero"
    return ""


def _check_types(info: dict, expected: dict[str, type], what: str) -> None:
    """Check that ``info`` has exactly the keys of ``expected``, with those types."""
    missing = expected.keys() - info.keys()
    unknown = info.keys() - expected.keys()
    if missing or unknown:
        raise _BadFile(f"{what}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    for key, kind in expected.items():
        if not _is_type(info[key], kind):
            raise _BadFile(
                f"{what}: {key} is {info[key]!r}, not {TYPE_WORDS.get(kind, kind.__name__)}"
            )


def _build_network(info: dict, shapes: dict[str, tuple[int, ...]]) -> MLP:
    """The network described by ``info``, checked against the file's tensor ``shapes``
    (sizes bounded by :data:`NETWORK_LIMITS` first, so nothing large is listed or built)."""
    _check_types(info, NETWORK_TYPES, "network")
    for key, limit in NETWORK_LIMITS.items():
        if info[key] > limit:  # the lower bounds are NetworkConfig's
            raise _BadFile(f"network: {key} is {info[key]}; expected at most {limit}")
    try:
        config = NetworkConfig(**info)
    except ValueError as exc:
        raise _BadFile(f"invalid network description: {exc}") from None
    _compare_shapes(parameter_shapes(config), shapes)
    return MLP(config)


def _compare_shapes(
    expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]
) -> None:
    """Raise on the first missing, unexpected or wrongly shaped tensor."""
    for name, shape in expected.items():
        if name not in found:
            raise _BadFile(f"tensor {name} (shape {list(shape)}) is missing")
        if found[name] != shape:
            raise _BadFile(
                f"tensor {name} has shape {list(found[name])}, the network needs {list(shape)}"
            )
    for name in found.keys() - expected.keys():
        raise _BadFile(f"unexpected tensor {name} (shape {list(found[name])})")


def _build_normalisation(info: dict | None) -> Normalisation:
    """The normalisation described by ``info`` (``None``: a version 1 file, the identity)."""
    if info is None:
        return IDENTITY
    _check_types(info, NORMALISATION_TYPES, "metadata: normalisation")
    try:
        return Normalisation(tuple(info["centre"]), tuple(info["scale"]))
    except DatasetError as exc:
        raise _BadFile(f"metadata: invalid {exc}") from None


def _build_objective(info: dict) -> Objective:
    """The objective described by ``info``."""
    _check_types(info, OBJECTIVE_TYPES, "objective")
    try:
        return objective_from_dict(info)
    except ValueError as exc:
        raise _BadFile(f"invalid objective: {exc}") from None


def _load_tensors(data: bytes) -> dict[str, Tensor]:
    """The (already validated) tensors as float32, all finite."""
    try:
        tensors = load_safetensors(data)
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if isinstance(exc, Exception) or type(exc).__name__ != "PanicException":
            raise
        raise _BadFile(f"the safetensors reader failed: {exc}") from None
    tensors = {name: tensor.float() for name, tensor in tensors.items()}
    for name, tensor in tensors.items():
        if not torch.isfinite(tensor).all():
            raise _BadFile(f"tensor {name} has non-finite values (NaN or infinity)")
    return tensors
