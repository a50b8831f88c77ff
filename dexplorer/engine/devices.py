"""Choosing the torch device the engine computes on, and how many CPU threads torch uses."""

from __future__ import annotations

import os

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")
TORCH_CPU_THREADS = 1
"""torch's intra-op threads on the CPU. Our matrices are small (2D points through an MLP of
64 or 128 units), so a second thread gains little on an idle machine, while torch's threads
wait for each other at every operation: with two of them, one optimiser step or sampler
step stalls whenever another process (or the app's own renderer) holds a core. One thread
keeps training and sampling at speed on a busy CPU (``benchmarks/bench_train.py
--contended`` measures both); the compiled sampler shares its work between its own threads
(see :mod:`dexplorer.core.native_sampler`)."""


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


def use_cpu_threads(threads: int = TORCH_CPU_THREADS) -> None:
    """Give torch ``threads`` intra-op threads on the CPU (every entry point calls this)."""
    torch.set_num_threads(threads)


def describe_device(device: torch.device) -> str:
    """A short human-readable name, e.g. ``"CPU (2 cores)"`` or the GPU's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({os.cpu_count()} cores)"


def available_memory(device: torch.device) -> int | None:
    """Bytes that can still be allocated on ``device`` (None where unknown)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
