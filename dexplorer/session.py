"""Session files (TOML): the settings, the look, the time, the comparison's panels, and where
the custom data and the trained model are, so a lesson can be reopened exactly as it was
left.

The custom data are saved beside the session as the model sees them (inside the domain),
with their normalisation (``data_centre`` and ``data_scale`` in ``[files]``) back to the
coordinates of the file they came from; without those keys they are the identity."""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields, replace
from pathlib import Path

from .core import outputs
from .core.checkpoints import Checkpoint, load_checkpoint
from .core.datasets import Dataset, DatasetError, Normalisation
from .core.importers import load_dataset_file
from .state import AppState, Settings

FORMAT = "dexplorer-session"


class SessionError(ValueError):
    """A session file that cannot be opened: says which file and why."""


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def save_session(state: AppState, path: Path) -> None:
    """Write ``path`` (TOML) and, beside it, the custom points (JSON) and the trained model
    (safetensors) when the session uses them."""
    path = Path(path)
    lines = [f"format = {_toml_value(FORMAT)}", "version = 1", f"t = {state.t!r}"]
    if state.panels:  # the comparison on screen, as --compare specs
        lines.append(f"compare = [{', '.join(_toml_value(p.spec) for p in state.panels)}]")
    lines.append("")
    lines.append("[settings]")
    for item in fields(Settings):
        value = getattr(state.settings, item.name)
        lines.append(f"{item.name} = {_toml_value(-1 if value is None else value)}")
    lines += [
        "",
        "[look]",
        f"color_mode = {_toml_value(state.look.color_mode)}",
        f"point_size = {state.look.point_size!r}",
        f"opacity = {state.look.opacity!r}",
        f"theme = {_toml_value(state.look.theme)}",
        "",
        "[look.visible]",
    ]
    lines += [f"{name} = {_toml_value(shown)}" for name, shown in state.look.visible.items()]
    files = []
    if state.custom is not None:
        data = path.with_name(f"{path.stem}.data.json")
        payload = {"points": state.custom.points.tolist()}
        if state.custom.labels is not None:
            payload["labels"] = state.custom.labels.tolist()
        outputs.write_text(data, json.dumps(payload))
        files.append(f"data = {_toml_value(data.name)}")
        normalisation = state.custom.normalisation
        if not normalisation.identity:
            files.append(f"data_centre = [{', '.join(map(repr, normalisation.centre))}]")
            files.append(f"data_scale = [{', '.join(map(repr, normalisation.scale))}]")
    if state.trained is not None:
        model = path.with_name(f"{path.stem}.model.safetensors")
        state.trained.save(model)
        files.append(f"model = {_toml_value(model.name)}")
    if files:
        lines += ["", "[files]", *files]
    outputs.write_text(path, "\n".join(lines) + "\n")


def load_session(path: Path, device: str = "cpu") -> tuple[dict, Dataset | None, Checkpoint | None]:
    """Read and check a session: (its tables, the custom data, the trained model).

    Raises
    ------
    SessionError
        For a missing, malformed or inconsistent file, or data or a model that fail to load.
    """
    path = Path(path)
    try:
        info = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise SessionError(f"cannot read session {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SessionError(f"session {path} is not valid TOML: {error}") from None
    if info.get("format") != FORMAT:
        raise SessionError(f"{path} is not a dexplorer session (format = {FORMAT!r} expected)")
    files = info.get("files", {})
    custom = trained = None
    try:
        if "data" in files:
            custom = load_dataset_file(path.with_name(str(files["data"])))
            custom = replace(custom, normalisation=_normalisation(files))
        if "model" in files:
            trained = load_checkpoint(path.with_name(str(files["model"])), device)
    except ValueError as error:  # DatasetError and CheckpointError say which file and why
        raise SessionError(f"session {path}: {error}") from None
    return info, custom, trained


def apply_session(state: AppState, path: Path, device: str = "cpu") -> bool:
    """Open a session into ``state``; on any problem, say why in ``state.message`` and change
    nothing."""
    try:
        info, custom, trained = load_session(path, device)
        settings = _settings(info.get("settings", {}), path)
    except SessionError as error:
        state.message = str(error)
        return False
    trial = AppState(custom=custom, trained=trained)
    trial.change(**{f.name: getattr(settings, f.name) for f in fields(Settings)})
    compare = info.get("compare", [])
    if not isinstance(compare, list) or not all(isinstance(spec, str) for spec in compare):
        trial.message = f"compare = {compare!r} must be a list of panel specs"
    elif compare and not trial.message:
        trial.set_panels(compare)
    if trial.message:
        state.message = f"session {path}: {trial.message}"
        return False
    state.custom, state.trained = custom, trained
    state.settings = trial.settings
    state.panels = trial.panels
    look = info.get("look", {})
    for name, shown in look.get("visible", {}).items():
        if name in state.look.visible:
            state.look.visible[name] = bool(shown)
    for key in ("color_mode", "point_size", "opacity", "theme"):
        if key in look:
            setattr(state.look, key, look[key])
    state.set_time(float(info.get("t", 0.0)))
    state.selected.clear()
    state.message = f"opened session {path}"
    state.revision += 1
    return True


def _normalisation(files: dict) -> Normalisation:
    """The custom data's normalisation from ``[files]`` (the identity when not given)."""
    centre, scale = files.get("data_centre", [0.0, 0.0]), files.get("data_scale", [1.0, 1.0])
    try:
        return Normalisation(centre, scale)
    except DatasetError as error:
        raise DatasetError(f"[files] data_centre, data_scale: {error}") from None


def _settings(table: dict, path: Path) -> Settings:
    known = {f.name: f for f in fields(Settings)}
    unknown = set(table) - set(known)
    if unknown:
        raise SessionError(f"session {path}: unknown settings {sorted(unknown)}")
    defaults = Settings()
    values = dict(table)
    for key, value in values.items():
        default = getattr(defaults, key)
        kind = (
            int
            if default is None
            else (int, float)
            if isinstance(default, float)
            else type(default)
        )
        if isinstance(value, bool) or not isinstance(value, kind):
            raise SessionError(f"session {path}: settings.{key} = {value!r} has the wrong type")
    if values.get("label") == -1:
        values["label"] = None
    return replace(defaults, **values)
