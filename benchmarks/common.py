"""Helpers shared by the benchmark scripts: argument parsing, tables, JSON, machine info."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    return p


def machine() -> dict:
    """What the figures were measured on."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def timed(
    function: Callable[[], object], device: torch.device, repeats: int = 3, warm_up: bool = True
) -> float:
    """Best wall time of ``repeats`` calls (after one warm-up call unless ``warm_up`` is
    false), synchronising CUDA."""
    if warm_up:
        function()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.rjust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).rjust(widths[c]) for c in columns))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.3e}"
    return "" if value is None else str(value)


def write_json(path: str | None, payload: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"machine": machine(), **payload}, indent=2))
        print(f"wrote {path}")


def state_with(n: int, steps: int):
    """The app's state with ``n`` particles and ``steps`` steps, or an exit saying why it
    cannot take them (a benchmark must not measure the defaults under another label)."""
    from dexplorer.state import AppState

    state = AppState()
    if (state.data.n != n or state.run.steps != steps) and not state.change(n=n, steps=steps):
        raise SystemExit(f"n={n:,}, steps={steps}: {state.message}")
    return state
