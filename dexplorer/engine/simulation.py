"""The simulation: from settings to the arrays the renderer draws. Owns the model, the
trajectory cache and the shared arrays; knows nothing of ImGui or pygfx."""

from __future__ import annotations

import numpy as np
import torch

from ..core.checkpoints import Checkpoint, load_checkpoint
from ..core.datasets import Dataset, make_dataset
from ..core.fields import ExactField, Field, NetworkField
from ..core.paths import LinearPath
from ..core.pretrained import pretrained_path
from ..core.samplers import nonfinite_message
from ..state import Settings
from .buffers import SharedArray
from .grids import DensityGrid, grid_points, velocity_grid
from .trajectory import RunSpec, TrajectoryCache

EXTENT = 3.5
DATA_POINTS = 5000
MAX_EXACT_POINTS = 20000
"""A custom dataset larger than this is subsampled for the exact field and the panels."""


def density_blur(n: int, resolution: int) -> float:
    """Blur in grid cells for n particles: a kernel of 0.9 n^(-1/6) world units (Silverman's
    rule for unit spread), wide enough to keep few particles from looking like noise."""
    return 0.9 * n ** (-1 / 6) * resolution / (2 * EXTENT)


class Simulation:
    """Turns :class:`~dexplorer.state.Settings` into trajectories and, for any time t,
    writes the particle positions, their density, the warped mesh, the velocity arrows and
    the selected paths into arrays that the renderer uploads as they are.
    """

    def __init__(
        self,
        settings: Settings,
        device: torch.device | str = "cpu",
        density_resolution: int = 256,
        mesh_count: int = 15,
        vector_count: int = 21,
        custom: Dataset | None = None,
        trained: Checkpoint | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.mesh_count = mesh_count
        self.vector_count = vector_count
        self.cache = TrajectoryCache(self.device)
        self.density_resolution = density_resolution
        self.density = SharedArray((density_resolution, density_resolution), self.device)
        self.mesh_start = grid_points(mesh_count, 3.0, self.device)
        self.vector_points = grid_points(vector_count, 3.0, self.device)
        self.positions: SharedArray | None = None
        self.settings: Settings | None = None
        self.labels: np.ndarray | None = None
        self._checkpoints: dict[str, Checkpoint] = {}
        self.apply(settings, custom, trained)

    # --- settings ---------------------------------------------------------------------------

    def apply(
        self, settings: Settings, custom: Dataset | None = None, trained: Checkpoint | None = None
    ) -> None:
        """Start computing for new settings (the previous run is cancelled); ``custom`` and
        ``trained`` are the custom dataset and the trained model the settings may name.

        Raises
        ------
        ValueError, MemoryError, CheckpointError
            When the settings cannot run; nothing changes then.
        """
        if settings.dataset == "custom":
            if custom is None:
                raise ValueError("there is no custom dataset")
            dataset = custom.subset(MAX_EXACT_POINTS)
        else:
            dataset = make_dataset(settings.dataset, n=DATA_POINTS, seed=0)
        field, labels = self._field(settings, dataset, trained)
        spec = RunSpec(
            field=field,
            sampler=settings.sampler,
            steps=settings.steps,
            n=settings.n,
            seed=settings.seed,
            eta=settings.eta,
            noise_scale=settings.noise_scale,
            extra=self.mesh_start,
            extra_field=self._unlabelled(field, settings),
        )
        self.cache.start(spec)  # checks memory first: raises before changing anything
        self.density_grid = DensityGrid(
            self.density_resolution,
            EXTENT,
            density_blur(settings.n, self.density_resolution),
            self.device,
        )
        if self.positions is None or self.positions.array.shape[0] != settings.n:
            self.positions = SharedArray((settings.n, 2), self.device)
        self.settings = settings
        self.dataset = dataset
        self.field = field
        self.labels = None if labels is None else labels.cpu().numpy()

    def _checkpoint(self, name: str) -> Checkpoint:
        if name not in self._checkpoints:
            self._checkpoints[name] = load_checkpoint(pretrained_path(name), self.device)
        return self._checkpoints[name]

    def _field(
        self, settings: Settings, dataset: Dataset, trained: Checkpoint | None
    ) -> tuple[Field, torch.Tensor | None]:
        if settings.model == "exact":
            return ExactField(dataset.points, LinearPath(), device=self.device), None
        if settings.model == "trained":
            if trained is None:
                raise ValueError("there is no trained model")
            checkpoint = trained
        else:
            checkpoint = self._checkpoint(f"{settings.dataset}/{settings.model}")
        if not checkpoint.conditional:
            return checkpoint.field(), None
        if settings.label is not None:
            label = torch.full((settings.n,), settings.label, device=self.device)
        else:
            label = checkpoint.particle_labels(settings.n, settings.seed, self.device)
        return checkpoint.field(label, settings.guidance), label

    def _unlabelled(self, field: Field, settings: Settings) -> Field:
        """The field for the mesh points: one class for all when a class is chosen,
        otherwise the unconditional output."""
        if not isinstance(field, NetworkField) or field.label is None:
            return field
        return NetworkField(field.network, field.objective, settings.label, settings.guidance)

    # --- per frame -----------------------------------------------------------------------------

    @property
    def progress(self) -> tuple[int, int]:
        """(steps computed, steps wanted)."""
        return self.cache.state.ready, self.settings.steps

    @property
    def notice(self) -> str:
        """What is wrong with the current run, for the status ('' if nothing): the worker's
        error, or how many particles (and mesh points) became inf or nan: those are not
        drawn from that step on."""
        state = self.cache.state
        if state.error:
            return state.error
        notes = []
        if state.nonfinite:
            notes.append(f"{nonfinite_message(state.nonfinite, self.settings.n)}: not drawn")
        if state.nonfinite_extra:
            count, total = state.nonfinite_extra, len(self.mesh_start)
            notes.append(f"{count} of {total} mesh points became non-finite: not drawn")
        return "; ".join(notes)

    def update_positions(self, t: float) -> None:
        """Write the particles' positions at t into the shared positions array."""
        self.cache.interpolate(t, self.positions.target)
        self.positions.publish()

    def update_density(self) -> None:
        """Density of the current positions into the shared density array."""
        current = self.positions.target
        self.density_grid.compute(current, self.density.target)
        self.density.publish()

    def mesh(self, t: float) -> np.ndarray:
        """The warped grid at t, (K*K, 2)."""
        out = torch.empty((len(self.mesh_start), 2), device=self.device)
        return self.cache.interpolate(t, out, "extra").cpu().numpy()

    def vectors(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Grid points and the model's velocity there at t (clamped inside (0, 1) where the
        field is singular at the ends)."""
        t = min(max(t, 0.005), 0.995)
        velocity = velocity_grid(self.field_for_grid, t, self.vector_points)
        return self.vector_points.cpu().numpy(), velocity.cpu().numpy()

    @property
    def field_for_grid(self) -> Field:
        return self._unlabelled(self.field, self.settings)

    def paths(self, selected: list[int]) -> np.ndarray:
        """Paths of the selected particles over the ready steps, (ready + 1, k, 2)."""
        index = torch.as_tensor(selected, dtype=torch.long, device=self.device)
        return self.cache.paths(index).cpu().numpy()

    def nearest(self, x: float, y: float) -> int:
        """Index of the particle nearest to world point (x, y) at the current positions."""
        current = self.positions.target
        distance = (current - torch.tensor([x, y], device=self.device)).square().sum(1)
        return int(distance.nan_to_num(torch.inf).argmin())  # never a non-finite particle

    def source_density(self, resolution: int) -> np.ndarray:
        """Density of N(0, I) on the grid (for the source panel)."""
        axis = np.linspace(-EXTENT, EXTENT, resolution, dtype=np.float32)
        xx, yy = np.meshgrid(axis, axis)
        return np.exp(-0.5 * (xx**2 + yy**2)).astype(np.float32)

    def data_density(self) -> np.ndarray:
        """Density of the dataset's points on the grid (for the data panel)."""
        out = torch.empty_like(self.density.target)
        points = torch.as_tensor(self.dataset.points, device=self.device)
        return self.density_grid.compute(points, out).cpu().numpy()
