"""The view: three panels (source, the flow, data) on one renderer, and their cameras."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pygfx as gfx

from ..core.samplers import MAX_STEPS
from .cache import CachedPanels
from .density import DensityLayer
from .lines import MeshLayer, PathsLayer, VectorsLayer
from .overlays import DataLayer, PreviewLayer, SourceRings, TimeLabel
from .page import paint_page
from .particles import ParticlesLayer, UnderLayer, fit_splats, panel_pixels, panel_problem
from .release import forget_bindings
from .theme import Theme

EXTENT = 3.5
"""Half-width of the domain every panel shows."""
MAX_PATHS = 32
PREVIEW_CAPACITY = 4000
DRAWING_CAPACITY = 100_000
SIDE_PANELS = ("source", "data")
"""Panels that change only with the data, the theme or their size (drawn from a cache)."""
TARGETS_LOOK = (2.0, 0.25)
"""Size and opacity of the faint data under the particles."""


@dataclass(frozen=True)
class Layout:
    """Where the panels go, in logical pixels: (x, y, w, h) rects."""

    source: tuple[float, float, float, float]
    main: tuple[float, float, float, float]
    data: tuple[float, float, float, float]


def layout(width: float, height: float, left: float = 0.0, bottom: float = 0.0) -> Layout:
    """The original's arrangement: a small source panel on the left, the flow large in the
    centre, a small data panel on the right, inside the area not taken by the UI (``left``
    pixels of controls, ``bottom`` pixels of time bar)."""
    area_w, area_h = max(width - left, 1.0), max(height - bottom, 1.0)
    side = min(area_h * 0.42, area_w * 0.2)
    main = min(area_h, area_w - 2 * side - 16)
    main = max(main, 1.0)
    x0 = left + (area_w - main - 2 * side - 16) / 2
    y_side = (area_h - side) / 2
    return Layout(
        source=(x0, y_side, side, side),
        main=(x0 + side + 8, (area_h - main) / 2, main, main),
        data=(x0 + side + main + 16, y_side, side, side),
    )


def canvas_problem(size: tuple[int, int]) -> str:
    """Why a canvas of ``size`` pixels, drawn at its own pixels (offscreen), cannot be drawn
    on this device ('' when it can): its texture or the flow panel's particle buffer (at
    its largest, without controls) would pass the device's limits."""
    largest = gfx.renderers.wgpu.get_shared().device.limits["max-texture-dimension-2d"]
    if max(size) > largest:
        return f"{size[0]}x{size[1]} pixels, more than the {largest} a side this GPU allows"
    _, _, width, height = layout(*size).main
    return panel_problem((max(int(width + 0.4999), 1), max(int(height + 0.4999), 1)))


def _camera() -> gfx.OrthographicCamera:
    camera = gfx.OrthographicCamera(2 * EXTENT + 0.3, 2 * EXTENT + 0.3, maintain_aspect=True)
    camera.local.position = (0, 0, 10)
    return camera


class View:
    """Owns the three scenes and cameras and every layer, and draws them on a renderer.

    The engine's arrays are passed in and drawn without copies: ``positions`` (n, 2) for the
    particles, ``density`` (R, R) for the current density; ``source_density`` and
    ``data_density`` fill the side panels once.
    """

    def __init__(
        self,
        renderer: gfx.WgpuRenderer,
        theme: Theme,
        positions: np.ndarray,
        density: np.ndarray,
        source_density: np.ndarray,
        data_density: np.ndarray,
        data_points: np.ndarray,
        mesh_count: int,
        vector_count: int,
    ) -> None:
        self.renderer = renderer
        self.theme = theme
        paint_page(renderer, theme.background)  # the panels show the page through them
        self.scenes = {name: gfx.Scene() for name in ("source", "main", "data")}
        self.cameras = {name: _camera() for name in self.scenes}
        self.viewport = gfx.Viewport(renderer)
        """The main panel's viewport (the side panels are shown by their caches)."""

        self.source_density = DensityLayer(source_density, EXTENT, theme.source)
        self.source_rings = SourceRings(theme.source)
        self.scenes["source"].add(*self.source_density.objects, *self.source_rings.objects)
        self.data_density = DensityLayer(data_density, EXTENT, theme.data)
        self.data_points = DataLayer(data_points, theme.data)
        self.scenes["data"].add(*self.data_density.objects, *self.data_points.objects)

        self.density = DensityLayer(density, EXTENT, theme.density)
        self.rings = SourceRings(theme.source)
        self.mesh = MeshLayer(mesh_count, theme.mesh)
        self.vectors = VectorsLayer(vector_count, theme.vectors)
        self.particles = ParticlesLayer(positions)
        self.targets = UnderLayer(self.particles, data_points, theme.data, *TARGETS_LOOK)
        self.paths = PathsLayer(MAX_PATHS, MAX_STEPS, theme.path)
        self.time_label = TimeLabel(theme.text)
        self.preview = PreviewLayer(PREVIEW_CAPACITY, theme.particles)
        self.drawing = PreviewLayer(DRAWING_CAPACITY, theme.path)
        self.layers = {
            "density": self.density,
            "data": self.targets,
            "source": self.rings,
            "mesh": self.mesh,
            "vectors": self.vectors,
            "particles": self.particles,
            "paths": self.paths,
        }
        for layer in self.layers.values():
            self.scenes["main"].add(*layer.objects)
        self.scenes["main"].add(
            *self.time_label.objects, *self.preview.objects, *self.drawing.objects
        )
        self.caches = CachedPanels(renderer, SIDE_PANELS, theme.background)
        self.controller = gfx.PanZoomController(self.cameras["main"], register_events=self.viewport)
        self.problem = ""
        """Why the last frame could not draw the particles ('' when it could)."""
        self.set_layout(layout(*renderer.logical_size))

    def _swap(self, scene: str, old: object, new: object) -> None:
        self.scenes[scene].remove(*old.objects)
        self.scenes[scene].add(*new.objects)
        forget_bindings()

    def set_particles(self, positions: np.ndarray) -> None:
        """Draw from a new positions array (the number of particles changed)."""
        old = self.particles
        self.particles = ParticlesLayer(positions)
        self.particles.set_visible(old.material.main)
        self.layers["particles"] = self.particles
        self._swap("main", old, self.particles)
        self.targets = self.layers["data"] = self.targets.moved_to(self.particles)

    def set_data(self, density: np.ndarray, points: np.ndarray) -> None:
        """Show a new dataset in the data panel and as faint targets in the main panel (in
        the layers' own buffers and texture: replaced ones would stay alive in pygfx's
        caches)."""
        self.data_density.set_density(density)
        self.data_points.set_points(points)
        self.targets.set_points(points)
        self.caches["data"].mark_stale()

    def set_layout(self, panels: Layout) -> None:
        self.panels = panels
        self.viewport.rect = panels.main
        x, y, w, _ = panels.main
        self._label_anchor = (x + 12, y + 8, w)

    def set_theme(self, theme: Theme) -> None:
        """Recolour everything for another theme (the particles' colours are set apart)."""
        self.theme = theme
        paint_page(self.renderer, theme.background)
        self.caches.mark_stale(theme.background)
        self.source_density.set_color(theme.source)
        self.data_density.set_color(theme.data)
        self.density.set_color(theme.density)
        for color, layers in (
            (theme.data, (self.data_points, self.targets)),
            (theme.path, (self.drawing,)),
            (theme.particles, (self.preview,)),
        ):
            for layer in layers:
                layer.set_color(color)
        colored = [
            (theme.source, (self.source_rings.line, self.rings.line)),
            (theme.path, (self.paths.future, self.paths.past)),
            (theme.mesh, (self.mesh.line,)),
            (theme.vectors, (self.vectors.line,)),
            (theme.text, (self.time_label.text,)),
        ]
        for color, objects in colored:
            for item in objects:
                item.material.color = (*color, 1.0)

    def set_visible(self, name: str, visible: bool) -> None:
        self.layers[name].set_visible(visible)

    def world_to_screen(self, points: np.ndarray) -> np.ndarray:
        """Logical pixel positions in the canvas of world points in the main panel (with the
        camera's current pan and zoom)."""
        camera = self.cameras["main"]
        x, y, w, h = self.panels.main
        homogeneous = np.column_stack([points, np.zeros(len(points)), np.ones(len(points))])
        ndc = homogeneous @ np.asarray(camera.camera_matrix).T
        ndc = ndc[:, :2] / ndc[:, 3:4]
        return np.column_stack([x + (ndc[:, 0] + 1) / 2 * w, y + (1 - ndc[:, 1]) / 2 * h])

    def screen_to_world(self, sx: float, sy: float) -> tuple[float, float]:
        """The world point in the main panel under canvas pixel (sx, sy)."""
        camera = self.cameras["main"]
        x, y, w, h = self.panels.main
        ndc = np.array([(sx - x) / w * 2 - 1, 1 - (sy - y) / h * 2, 0, 1])
        world = np.linalg.inv(np.asarray(camera.camera_matrix)) @ ndc
        return float(world[0] / world[3]), float(world[1] / world[3])

    def render(self) -> None:
        """Draw the three panels (the caller flushes or adds the UI on top)."""
        label_x, label_y, _ = self._label_anchor
        world = self.screen_to_world(label_x, label_y)
        self.time_label.text.local.position = (*world, 1)
        main = panel_pixels(self.renderer, self.panels.main)
        self.problem = fit_splats([self.scenes["main"]], main)  # the side panels: cached
        # The side panels come first, and clear the frame.
        rects = {name: getattr(self.panels, name) for name in SIDE_PANELS}
        self.caches.render(rects, self.scenes, self.cameras)
        self.viewport.render(self.scenes["main"], self.cameras["main"])
        self.renderer.flush()
