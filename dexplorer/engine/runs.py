"""The engine: one simulation per run shown (one in the single view, 2 or 4 compared), all
from the same starting particles, and the quality sweep of the compared runs. Importing it
does not import torch (an :class:`Engine` does, when made): the app's first frame reads the
sizes below before torch is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.runs import Data, Request, Run

if TYPE_CHECKING:
    import torch

    from ..core.checkpoints import Checkpoint
    from ..core.datasets import Dataset
    from ..core.user_models import UserModel
    from .simulation import Simulation
    from .sweep import QualitySweep

DENSITY_RESOLUTION = {1: 256, 2: 128, 4: 128}
"""Density grid of each panel, by the number of panels."""
MESH_COUNT = 15
VECTOR_COUNT = 21


@dataclass(frozen=True)
class Problem:
    """A run that could not start: which, and why. When the number of runs changed, the
    simulations before are all kept; otherwise the simulation at ``index`` still runs what
    it ran before."""

    index: int
    message: str


class Engine:
    """Owns the simulations of the runs shown and the quality sweep, and follows what it is
    given: :meth:`sync` (once a frame) starts, restarts or drops simulations where the
    data or the runs changed, measures finished runs when comparing, and starts or cancels
    the sweep."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        import torch

        self.device = torch.device(device)
        self.simulations: list[Simulation] = []
        self.sweep: QualitySweep | None = None
        self._sweep_id = 0
        self._revision = -1
        self._edit = 0
        """The number of the last live edit followed."""
        self._parked: tuple[Simulation, tuple] | None = None
        """The single view's finished simulation while runs are compared, and the models and
        custom data it ran with: back in the single view it is shown again when nothing it
        ran has changed (a run of millions of particles is not computed twice for a look at
        a comparison)."""

    def sync(self, request: Request) -> list[Problem]:
        """Bring the simulations to the request's runs on its data (every one restarts when
        its revision changed; all start anew when the number of runs changed). Returns the
        runs that could not start; the caller puts back what still runs."""
        data, runs, n, revision = request.data, request.runs, request.n, request.revision
        custom, trained, yours = request.custom, request.trained, request.yours
        reflowed = request.reflowed
        source = request.custom_source
        stale = revision != self._revision
        self._revision = revision
        edit = request.edit
        edited = edit is not None and edit.number != self._edit and not stale
        self._edit = self._edit if edit is None else edit.number
        problems = []
        inputs = (custom, trained, yours, reflowed, source)
        if self._parked is not None and (stale or edited or not _same(self._parked[1], inputs)):
            self._parked[0].close()  # what it ran has changed
            self._parked = None
        if len(runs) != len(self.simulations):
            problems = self._start(data, runs, n, *inputs, park=not stale)
        else:
            for index, (run, simulation) in enumerate(zip(runs, self.simulations, strict=True)):
                if stale or (data, run, n) != (simulation.data, simulation.run, simulation.n):
                    try:
                        simulation.apply(data, run, n, custom, trained, yours, reflowed, source)
                    except (ValueError, MemoryError, OSError) as error:
                        problems.append(Problem(index, str(error)))
                elif edited and simulation.data.dataset == "custom":
                    try:
                        simulation.follow(edit, custom, trained, yours, reflowed, source)
                    except (ValueError, MemoryError, OSError) as error:
                        problems.append(Problem(index, str(error)))
        for simulation in self.simulations:
            simulation.poll()
        self._sync_sweep(request.sweep)
        return problems

    def _start(
        self,
        data: Data,
        runs: list[Run],
        n: int,
        custom: Dataset | None,
        trained: Checkpoint | None,
        yours: UserModel | None = None,
        reflowed: Checkpoint | None = None,
        custom_source: Dataset | None = None,
        park: bool = False,
    ) -> list[Problem]:
        """New simulations for another number of runs, all or none: when one cannot start,
        the simulations before are kept. A finished single view's simulation is parked
        while runs are compared (with ``park``: nothing it ran changed in this request),
        and shown again after if it runs the same data, run and number."""
        from .simulation import Simulation

        if len(runs) == 1 and self._parked is not None:
            simulation, self._parked = self._parked[0], None
            if (data, runs[0], n) == (simulation.data, simulation.run, simulation.n):
                self._drop(0)
                self.simulations = [simulation]
                return []
            simulation.close()
        fresh: list[Simulation] = []
        for index, run in enumerate(runs):
            try:
                fresh.append(
                    Simulation(
                        data,
                        run,
                        n,
                        self.device,
                        DENSITY_RESOLUTION[len(runs)],
                        MESH_COUNT,
                        VECTOR_COUNT,
                        custom,
                        trained,
                        measure=len(runs) > 1,
                        yours=yours,
                        reflowed=reflowed,
                        custom_source=custom_source,
                    )
                )
            except (ValueError, MemoryError, OSError) as error:
                for simulation in fresh:
                    simulation.close()
                return [Problem(index, str(error))]
        single = self.simulations[0] if len(self.simulations) == 1 else None
        if single is not None and park and single.cache.state.done:
            inputs = (custom, trained, yours, reflowed, custom_source)
            self._parked = (self.simulations.pop(), inputs)
        self._drop(0)
        self.simulations = fresh
        return []

    def _drop(self, keep: int) -> None:
        for simulation in self.simulations[keep:]:
            simulation.close()
        del self.simulations[keep:]

    def _sync_sweep(self, sweep: int) -> None:
        from .sweep import QualitySweep

        if sweep == self._sweep_id:
            return
        if self.sweep is not None:
            self.sweep.cancel()
        self._sweep_id = sweep
        self.sweep = QualitySweep(self.simulations, self.device) if sweep else None

    @property
    def progress(self) -> tuple[int, int]:
        """(steps computed, steps wanted) over every simulation."""
        ready = sum(simulation.progress[0] for simulation in self.simulations)
        return ready, sum(simulation.progress[1] for simulation in self.simulations)

    def wait(self) -> None:
        """Block until every simulation is computed (and measured, when comparing)."""
        for simulation in self.simulations:
            simulation.wait()

    def close(self) -> None:
        """Stop every thread and drop the simulations."""
        if self.sweep is not None:
            self.sweep.cancel()
        self.sweep, self._sweep_id = None, 0
        self._drop(0)
        if self._parked is not None:
            self._parked[0].close()
            self._parked = None


def _same(these: tuple, those: tuple) -> bool:
    """Whether two tuples hold the same objects (models and datasets compare by identity)."""
    return len(these) == len(those) and all(a is b for a, b in zip(these, those, strict=True))
