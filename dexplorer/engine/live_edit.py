"""Live edits of the exact field's data, recomputed progressively.

The exact field's data estimate is a softmax over the data points, so a point that leaves or
comes changes a particle's path only where the particle's posterior weight on it is not
negligible: late in the path that is only near the point (the weights concentrate on the
nearest points as sigma falls), early on it is everywhere but small (about 1/M of the
points' pull, M points). Three stages follow an edit, each replacing the one before:

1. at once (in the frame that sees the edit): the particles that landed on a point that left
   are moved whole onto the point that took its place (the nearest point that came, else the
   nearest point left): x_t += alpha(t) (new - old), which is exact for a particle whose
   posterior stays on that one point and otherwise a preview. A point added moves nothing
   yet;
2. in the background, a few hundred milliseconds: the *near* particles, those whose endpoint
   lies within :data:`REACH` times the edited point's distance to its nearest neighbour (the
   neighbours' basins border its own), are integrated anew with the new field, from their
   own starting noise: exact for them (for a stochastic sampler, with other noise draws);
3. in the background, the time of a whole run: every particle and the warped mesh, exactly
   what a run started on the new data computes; it is shown when done.

Until stage 3 is done, the particles far from the edit keep their old paths: their endpoints
are right (they land on the same point), their paths before are off by about the edited
point's pull, displacement / M.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import torch
from torch import Tensor

from ..core.fields import ExactField
from ..core.samplers import SamplerSettings, iterate, time_grid
from .trajectory import RunSpec, TrajectoryCache

REACH = 1.5
"""Near particles end within this many times an edited point's nearest-neighbour distance."""
LANDED = 0.25
"""A particle landed on a point when it ends within this share of that distance from it."""


def net_change(removed: np.ndarray, added: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points removed and added by a chain of edits, less those that came and left
    again (the steps of a drag between two frames)."""
    rows = {tuple(p) for p in removed} & {tuple(p) for p in added}
    keep_removed = [i for i, p in enumerate(removed) if tuple(p) not in rows]
    keep_added = [i for i, p in enumerate(added) if tuple(p) not in rows]
    return removed[keep_removed], added[keep_added]


def _nearest_distance(points: Tensor, data: Tensor) -> Tensor:
    """Each of ``points``' distance to its nearest point of ``data`` (inf when empty)."""
    if not len(points) or not len(data):
        return torch.full((len(points),), torch.inf)
    return torch.cdist(points, data).min(dim=1).values


class LiveEdit:
    """Owns the progressive recompute of one exact-field run after its data changed: stage 1
    done in the constructor, stage 2's thread, then stage 3 started on the trajectory cache
    (see the module's description). :meth:`poll` (each frame) moves it on; ``stage`` says
    where it is: 1 preview, 2 near particles exact, 3 every particle exact (done)."""

    def __init__(
        self,
        cache: TrajectoryCache,
        spec: RunSpec,
        before: np.ndarray,
        after: np.ndarray,
        removed: np.ndarray,
        added: np.ndarray,
    ) -> None:
        self.started = time.perf_counter()
        self.cache, self.spec = cache, spec
        self.stage = 1
        self.seconds: dict[int, float] = {}
        """Seconds from the edit to each stage shown."""
        removed, added = net_change(removed, added)
        field: ExactField = spec.field
        device = cache.particles.device
        final = cache.particles[-1].float()
        old = torch.as_tensor(before, device=device)
        new = torch.as_tensor(after, device=device)
        gone = torch.as_tensor(removed, device=device)
        came = torch.as_tensor(added, device=device)
        near = torch.zeros(len(final), dtype=torch.bool, device=device)
        for points, spacing in (
            (gone, _nearest_distance(gone, new)),
            (came, _nearest_distance(came, old)),
        ):
            for point, reach in zip(points, spacing, strict=True):
                reach = float(reach) if torch.isfinite(reach) else float("inf")
                near |= (final - point).norm(dim=1) <= REACH * reach
        self.near = near.nonzero().flatten()
        self._preview(final, gone, came, new, field)
        self._cancel = threading.Event()
        self._rows: Tensor | None = None
        self._thread = threading.Thread(
            target=self._integrate, daemon=True, name="dexplorer-live-edit"
        )
        self._thread.start()
        self.seconds[1] = time.perf_counter() - self.started

    def _preview(
        self, final: Tensor, gone: Tensor, came: Tensor, new: Tensor, field: ExactField
    ) -> None:
        """Stage 1: the particles that landed on a point that left follow its replacement."""
        if not len(gone):
            return
        spacing = _nearest_distance(gone, new)
        targets = came if len(came) else new
        replacement = targets[torch.cdist(gone, targets).argmin(dim=1)]
        distance = torch.cdist(final, gone)
        closest = distance.argmin(dim=1)
        landed = distance.min(dim=1).values <= LANDED * spacing[closest]
        index = landed.nonzero().flatten()
        if not len(index):
            return
        shift = (replacement - gone)[closest[index]]
        times = torch.tensor(time_grid(self.spec.steps), device=final.device)
        alpha = field.path.alpha(times).to(final.dtype)
        rows = self.cache.particles[:, index].float() + alpha[:, None, None] * shift[None]
        self.cache.patch(index, rows)

    def _integrate(self) -> None:
        """Stage 2 (a thread): the near particles' new paths, from their starting noise."""
        spec, index = self.spec, self.near
        x0 = self.cache.particles[0, index].float()
        rows = torch.empty((spec.steps + 1, len(index), 2), device=x0.device)
        rows[0] = x0
        generator = torch.Generator(device=x0.device).manual_seed(spec.seed + 1)
        settings = SamplerSettings(spec.eta, spec.noise_scale, generator)
        if len(index):
            for i, x in enumerate(iterate(spec.field, x0, spec.steps, spec.sampler, settings), 1):
                if self._cancel.is_set():
                    return
                rows[i] = x
        self._rows = rows

    def poll(self) -> bool:
        """Show what is ready (on the render thread); returns whether every stage is done."""
        if self.stage == 1 and not self._thread.is_alive() and self._rows is not None:
            if len(self.near):
                self.cache.patch(self.near, self._rows)
            self.stage = 2
            self.seconds[2] = time.perf_counter() - self.started
            self.cache.start(self.spec, hidden=True)
        if self.stage == 2 and self.cache.hidden is None and self.cache.state.done:
            self.stage = 3
            self.seconds[3] = time.perf_counter() - self.started
        return self.stage == 3

    def wait(self) -> None:
        """Block until every stage is done (tests, benchmarks, headless renders)."""
        self._thread.join()
        self.poll()
        self.cache.wait()
        self.poll()

    def cancel(self) -> None:
        """Stop stage 2 (stage 3 stops with the cache's next start or cancel)."""
        self._cancel.set()
        self._thread.join()

    @property
    def note(self) -> str:
        """What the panel shows now, for the status and the captions."""
        if self.stage == 1:
            return f"live edit: preview; {len(self.near)} near particles recomputing"
        if self.stage == 2:
            hidden = self.cache.hidden
            ready = hidden.state.ready if hidden is not None else self.spec.steps
            return (
                f"live edit: {len(self.near)} near particles exact; the others recomputing "
                f"{ready}/{self.spec.steps}"
            )
        return ""
