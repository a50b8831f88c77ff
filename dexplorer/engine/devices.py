"""Choosing the torch device the engine computes on."""

from __future__ import annotations

import torch

from ..core import limits
from ..core.threads import cores

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def choose_device(requested: str = "auto") -> torch.device:
    """The device for ``requested``: ``"auto"`` picks CUDA when present, else the CPU.

    Raises
    ------
    ValueError
        For an unknown name, or ``"cuda"`` on a machine without a CUDA device.
    """
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {requested!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here (use cpu or auto)")
    return torch.device(requested)


def describe_device(device: torch.device) -> str:
    """A short human-readable name, e.g. ``"CPU (2 cores)"`` or the GPU's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({cores()} cores)"


def available_memory(device: torch.device) -> int | None:
    """Bytes that can still be allocated on ``device`` (None where unknown)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        return limits.available_memory()
    except (ValueError, OSError, AttributeError):
        return None
