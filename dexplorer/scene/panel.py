"""One panel: a run drawn with every layer in its own square of the canvas."""

from __future__ import annotations

import numpy as np
import pygfx as gfx

from ..core.datasets import DOMAIN
from ..core.limits import MAX_STEPS
from .density import DensityLayer
from .guess import GuessLayer
from .layer import Layer
from .layout import Rect
from .lines import MeshLayer, PathsLayer, VectorsLayer
from .overlays import SourceRings
from .particles import ParticlesLayer, UnderLayer, fit_splats, panel_pixels
from .release import forget_bindings
from .streaks import StreaksLayer
from .theme import Theme

MAX_PATHS = 32
TARGETS_LOOK = (2.0, 0.25)
"""Size and opacity of the faint data under the particles."""


class Panel:
    """Owns one run's visual: a scene with every layer (the density, the faint data, the
    source rings, the mesh, the arrows, the particles, the selected particles' paths, the
    denoiser's guesses, the model's own density and the streaks), drawn from the engine's
    arrays, and its viewport on the renderer, seen through the camera it shares with the
    other panels."""

    def __init__(
        self,
        renderer: gfx.WgpuRenderer,
        camera: gfx.Camera,
        theme: Theme,
        positions: np.ndarray,
        density: np.ndarray,
        data_points: np.ndarray,
        mesh_count: int,
        vector_count: int,
    ) -> None:
        self.renderer = renderer
        self.camera = camera
        self.scene = gfx.Scene()  # on the page's background
        self.viewport = gfx.Viewport(renderer)
        self.density = DensityLayer(density, DOMAIN, theme.density)
        self.rings = SourceRings(theme.source)
        self.mesh = MeshLayer(mesh_count, theme.mesh)
        self.vectors = VectorsLayer(vector_count, theme.vectors)
        self.particles = ParticlesLayer(positions)
        self.targets = UnderLayer(self.particles, data_points, theme.data, *TARGETS_LOOK)
        self.paths = PathsLayer(MAX_PATHS, MAX_STEPS, theme.path)
        self.guess = GuessLayer(theme.guess)
        empty = np.zeros((1, 1), np.float32)  # until the model's density is first shown
        self.likelihood = DensityLayer(empty, DOMAIN, theme.likelihood, "likelihood")
        self.streaks = StreaksLayer(theme.streaks)
        self.layers: dict[str, Layer] = {
            "density": self.density,
            "data": self.targets,
            "source": self.rings,
            "mesh": self.mesh,
            "vectors": self.vectors,
            "particles": self.particles,
            "paths": self.paths,
            "guess": self.guess,
            "likelihood": self.likelihood,
            "streaks": self.streaks,
        }
        for layer in self.layers.values():
            self.scene.add(*layer.objects)

    @property
    def rect(self) -> Rect:
        """Where the panel is on the canvas (x, y, w, h in logical pixels)."""
        return tuple(self.viewport.rect)

    def set_particles(self, positions: np.ndarray) -> None:
        """Draw from a new positions array (another run, or the number of particles changed)."""
        old = self.particles
        self.particles = ParticlesLayer(positions)
        self.particles.set_visible(old.material.main)
        self._swap("particles", self.particles)
        self.targets = self.layers["data"] = self.targets.moved_to(self.particles)

    def set_density(self, density: np.ndarray) -> None:
        """Draw the density from a new array (another run, of its own resolution)."""
        old = self.density
        self.density = DensityLayer(density, DOMAIN, old.color)
        self.density.set_visible(old.visible)
        self._swap("density", self.density)

    def set_likelihood(self, density: np.ndarray) -> None:
        """Draw the model's density from a new array (another run's)."""
        old = self.likelihood
        self.likelihood = DensityLayer(density, DOMAIN, old.color, "likelihood")
        self.likelihood.set_visible(old.visible)
        self._swap("likelihood", self.likelihood)

    def set_data(self, points: np.ndarray) -> None:
        """Show other data faintly under the particles (in the same buffers when they fit)."""
        self.targets.set_points(points)

    def _swap(self, name: str, layer: Layer) -> None:
        self.scene.remove(*self.layers[name].objects)
        self.layers[name] = layer
        self.scene.add(*layer.objects)
        forget_bindings()

    def set_visible(self, name: str, visible: bool) -> None:
        self.layers[name].set_visible(visible)

    def set_theme(self, theme: Theme) -> None:
        """Recolour every layer (the particles' colours are set apart)."""
        for layer in self.layers.values():
            layer.set_theme(theme)

    def fit(self) -> str:
        """Make room for the particles at the panel's size; why they cannot be drawn ('' when
        they can)."""
        return fit_splats([self.scene], panel_pixels(self.renderer, self.viewport.rect))

    def render(self) -> None:
        self.viewport.render(self.scene, self.camera)

    def world_to_screen(self, points: np.ndarray) -> np.ndarray:
        """Logical pixel positions in the canvas of world points (n, 2) in this panel (with
        the camera's current pan and zoom)."""
        x, y, w, h = self.rect
        homogeneous = np.column_stack([points, np.zeros(len(points)), np.ones(len(points))])
        ndc = homogeneous @ np.asarray(self.camera.camera_matrix).T
        ndc = ndc[:, :2] / ndc[:, 3:4]
        return np.column_stack([x + (ndc[:, 0] + 1) / 2 * w, y + (1 - ndc[:, 1]) / 2 * h])

    def screen_to_world(self, sx: float, sy: float) -> tuple[float, float]:
        """The world point in this panel under canvas pixel (sx, sy)."""
        x, y, w, h = self.rect
        ndc = np.array([(sx - x) / w * 2 - 1, 1 - (sy - y) / h * 2, 0, 1])
        world = np.linalg.inv(np.asarray(self.camera.camera_matrix)) @ ndc
        return float(world[0] / world[3]), float(world[1] / world[3])
