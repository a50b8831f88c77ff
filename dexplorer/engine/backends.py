"""Which sampling back-end runs a trajectory, decided in one place for the trajectory cache,
the quality sweep, ``dexplorer sample`` and the benchmarks.

The back-ends, in the order they are tried:

``triton``   every step in one Triton kernel launch (core/triton_sampler.py): on CUDA, or on
             the CPU under Triton's interpreter when whole runs are asked for (tests)
``native``   the compiled C kernel (core/native_sampler.py) on the CPU, a few steps a call
``chunked``  torch step by step, the network through
             :class:`~dexplorer.core.fused.ChunkedMLP`
``torch``    torch step by step, the field as it is (any field, any sampler)
``wgsl``     one WGSL compute dispatch (engine/wgsl_sampler.py), only when asked for by
             name: it is slower than torch on every device measured

The kernels (``triton``, ``native``, ``wgsl``) run flow network fields with Euler, midpoint
or Heun (:func:`~dexplorer.core.whole_run.field_unsupported`) into a float32 trajectory;
the torch back-ends share one step loop, :func:`~dexplorer.core.samplers.iterate`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..core import native_sampler, triton_sampler
from ..core.fields import Field, NetworkField
from ..core.fused import ChunkedMLP
from ..core.samplers import SamplerSettings, get_sampler, iterate, time_grid
from ..core.whole_run import field_unsupported

if TYPE_CHECKING:
    from .wgsl_sampler import WgslSampler

BACKENDS = ("triton", "native", "chunked", "torch", "wgsl")
"""Every back-end, in the order :func:`choose` tries them."""
KERNELS = ("triton", "native", "wgsl")
"""The back-ends that write a whole float32 trajectory rather than step a state."""
NATIVE_PARTICLE_STEPS = 200_000
"""Particle-steps per call of the native CPU kernel (about 60 ms on two cores): a run shows
its progress and can be cancelled between calls."""
TRITON_SPAN = 2
"""Steps per launch of the Triton kernel in a bounded cache (each launch writes one more
row than its steps, copied into the ring after: few steps keep that part small)."""
PART_BYTES = 64 << 20
"""A kernel asked for final positions only runs on parts of the particles (they move
independently) whose trajectory takes at most this much memory."""

Runner = Callable[[Tensor, SamplerSettings, Tensor | None, bool], Iterator[tuple[int, Tensor]]]
"""``run(x0, settings, out, progress)``: integrate ``x0`` (N, 2) float32 from t = 0, yielding
(steps done, the positions after them) after each call of the back-end, so that a caller can
show progress and stop between calls; without ``progress`` a kernel makes as few calls as it
can (each call of the native kernel waits for its slowest thread). ``out`` (steps + 1, N, 2)
receives the trajectory, row 0 included; a kernel needs it, the torch back-ends keep only
the state without it."""
Advance = Callable[[Tensor, SamplerSettings, int, Tensor], None]
"""``advance(x, settings, start, out)``: write the positions after steps ``start + 1`` to
``start + len(out)`` into ``out`` (k, N, 2) float32, from ``x`` (N, 2) float32, the positions at
step ``start`` (a bounded cache's ring, :mod:`~dexplorer.engine.ring`). A kernel reads the
network's weights for the steps of its call only: steps recomputed over the same ranges are
the same bit for bit."""


@dataclass(frozen=True)
class Backend:
    """The back-end chosen to run a trajectory: its name, its runner, and why each other
    back-end was not chosen (``skipped``: name -> reason)."""

    name: str
    run: Runner
    skipped: dict[str, str]
    advance: Advance | None
    """``None`` for a back-end that runs whole trajectories only (``wgsl``)."""
    span: int
    """The most steps one call of ``advance`` should take (the torch back-ends take one, so
    that another run's noise drawn after each step interleaves as in ``run``)."""

    def describe(self) -> list[str]:
        """One line for the back-end that runs and one per back-end skipped, with why."""
        lines = [f"sampling back-end: {self.name}"]
        lines += [f"  {name} skipped: {reason}" for name, reason in self.skipped.items()]
        return lines


def choose(
    field: Field,
    sampler: str,
    device: torch.device | str,
    n: int,
    steps: int,
    *,
    dtype: torch.dtype = torch.float32,
    whole_runs: bool | None = None,
    native: bool = True,
    wait: bool = True,
    force: str | None = None,
    precision: str | None = None,
) -> Backend:
    """The first back-end in :data:`BACKENDS` that can integrate ``field`` with ``sampler``
    on ``device`` for ``n`` particles and ``steps`` steps into a trajectory of ``dtype``.

    Parameters
    ----------
    whole_runs : bool, optional
        Whether the Triton kernel may run (default: on CUDA only; on the CPU it needs
        ``TRITON_INTERPRET=1``).
    native : bool
        Whether the compiled CPU kernel may run.
    wait : bool
        Whether to wait for the native kernel to be built; without, a kernel not built yet
        is built in the background and torch runs meanwhile.
    force : str, optional
        A back-end to run by name, whatever the switches say.
    precision : str, optional
        The Triton kernel's hidden layers (default: tf32 on CUDA, ieee under the
        interpreter).

    Raises
    ------
    ValueError
        For an unknown back-end, or one forced that cannot run this.
    """
    device = torch.device(device)
    if force is not None and force not in BACKENDS:
        raise ValueError(f"unknown sampling back-end {force!r}: choose one of {BACKENDS}")
    off = "whole runs are switched off"
    if whole_runs is None:
        whole_runs = device.type == "cuda"
        off = (
            "runs on CUDA (on the CPU only when whole runs are asked for, in Triton's interpreter)"
        )
    switches = {
        "triton": None if whole_runs else off,
        "native": None if native else "the native kernel is switched off",
        "wgsl": "runs only when asked for by name: slower than torch on every device measured",
    }
    skipped: dict[str, str] = {}
    for name in BACKENDS:
        if force is not None and name != force:
            skipped[name] = f"{force} was asked for"
            continue
        reason = None if force is not None else switches.get(name)
        if reason is None:
            reason = _unsupported(name, field, sampler, device, dtype, wait)
        if reason is None:
            runner = _runner(name, field, sampler, device, n, steps, precision)
            advance, span = _advance(name, field, sampler, n, steps, precision)
            for later in BACKENDS[BACKENDS.index(name) + 1 :]:
                skipped[later] = (
                    f"{force} was asked for"
                    if force is not None
                    else switches.get(later) or f"{name} comes first"
                )
            return Backend(name, runner, skipped, advance, span)
        if force is not None:
            raise ValueError(f"the {name} back-end cannot run this: {reason}")
        skipped[name] = reason
    raise AssertionError("the torch back-end runs every field")  # pragma: no cover


def _unsupported(
    name: str, field: Field, sampler: str, device: torch.device, dtype: torch.dtype, wait: bool
) -> str | None:
    """Why back-end ``name`` cannot run this, or ``None`` if it can."""
    if name == "torch":
        return None
    if not isinstance(field, NetworkField):
        return "needs a network field"
    if name == "chunked":
        return None
    if dtype != torch.float32:
        return f"the trajectory is {str(dtype).removeprefix('torch.')}: kernels write float32"
    if name == "triton":
        return triton_sampler.unsupported(field, sampler, device)
    if name == "native":
        return native_sampler.unsupported(field, sampler, device, wait=wait)
    return field_unsupported(field, sampler)


def _runner(
    name: str,
    field: Field,
    sampler: str,
    device: torch.device,
    n: int,
    steps: int,
    precision: str | None,
) -> Runner:
    if name == "triton":
        precision = precision or ("tf32" if device.type == "cuda" else "ieee")

        def run(
            x0: Tensor, _: SamplerSettings, out: Tensor | None, __: bool
        ) -> Iterator[tuple[int, Tensor]]:
            out = triton_sampler.sample(field, x0, steps, sampler, out, precision)
            yield steps, out[-1]

    elif name == "native":
        chunk = max(1, NATIVE_PARTICLE_STEPS // n)

        def run(
            x0: Tensor, _: SamplerSettings, out: Tensor | None, progress: bool
        ) -> Iterator[tuple[int, Tensor]]:
            out[0] = x0
            per_call = chunk if progress else steps
            for start in range(0, steps, per_call):
                stop = min(start + per_call, steps)
                native_sampler.sample_steps(field, out, sampler, start, stop)
                yield stop, out[stop]

    elif name == "wgsl":

        def run(
            x0: Tensor, _: SamplerSettings, out: Tensor | None, __: bool
        ) -> Iterator[tuple[int, Tensor]]:
            trajectory = wgsl_sampler().sample(field, x0, steps, sampler)
            out.copy_(trajectory)
            yield steps, out[-1]

    else:
        stepped = with_chunks(field) if name == "chunked" else field

        def run(
            x0: Tensor, settings: SamplerSettings, out: Tensor | None, _: bool
        ) -> Iterator[tuple[int, Tensor]]:
            if out is not None:
                out[0] = x0
            for i, x in enumerate(iterate(stepped, x0, steps, sampler, settings), start=1):
                if out is not None:
                    out[i] = x
                yield i, x

    return run


def _advance(
    name: str, field: Field, sampler: str, n: int, steps: int, precision: str | None
) -> tuple[Advance | None, int]:
    """Back-end ``name``'s :data:`Advance` (if it has one) and its span."""
    if name == "triton":
        precision = precision or "tf32"

        def advance(x: Tensor, _: SamplerSettings, start: int, out: Tensor) -> None:
            triton_sampler.sample_range(field, x, out, sampler, start, steps, precision)

        return advance, TRITON_SPAN
    if name == "native":

        def advance(x: Tensor, _: SamplerSettings, start: int, out: Tensor) -> None:
            native_sampler.sample_range(field, x, out, sampler, start, steps)

        return advance, max(1, NATIVE_PARTICLE_STEPS // n)
    if name == "wgsl":
        return None, steps
    stepped = with_chunks(field) if name == "chunked" else field
    step, grid = get_sampler(sampler), time_grid(steps)

    def advance(x: Tensor, settings: SamplerSettings, start: int, out: Tensor) -> None:
        with torch.inference_mode():
            for k in range(len(out)):  # the steps of iterate, from step start
                x = step(stepped, x, grid[start + k], grid[start + k + 1], settings)
                out[k] = x

    return advance, 1


def with_chunks(field: Field) -> Field:
    """``field`` evaluating its network through a :class:`ChunkedMLP` (its own, when it has
    one, such as a compiled one): the particles of one time in chunks that stay in cache.
    A field without a network is returned as it is."""
    if not isinstance(field, NetworkField) or field.fast is not None:
        return field
    chunked = copy.copy(field)
    chunked.fast = ChunkedMLP(field.network)
    return chunked


@cache
def wgsl_sampler() -> WgslSampler:
    """The WGSL sampler the ``wgsl`` back-end runs on, on a wgpu device of its own (created
    on first use)."""
    from .wgsl_sampler import WgslSampler

    return WgslSampler()


def trajectory(backend: Backend, x0: Tensor, settings: SamplerSettings, out: Tensor) -> Tensor:
    """Run ``backend`` from ``x0`` to the end, writing every step into ``out``
    ((steps + 1, N, 2)); returns ``out``."""
    for _ in backend.run(x0, settings, out, False):
        pass
    return out


def final_positions(
    backend: Backend,
    x0: Tensor,
    steps: int,
    settings: SamplerSettings,
    cancel: threading.Event | None = None,
) -> Tensor | None:
    """The positions at t = 1 from ``x0`` (N, 2), holding no more than one state (torch) or
    the trajectory of a part of the particles of at most :data:`PART_BYTES` (kernels); ``None``
    when ``cancel`` is set between two calls of the back-end."""
    if backend.name not in KERNELS:
        final = x0
        for _, x in backend.run(x0, settings, None, cancel is not None):
            if cancel is not None and cancel.is_set():
                return None
            final = x
        return final.clone()  # a normal tensor, not an inference one
    parts = []
    for part in x0.split(max(1, PART_BYTES // (8 * (steps + 1)))):
        out = torch.empty((steps + 1, *part.shape), dtype=torch.float32, device=part.device)
        for _ in backend.run(part, settings, out, cancel is not None):
            if cancel is not None and cancel.is_set():
                return None
        parts.append(out[-1])
    return torch.cat(parts)
