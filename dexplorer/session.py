"""Session files (TOML): the settings, the look, the time, the comparison's panels, and where
the custom data and the trained (and reflowed) models are, so a lesson can be reopened exactly
as it was left.

The custom data are saved beside the session as the model sees them (inside the domain),
with their normalisation (``data_centre`` and ``data_scale`` in ``[files]``) back to the
coordinates of the file they came from; without those keys they are the identity."""

from __future__ import annotations

import json
import math
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from .core import outputs
from .core.datasets import IDENTITY, DatasetError, Normalisation
from .core.importers import load_dataset_file
from .core.inputs import TYPE_WORDS, InputFileError, read_bytes
from .core.runs import Data, Run
from .core.sources import CUSTOM_SOURCE
from .scene.colors import COLOR_MODES
from .scene.theme import THEMES
from .state import DATA_KEYS, LAYERS, OPACITIES, POINT_SIZES, AppState

FORMAT = "dexplorer-session"
VERSION = 1
MAX_SESSION_BYTES = 1 << 20
"""A session file is a page of TOML; anything larger is not one."""
"""The version this dexplorer writes, and the newest it reads."""
TOP_KEYS = ("format", "version", "t", "compare", "settings", "look", "files")
LOOK_KEYS = ("color_mode", "point_size", "opacity", "theme", "visible", "show_schedule")
FILE_KEYS = ("data", "model", "data_centre", "data_scale", "reflowed", "source")


class SessionError(ValueError):
    """A session file that cannot be opened: says which file and why."""


class SessionWarning(UserWarning):
    """A session that opens but may not show what was meant (a model on other data)."""


class _Bad(Exception):
    """Raised inside the checks with what is wrong; :func:`check_session` adds the file."""


@dataclass(frozen=True)
class Session:
    """A session file's content, every key checked: the shared data and the single view's run
    (its ``[settings]``), the look keys it gives
    (``visible`` apart), the time, the comparison's panel specs, and the custom data and
    model files it names (beside the session unless absolute) with the data's
    normalisation."""

    shared: Data
    run: Run
    look: dict[str, object]
    visible: dict[str, bool]
    t: float
    compare: list[str]
    data: Path | None
    model: Path | None
    normalisation: Normalisation
    reflowed: Path | None = None
    """The reflowed model's file (:mod:`~dexplorer.core.reflow`), when the session has one."""
    source: Path | None = None
    """The points of the custom source, when the session starts from them."""


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
    lines = [f"format = {_toml_value(FORMAT)}", f"version = {VERSION}", f"t = {state.t!r}"]
    if state.comparing:  # the comparison on screen, as --compare specs
        lines.append(f"compare = [{', '.join(_toml_value(r.spec) for r in state.runs)}]")
    lines.append("")
    lines.append("[settings]")
    for value, key in _settings_items(state.data, state.run):
        if value is not None or key == "label":
            lines.append(f"{key} = {_toml_value(-1 if value is None else value)}")
    lines += [
        "",
        "[look]",
        f"color_mode = {_toml_value(state.look.color_mode)}",
        f"point_size = {state.look.point_size!r}",
        f"opacity = {state.look.opacity!r}",
        f"theme = {_toml_value(state.look.theme)}",
        f"show_schedule = {_toml_value(state.look.show_schedule)}",
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
    if state.custom_source is not None and state.data.source == CUSTOM_SOURCE:
        source = path.with_name(f"{path.stem}.source.json")
        outputs.write_text(source, json.dumps({"points": state.custom_source.points.tolist()}))
        files.append(f"source = {_toml_value(source.name)}")
    if state.trained is not None:
        model = path.with_name(f"{path.stem}.model.safetensors")
        state.trained.save(model)
        files.append(f"model = {_toml_value(model.name)}")
    if state.reflowed is not None:
        reflowed = path.with_name(f"{path.stem}.reflowed.safetensors")
        state.reflowed.save(reflowed)
        files.append(f"reflowed = {_toml_value(reflowed.name)}")
    if files:
        lines += ["", "[files]", *files]
    outputs.write_text(path, "\n".join(lines) + "\n")


def read_session(path: Path) -> Session:
    """Read a session file and check it (see :func:`check_session`).

    Raises
    ------
    SessionError
        For a missing or unreadable file, bad TOML, or a bad key or value.
    """
    import tomllib  # here: the first frame imports this module and reads no session

    path = Path(path)
    try:
        text = read_bytes(path, MAX_SESSION_BYTES).decode()
    except (OSError, UnicodeDecodeError, InputFileError) as error:
        raise SessionError(f"cannot read session {path}: {error}") from None
    try:
        info = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SessionError(f"session {path} is not valid TOML: {error}") from None
    except ValueError:  # Python's own limit on the digits of an integer
        limit = sys.get_int_max_str_digits()
        raise SessionError(f"session {path}: an integer has more than {limit} digits") from None
    except RecursionError:
        raise SessionError(f"session {path}: lists or tables nested too deep") from None
    return check_session(info, path)


def check_session(info: dict, path: Path) -> Session:
    """Check a session's parsed TOML: every table, key, type and range, with the ranges the
    app itself keeps to. Numbers are finite, true and false are not numbers, an integer is
    a number; a key not given keeps its default (the look: as it is).

    Raises
    ------
    SessionError
        Naming the file and the key, and what was expected instead.
    """
    try:
        return _check(info, Path(path))
    except _Bad as bad:
        raise SessionError(f"session {path}: {bad}") from None


def _check(info: dict, path: Path) -> Session:
    if info.get("format") != FORMAT:
        raise _Bad(f"not a dexplorer session (format = {_shown(FORMAT)} expected)")
    version = _value("version", info.get("version", VERSION), int)
    if version > VERSION:
        raise _Bad(f"version {version} is newer than this dexplorer reads ({VERSION})")
    if version < 1:
        raise _Bad(f"version = {version}: expected a positive integer")
    _table("", info, TOP_KEYS)
    t = _number("t", info.get("t", 0.0), (0.0, 1.0))
    compare = _value("compare", info.get("compare", []), list, "a list of panel specs")
    if not all(isinstance(spec, str) for spec in compare):
        raise _Bad(f"compare = {_shown(compare)}: expected a list of panel specs")
    look = dict(_table("look", info.get("look", {}), LOOK_KEYS))
    visible = _table("look.visible", look.pop("visible", {}), LAYERS)
    for name, shown in visible.items():
        _value(f"look.visible.{name}", shown, bool)
    if "show_schedule" in look:
        _value("look.show_schedule", look["show_schedule"], bool)
    for key, choices in (("color_mode", COLOR_MODES), ("theme", tuple(THEMES))):
        if key in look:
            _choice(f"look.{key}", _value(f"look.{key}", look[key], str), choices)
    for key, bounds in (("point_size", POINT_SIZES), ("opacity", OPACITIES)):
        if key in look:
            look[key] = _number(f"look.{key}", look[key], bounds)
    files = _table("files", info.get("files", {}), FILE_KEYS)
    data = _file(path, "files.data", files.get("data"))
    normalisation = IDENTITY
    if "data_centre" in files or "data_scale" in files:
        if data is None:
            raise _Bad("files.data_centre and files.data_scale are given without files.data")
        normalisation = _normalisation(files)
    shared, run = _settings(info.get("settings", {}))
    return Session(
        shared=shared,
        run=run,
        look=look,
        visible=visible,
        t=t,
        compare=compare,
        data=data,
        model=_file(path, "files.model", files.get("model")),
        normalisation=normalisation,
        reflowed=_file(path, "files.reflowed", files.get("reflowed")),
        source=_file(path, "files.source", files.get("source")),
    )


def _shown(value: object) -> str:
    """A value as a TOML file writes it (shortened)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value)
    elif isinstance(value, dict):
        text = "{...}"
    else:
        text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _value(key: str, value: object, kind: type, expected: str = "") -> object:
    """``value`` when it has the TOML type ``kind`` (a number is a finite float or an
    integer, never true or false); otherwise say what was expected."""
    ok = isinstance(value, (int | float) if kind is float else kind)
    if not ok or (isinstance(value, bool) and kind is not bool):
        raise _Bad(f"{key} = {_shown(value)}: expected {expected or TYPE_WORDS[kind]}")
    if kind is float:
        try:
            value = float(value)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise _Bad(f"{key} = {_shown(value)}: expected a finite number")
    return value


def _number(key: str, value: object, bounds: tuple[float, float]) -> float:
    """A finite number from ``bounds[0]`` to ``bounds[1]``."""
    number, (low, high) = _value(key, value, float), bounds
    if not low <= number <= high:
        raise _Bad(f"{key} = {_shown(value)}: expected {low:g} to {high:g}")
    return number


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _Bad(f"{key} = {_shown(value)}: expected one of {', '.join(choices)}")


def _table(key: str, value: object, known: tuple[str, ...]) -> dict:
    """A table whose keys are all ``known``."""
    table = _value(key, value, dict)
    for name in table:
        if name not in known:
            raise _Bad(f"unknown key {key}.{name}" if key else f"unknown key {name}")
    return table


def _file(path: Path, key: str, name: object) -> Path | None:
    """A file the session names (``None`` when not named), beside it unless absolute."""
    if name is None:
        return None
    if not _value(key, name, str):
        raise _Bad(f"{key} = {_shown(name)}: expected a file name")
    return path.parent / name


def _normalisation(files: dict) -> Normalisation:
    """The custom data's normalisation from ``[files]``."""
    centre, scale = files.get("data_centre", [0.0, 0.0]), files.get("data_scale", [1.0, 1.0])
    try:
        return Normalisation(centre, scale)
    except DatasetError as error:
        raise _Bad(f"[files] data_centre, data_scale: {error}") from None


SETTINGS_KINDS: dict[str, type] = {
    "dataset": str,
    "model": str,
    "sampler": str,
    "steps": int,
    "n": int,
    "seed": int,
    "source": str,
    "eta": float,
    "noise_scale": float,
    "guidance": float,
    "label": int,
}
"""The keys of ``[settings]``: the data's and the single view's run's."""


def _settings_items(data: Data, run: Run) -> list[tuple[object, str]]:
    return [(getattr(data if key in DATA_KEYS else run, key), key) for key in SETTINGS_KINDS]


def _settings(table: object) -> tuple[Data, Run]:
    """The data and run a ``[settings]`` table gives (``label = -1``: no class), each value
    checked by :meth:`Data.check` or :meth:`Run.check`."""
    data, run = Data(), Run()
    for key, value in _table("settings", table, tuple(SETTINGS_KINDS)).items():
        where = f"settings.{key}"
        value = _value(where, value, SETTINGS_KINDS[key])
        if key == "label":
            if value < -1:
                raise _Bad(f"{where} = {value}: expected a class (0, 1, ...) or -1 for none")
            value = None if value == -1 else value
        if key in DATA_KEYS:
            data = replace(data, **{key: value})
            problem = data.check()
        else:
            run = replace(run, **{key: value})
            problem = run.check()
        if problem:
            raise _Bad(f"{where} = {_shown(value)}: {problem}")
    return data, run


@dataclass(frozen=True)
class Opened:
    """A session read, its files loaded and checked together on a trial state (the data,
    model, settings and panels it will bring), and what to warn about ('' when nothing)."""

    session: Session
    trial: AppState
    warning: str


def open_session(path: Path, device: str = "cpu") -> Opened:
    """Read and check a session, load its data and model (on ``device``, a name: "auto"
    is chosen here, and torch loaded, only when the session has model files), and check
    that they go together with its settings and panels; nothing is applied anywhere.

    Raises
    ------
    SessionError
        For anything wrong: the file, a key, the data or model file, or a combination.
    """
    path = Path(path)
    session = read_session(path)
    custom = trained = reflowed = custom_source = None
    try:
        if session.source is not None:
            custom_source = load_dataset_file(session.source)
        if session.data is not None:
            custom = replace(load_dataset_file(session.data), normalisation=session.normalisation)
        if session.model is not None or session.reflowed is not None:
            from .core import models  # torch: loaded here only for a session's model files
            from .engine.devices import choose_device

            device = str(choose_device(device))
        if session.model is not None:
            trained = models.from_file(session.model, device)
        if session.reflowed is not None:
            reflowed = models.from_file(session.reflowed, device)
    except ValueError as error:  # DatasetError and CheckpointError say which file and why
        raise SessionError(f"session {path}: {error}") from None
    trial = AppState(custom=custom, trained=trained, reflowed=reflowed, custom_source=custom_source)
    run = session.run
    plain = {key: value for value, key in _settings_items(session.shared, run)}
    plain.update(label=None, guidance=None)
    trial.change(**plain)
    if not trial.message and (run.label, run.guidance) != (None, None):
        trial.change(label=run.label, guidance=run.guidance)  # checked for the model's classes
        key, value = ("label", run.label) if run.label is not None else ("guidance", run.guidance)
        trial.message = trial.message and f"settings.{key} = {_shown(value)}: {trial.message}"
    if not trial.message and session.compare:
        trial.set_runs(session.compare)
    if trial.message:
        raise SessionError(f"session {path}: {trial.message}")
    return Opened(session, trial, _model_on_other_data(trial))


def _model_on_other_data(trial: AppState) -> str:
    """What to say when the trained model in use learnt other data than those shown."""
    model, shown = trial.trained, trial.data.dataset
    used = any(run.model == "trained" for run in (trial.run, *trial.runs))
    if model is None or not used or not model.dataset or model.dataset == shown:
        return ""
    return (
        f"the model {Path(model.path).name} was trained on {model.dataset}, but the data shown "
        f"are {shown}: its samples will not look like them"
    )


def apply_session(state: AppState, path: Path, device: str = "cpu") -> bool:
    """Open a session into ``state``; on any problem, say why in ``state.message`` and change
    nothing else. A model trained on other data than the session shows is a warning (here
    and in ``state.message``), not an error: the app itself lets that be chosen."""
    try:
        opened = open_session(path, device)
    except SessionError as error:
        state.message = str(error)
        return False
    session, trial = opened.session, opened.trial
    state.adopt(trial)
    state.look.visible.update(session.visible)
    for key, value in session.look.items():
        setattr(state.look, key, value)
    state.t = session.t
    state.selected.clear()
    state.sweep = 0
    state.message = f"opened session {path}"
    if opened.warning:
        warnings.warn(f"session {path}: {opened.warning}", SessionWarning, stacklevel=2)
        state.message += f": {opened.warning}"
    state.revision += 1
    return True
