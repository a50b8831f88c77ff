"""Start-up as whole processes: from the command to the first frame and to the full
trajectories, for the window (under Xvfb when it can be started), ``dexplorer screenshot``
and ``dexplorer serve``; then where the time goes: the imports and the building of the App.

    python benchmarks/bench_startup.py --quick --json out/bench_startup.json

Each command runs ``--runs`` times (median and spread). The moments come from the app itself
when it honours ``DEXPLORER_TIMINGS`` (see dexplorer/timings.py); otherwise from what can be
seen from outside, and the table says which:

- window: ``first_frame`` (drawn before torch is imported), ``loaded`` (torch and the engine
  taken) and ``trajectory`` from the app; without them, when Xvfb shows the window (``window
  mapped``, before its first frame) and nothing for the trajectories;
- screenshot (``--t 0``): the command's wall time, which waits for the trajectories, then
  draws one frame (``first_frame`` from the app is that frame);
- serve: when the links are printed, and the first frame a websocket client of the view
  link receives (``first_frame`` from the app: when it drew it). Not the trajectories: the
  served app draws at the pace of a viewer that confirms its frames, which this client
  does not.

Runs after the first find the kernel and shader caches warm, as the goal assumes: Mesa's
shader cache, and dexplorer's own (``dexplorer/warm.py``: wgpu's C declarations and types,
pygfx's compiled shader templates). Compare trees with ``PYTHONPATH=<tree>``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import parser, print_table, write_json

SIZE = "1280x720"
TIMEOUT = 120.0
"""Seconds a command may take to reach its last moment before the run counts as failed."""
POLL = 0.02


def hooked() -> bool:
    """Whether the app writes its moments (the app module uses dexplorer.timings)."""
    spec = importlib.util.find_spec("dexplorer.app")
    return spec is not None and "Timings(" in Path(spec.origin).read_text(encoding="utf-8")


def moments(path: Path) -> dict[str, float]:
    """The moments the app wrote: {name: unix time}."""
    if not path.exists():
        return {}
    pairs = (line.split() for line in path.read_text(encoding="utf-8").splitlines())
    return {name: float(stamp) for name, stamp in pairs}


def environment(timings: Path, display: str | None) -> dict[str, str]:
    env = dict(os.environ, DEXPLORER_TIMINGS=str(timings))
    env.setdefault("XDG_RUNTIME_DIR", f"/tmp/dexplorer-runtime-{os.getuid()}")
    if display is None:
        env["RENDERCANVAS_FORCE_OFFSCREEN"] = "1"
    else:
        env.pop("RENDERCANVAS_FORCE_OFFSCREEN", None)
        env["DISPLAY"] = display
    return env


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C, as a user stops it; killed if it does not end."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_xvfb() -> tuple[subprocess.Popen | None, str]:
    """An Xvfb server and its DISPLAY, or None and why not."""
    if shutil.which("Xvfb") is None:
        return None, "Xvfb is not installed"
    for number in range(90, 100):
        if Path(f"/tmp/.X11-unix/X{number}").exists():
            continue
        command = ["Xvfb", f":{number}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"]
        server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and server.poll() is None:
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                return server, f":{number}"
            time.sleep(0.05)
        stop(server)
    return None, "Xvfb did not start"


def window_mapped(display: str) -> bool:
    found = subprocess.run(
        ["xwininfo", "-name", "dexplorer"],
        env=dict(os.environ, DISPLAY=display),
        capture_output=True,
        text=True,
    )
    return "Map State: IsViewable" in found.stdout


def run_window(display: str, hook: bool) -> dict[str, float]:
    """The window opened on ``display``: seconds to its moments."""
    with tempfile.TemporaryDirectory() as folder:
        timings = Path(folder) / "timings"
        start = time.time()
        command = [sys.executable, "-m", "dexplorer", "--size", SIZE]
        process = subprocess.Popen(command, env=environment(timings, display), cwd=folder)
        result: dict[str, float] = {}
        try:
            while time.time() - start < TIMEOUT and process.poll() is None:
                if hook:
                    result = {k: v - start for k, v in moments(timings).items()}
                    if "trajectory" in result:
                        break
                elif window_mapped(display):
                    result["window mapped"] = time.time() - start
                    break
                time.sleep(POLL)
        finally:
            stop(process)
        return result


def run_screenshot(hook: bool) -> dict[str, float]:
    """``dexplorer screenshot --t 0``: its wall time, and the app's moments."""
    with tempfile.TemporaryDirectory() as folder:
        timings = Path(folder) / "timings"
        command = [sys.executable, "-m", "dexplorer", "screenshot", "--t", "0", "--size", SIZE]
        command += ["--out", str(Path(folder) / "shot.png")]
        start = time.time()
        subprocess.run(command, env=environment(timings, None), check=True, cwd=folder)
        result = {"command done": time.time() - start}
        if hook:
            result.update({k: v - start for k, v in moments(timings).items()})
        return result


def watch(url: str, done: Callable[[int], bool], deadline: float) -> bool:
    """Connect to the view link's websocket and receive frames (binary messages) until
    ``done(frames received)``; whether it was reached before ``deadline``."""
    from websockets.exceptions import InvalidHandshake, WebSocketException
    from websockets.sync.client import connect

    frames = 0
    try:
        with connect(url, max_size=None, open_timeout=2) as socket:
            while time.time() < deadline:
                message = socket.recv(timeout=max(deadline - time.time(), 0.1))
                frames += isinstance(message, bytes)
                if done(frames):
                    return True
    except (OSError, TimeoutError, InvalidHandshake, WebSocketException):
        return False
    return False


def run_serve(hook: bool) -> dict[str, float]:
    """``dexplorer serve``: seconds to the links printed, to the first frame a viewer
    receives, and to the app's moments."""
    with tempfile.TemporaryDirectory() as folder:
        timings = Path(folder) / "timings"
        command = [sys.executable, "-m", "dexplorer", "serve", "--port", "0", "--size", SIZE]
        start = time.time()
        process = subprocess.Popen(
            command,
            env=environment(timings, None),
            cwd=folder,
            stdout=subprocess.PIPE,
            text=True,
        )
        result: dict[str, float] = {}

        def done(frames: int) -> bool:
            if frames:
                result["frame received"] = time.time() - start
            return frames > 0

        try:
            url = None
            for line in process.stdout:
                found = re.search(r"view link .*?(http://\S+)", line)
                if found:
                    url = found.group(1).replace("http://", "ws://")
                    result["links printed"] = time.time() - start
                    break
            deadline = start + TIMEOUT
            while url and time.time() < deadline and process.poll() is None:
                if watch(url, done, deadline):
                    break
                time.sleep(POLL)
            if hook:
                result.update({k: v - start for k, v in moments(timings).items()})
        finally:
            stop(process)
        return result


def import_breakdown(top: int) -> list[dict]:
    """``python -X importtime -c 'import dexplorer.app'``: the top-level imports by
    cumulative time, each with its slowest direct children."""
    found = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import dexplorer.app"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),  # not a checkout: `-c` puts the folder first on the path
    )
    entries = []  # (depth, name, cumulative seconds), in the order printed (children first)
    for line in found.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        entries.append((depth, name.strip(), int(parts[1]) / 1e6))
    rows = []
    children: list[tuple[str, float]] = []
    for depth, name, seconds in entries:
        if depth == 1:
            slowest = sorted(children, key=lambda c: -c[1])[:3]
            detail = ", ".join(f"{c} {s * 1000:.0f}" for c, s in slowest)
            rows.append({"module": name, "cumulative_ms": seconds * 1000, "slowest (ms)": detail})
            children = []
        elif depth == 2:
            children.append((name, seconds))
    rows.sort(key=lambda row: -row["cumulative_ms"])
    total = sum(row["cumulative_ms"] for row in rows)
    return [{"module": "(all)", "cumulative_ms": total, "slowest (ms)": ""}, *rows[:top]]


BUILD = """
import json, sys, time
from collections import defaultdict

seconds = defaultdict(float)
calls = defaultdict(int)
active = set()


def timed(owner, name, label):
    function = getattr(owner, name)

    def wrapper(*args, **kwargs):
        if label in active:  # count the outermost call only
            return function(*args, **kwargs)
        active.add(label)
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - start
            calls[label] += 1
            active.discard(label)

    setattr(owner, name, wrapper)


start = time.perf_counter()
import cffi.api
timed(cffi.api.FFI, "_typeof_locked", "cffi: parse a C type (first use of each)")
try:
    from dexplorer.warm import warm_fonts
    warm_fonts()  # before pygfx is imported, as the commands' prepare_environment does
except ImportError:  # a tree before it
    pass
from dexplorer.headless import parse_size, prepare_environment
from dexplorer.state import AppState
import dexplorer.app
imported = time.perf_counter()
import pygfx as gfx
from imgui_bundle import imgui_md
from rendercanvas.offscreen import RenderCanvas
from wgpu.utils.imgui import ImguiRenderer
from dexplorer.app import App
from dexplorer.engine.runs import Engine
from dexplorer.scene.view import View
timed(gfx.renderers.wgpu, "get_shared", "wgpu adapter and device")
timed(gfx.WgpuRenderer, "__init__", "pygfx renderer")
timed(App, "_build_view", "view: panels, layers, text")
timed(ImguiRenderer, "__init__", "ImGui renderer")
timed(imgui_md, "initialize_markdown", "imgui_md fonts")
from wgpu.utils.imgui.imgui_backend import ImguiWgpuBackend
timed(ImguiWgpuBackend, "_create_device_objects", "ImGui: device objects and pipeline")
import jinja2
timed(jinja2.Environment, "compile", "jinja2: compile pygfx's WGSL templates")
timed(jinja2.Template, "render", "jinja2: render pygfx's WGSL templates")
timed(cffi.api.FFI, "cdef", "cffi: parse wgpu's header (cdef)")
try:
    import dexplorer.warm
    timed(dexplorer.warm, "prefill", "cffi: the remembered C types in one pass")
    timed(dexplorer.warm, "restore_declarations", "cffi: wgpu's header from the cache")
except ImportError:  # a tree before dexplorer/warm.py
    pass
timed(App, "update", "draws: update (engine, layers)")
timed(View, "render", "draws: scene (pipelines compiled)")
timed(ImguiRenderer, "render", "draws: ui")
timed(Engine, "sync", "engine: start the run (models, fields)")
prepare_environment()
import wgpu.backends.wgpu_native as native  # after prepare_environment, which imports it
timed(native.GPUDevice, "create_shader_module", "wgpu: shader modules (WGSL to SPIR-V)")
timed(native.GPUDevice, "create_render_pipeline", "wgpu: render pipelines (driver compiles)")
timed(native.GPUDevice, "create_compute_pipeline", "wgpu: compute pipelines (driver compiles)")
ready = time.perf_counter()
canvas = RenderCanvas(size=parse_size(sys.argv[1]), pixel_ratio=1)
app = App(canvas, AppState(), "auto", fast=False)
canvas.request_draw(app.draw)
heavy = {}
note = app.timings.note


def spy(moment):
    heavy.setdefault(moment, "torch" in sys.modules)
    note(moment)


app.timings.note = spy
built = time.perf_counter()
canvas.draw()  # the load starts at its end
drawn = time.perf_counter()
app.wait_loaded()
loaded = time.perf_counter()
app.close()
print(json.dumps({
    "import dexplorer.app": imported - start,
    "environment": ready - imported,
    "App built": built - ready,
    "first draw": drawn - built,
    "torch imported by then": heavy["first_frame"],
    "load (torch, engine, run) after it": loaded - drawn,
    "parts": {label: [value, calls[label]] for label, value in seconds.items()},
}))
"""


def build_breakdown() -> dict:
    """Import, App construction, the first draw and the load of torch and the engine that
    follows it, in a fresh process on an offscreen canvas, with the parts of each timed
    (and the C types cffi parses along the way)."""
    env = dict(os.environ, RENDERCANVAS_FORCE_OFFSCREEN="1")
    env.pop("DEXPLORER_TIMINGS", None)
    found = subprocess.run(
        [sys.executable, "-c", BUILD, SIZE],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tempfile.gettempdir(),  # not a checkout: `-c` puts the folder first on the path
    )
    return json.loads(found.stdout.strip().splitlines()[-1])


def summarise(name: str, runs: list[dict[str, float]], source: str) -> list[dict]:
    """A row per moment: median, min, max over the runs."""
    rows = []
    for moment in dict.fromkeys(key for run in runs for key in run):
        values = [run[moment] for run in runs if moment in run]
        rows.append(
            {
                "command": name,
                "moment": moment,
                "median_s": statistics.median(values),
                "min_s": min(values),
                "max_s": max(values),
                "runs": len(values),
                "from": source,
            }
        )
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, help="runs of each command (default 2 quick, else 5)")
    p.add_argument("--skip", action="append", default=[], help="window, screenshot or serve")
    args = p.parse_args()
    runs = args.runs or (2 if args.quick else 5)
    hook = hooked()
    source = "app (DEXPLORER_TIMINGS)" if hook else "outside (no DEXPLORER_TIMINGS in the app)"
    print(f"load average {os.getloadavg()[0]:.1f}; moments from the {source}", flush=True)
    rows: list[dict] = []
    commands = {"screenshot": lambda: run_screenshot(hook), "serve": lambda: run_serve(hook)}
    server = None
    if "window" not in args.skip:
        server, display = start_xvfb()
        if server is None:
            print(f"window: not measured ({display}); the screenshot path stands for it")
        else:
            commands = {f"window (Xvfb {display})": lambda: run_window(display, hook), **commands}
    try:
        for name, command in commands.items():
            if name.split()[0] in args.skip:
                continue
            measured = [command() for _ in range(runs)]
            rows += summarise(name, measured, source)
            print(f"{name}: {measured}", flush=True)
    finally:
        if server is not None:
            stop(server)
    print()
    print_table(rows, list(rows[0]))
    print()
    imports = import_breakdown(12 if args.quick else 20)
    print("import dexplorer.app: top-level modules by cumulative time")
    print_table(imports, list(imports[0]))
    print()
    build = build_breakdown()
    print("in one fresh process (offscreen, no profiler):")
    for stage in ("import dexplorer.app", "environment", "App built", "first draw"):
        print(f"  {build[stage]:6.2f} s  {stage}")
    print(f"  torch imported before the first frame: {build['torch imported by then']}")
    load = build["load (torch, engine, run) after it"]
    print(f"  {load:6.2f} s  load (torch, engine, run) after the first frame; within all:")
    for label, (seconds, count) in sorted(build["parts"].items(), key=lambda item: -item[1][0]):
        print(f"  {seconds:6.2f} s  {label} ({count} calls)")
    payload = {
        "benchmark": "startup",
        "moments_from": source,
        "results": rows,
        "imports": imports,
        "build": build,
        "load_average": os.getloadavg()[0],
    }
    for row in rows:
        payload[f"{row['command'].split()[0]}_{row['moment'].replace(' ', '_')}_s"] = row[
            "median_s"
        ]
    write_json(args.json, payload)


if __name__ == "__main__":
    main()
