"""Choosing the torch device the engine computes on (torch is imported by the functions that
need it: the name is checked before torch is loaded)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import limits

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def device_problem(requested: str) -> str:
    """What is wrong with ``requested`` as a device name ('' when nothing; whether CUDA is
    there is known once torch is loaded)."""
    if requested in DEVICE_CHOICES:
        return ""
    return f"unknown device {requested!r}: choose one of {', '.join(DEVICE_CHOICES)}"


def choose_device(requested: str = "auto") -> torch.device:
    """The device for ``requested``: ``"auto"`` picks CUDA when present, else the CPU.

    Raises
    ------
    ValueError
        For an unknown name, or ``"cuda"`` on a machine without a CUDA device.
    """
    import torch

    problem = device_problem(requested)
    if problem:
        raise ValueError(problem)
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here (use cpu or auto)")
    return torch.device(requested)


def describe_device(device: torch.device) -> str:
    """A short human-readable name, e.g. ``"CPU (2 cores)"`` or the GPU's name."""
    if device.type == "cuda":
        import torch

        return torch.cuda.get_device_name(device)
    from ..core.threads import cores

    return f"CPU ({cores()} cores)"


def available_memory(device: torch.device) -> int | None:
    """Bytes that can still be allocated on ``device`` (None where unknown)."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        return limits.available_memory()
    except (ValueError, OSError, AttributeError):
        return None
