"""The comparison view: 2 panels side by side or 4 in a 2 x 2 grid, each its own scene of
particles over their density, with a caption above it and one time label for all."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pygfx as gfx

from .density import DensityLayer
from .overlays import SourceRings, TimeLabel
from .page import paint_page
from .particles import ParticlesLayer, UnderLayer, fit_splats, panel_pixels
from .release import forget_bindings
from .theme import Theme
from .view import TARGETS_LOOK

EXTENT = 3.5
GAP = 14.0
CAPTION_SIZE = 18.0
"""Caption font size at scale 1 (logical pixels)."""
CAPTION_LINES = 2
LAYER_NAMES = ("density", "data", "source", "particles")
"""The layers a panel draws (mesh, arrows and paths are for the single view)."""


Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class CompareLayout:
    """Where things go, in logical pixels: the panels' (x, y, w, h) rects, the top-left
    corners of their captions and of the time label."""

    panels: tuple[Rect, ...]
    captions: tuple[tuple[float, float], ...]
    time: tuple[float, float]


def compare_layout(
    width: float,
    height: float,
    count: int,
    left: float = 0.0,
    bottom: float = 0.0,
    scale: float = 1.0,
    label_size: float = 40.0,
) -> CompareLayout:
    """Square panels, as large as they fit in the area not taken by the UI (``left`` pixels
    of controls, ``bottom`` pixels of time bar), in one row of 2 or a 2 x 2 grid, each with
    room for its caption above it. The time label goes above the grid or to its left,
    wherever the panels come out larger."""
    columns, rows = (2, 1) if count == 2 else (2, 2)
    caption = CAPTION_LINES * CAPTION_SIZE * scale * 1.3 + 4
    area_w, area_h = max(width - left, 1.0), max(height - bottom, 1.0)
    label_h, label_w = label_size * 1.25, label_size * 4.0

    def side(extra_w: float, extra_h: float) -> float:
        w = (area_w - extra_w - GAP * (columns + 1)) / columns
        h = (area_h - extra_h - GAP * (rows + 1)) / rows - caption
        return max(min(w, h), 1.0)

    above, beside = side(0.0, label_h), side(label_w, 0.0)
    # Even pixel offsets and sizes: every panel rasterises alike (2 x 2 pixel quads included).
    size, caption = _even(max(above, beside) - 1), _even(caption + 1)
    offset_x, offset_y = (0.0, label_h) if above >= beside else (label_w, 0.0)
    grid_w = columns * size + (columns - 1) * GAP
    grid_h = rows * (size + caption) + (rows - 1) * GAP
    x0 = _even(left + offset_x + (area_w - offset_x - grid_w) / 2)
    y0 = _even(offset_y + (area_h - offset_y - grid_h) / 2)
    panels, captions = [], []
    for index in range(count):
        row, column = divmod(index, columns)
        x = x0 + column * (size + GAP)
        y = y0 + row * (size + caption + GAP)
        captions.append((x, y))
        panels.append((x, y + caption, size, size))
    time = (x0, y0 - label_h) if above >= beside else (x0 - label_w, y0 + caption)
    return CompareLayout(tuple(panels), tuple(captions), time)


def _even(value: float) -> float:
    """The even whole number at or below ``value`` (at least 2)."""
    return float(max(2 * int(value / 2), 2))


def _camera() -> gfx.OrthographicCamera:
    camera = gfx.OrthographicCamera(2 * EXTENT + 0.3, 2 * EXTENT + 0.3, maintain_aspect=True)
    camera.local.position = (0, 0, 10)
    return camera


class ComparePanel:
    """Owns one panel's scene, camera and viewport, and its layers: the density,
    the faint data, the source rings and the particles (drawn from the engine's arrays)."""

    def __init__(
        self,
        renderer: gfx.WgpuRenderer,
        theme: Theme,
        positions: np.ndarray,
        density: np.ndarray,
        data_points: np.ndarray,
    ) -> None:
        self.scene = gfx.Scene()  # on the page's background
        self.camera = _camera()
        self.viewport = gfx.Viewport(renderer)
        self.positions = positions
        self.data_points = data_points
        particles = ParticlesLayer(positions)
        self.layers = {
            "density": DensityLayer(density, EXTENT, theme.density),
            "data": UnderLayer(particles, data_points, theme.data, *TARGETS_LOOK),
            "source": SourceRings(theme.source),
            "particles": particles,
        }
        for layer in self.layers.values():
            self.scene.add(*layer.objects)

    @property
    def particles(self) -> ParticlesLayer:
        return self.layers["particles"]

    @property
    def density(self) -> DensityLayer:
        return self.layers["density"]

    def set_particles(self, positions: np.ndarray) -> None:
        """Draw from a new positions array (the number of particles changed)."""
        old = self.particles
        self._swap("particles", ParticlesLayer(positions))
        self.particles.set_visible(old.material.main)
        self.layers["data"] = self.layers["data"].moved_to(self.particles)
        self.positions = positions

    def set_data(self, points: np.ndarray) -> None:
        """Show new data points faintly under the particles."""
        self.layers["data"].set_points(points)
        self.data_points = points

    def _swap(self, name: str, layer: object) -> None:
        self.scene.remove(*self.layers[name].objects)
        self.layers[name] = layer
        self.scene.add(*layer.objects)
        forget_bindings()

    def set_theme(self, theme: Theme) -> None:
        self.density.set_color(theme.density)
        self.layers["data"].set_color(theme.data)
        self.layers["source"].line.material.color = (*theme.source, 1.0)


class CompareView:
    """Owns the comparison's page (background, panel frames, captions and the time label)
    and one :class:`ComparePanel` per panel, and draws them on the renderer."""

    def __init__(self, renderer: gfx.WgpuRenderer, theme: Theme) -> None:
        self.renderer = renderer
        self.theme = theme
        paint_page(renderer, theme.background)
        self.page = gfx.Scene()  # drawn first, and never empty: its frames are always shown
        self.page_camera = gfx.NDCCamera()
        self.time_label = TimeLabel(theme.text)
        self.page.add(*self.time_label.objects)
        frame_material = gfx.LineMaterial(thickness=1.0, color=(*theme.frame, 1.0), aa=True)
        self.frames = gfx.Line(gfx.Geometry(positions=np.zeros((1, 3), np.float32)), frame_material)
        self.page.add(self.frames)
        self.panels: list[ComparePanel] = []
        self.captions: list[gfx.Text] = []
        self.texts: list[str] = []
        """The captions' texts, as shown."""
        self.problem = ""
        """Why the last frame could not draw some panel's particles ('' when it could)."""
        self.layout: CompareLayout | None = None
        self._placed_in: tuple[float, float] = (0.0, 0.0)

    def add_panel(
        self,
        positions: np.ndarray,
        density: np.ndarray,
        data_points: np.ndarray,
    ) -> ComparePanel:
        """A new panel at the end, drawing from the engine's arrays."""
        panel = ComparePanel(self.renderer, self.theme, positions, density, data_points)
        caption = gfx.Text(
            text=" ",
            font_size=CAPTION_SIZE,
            screen_space=True,
            anchor="top-left",
            material=gfx.TextMaterial(color=(*self.theme.text, 1.0), pick_write=False),
        )
        self.page.add(caption)
        self.panels.append(panel)
        self.captions.append(caption)
        self.texts.append("")
        return panel

    def remove_panels(self, keep: int) -> None:
        """Drop every panel after the first ``keep``."""
        if keep >= len(self.panels):
            return
        for caption in self.captions[keep:]:
            self.page.remove(caption)
        del self.panels[keep:], self.captions[keep:], self.texts[keep:]
        forget_bindings()

    def set_caption(self, index: int, text: str, scale: float) -> None:
        """The caption of panel ``index`` (re-laid out only when it changes)."""
        caption = self.captions[index]
        if caption.font_size != CAPTION_SIZE * scale:
            caption.font_size = CAPTION_SIZE * scale
        if self.texts[index] != text:
            caption.set_text(text)
            self.texts[index] = text

    def set_layout(self, layout: CompareLayout) -> None:
        """Place the panels, captions, frames and time label (logical pixels)."""
        width, height = self.renderer.logical_size
        if (layout, (width, height)) == (self.layout, self._placed_in):
            return  # placed already (new frame geometry every frame would churn buffers)
        self.layout, self._placed_in = layout, (width, height)
        for panel, rect in zip(self.panels, layout.panels, strict=False):
            panel.viewport.rect = rect
        for caption, (x, y) in zip(self.captions, layout.captions, strict=False):
            caption.local.position = self._ndc(x, y, width, height)
        self.time_label.text.local.position = self._ndc(*layout.time, width, height)
        corners = []
        for x, y, w, h in layout.panels:
            box = [(x - 1, y - 1), (x + w, y - 1), (x + w, y + h), (x - 1, y + h), (x - 1, y - 1)]
            corners += [self._ndc(px, py, width, height) for px, py in box]
            corners.append((np.nan, np.nan, np.nan))
        self.frames.geometry = gfx.Geometry(positions=np.asarray(corners, np.float32))

    @staticmethod
    def _ndc(x: float, y: float, width: float, height: float) -> tuple[float, float, float]:
        return (2 * x / width - 1, 1 - 2 * y / height, 0.0)

    def set_theme(self, theme: Theme) -> None:
        """Recolour the page and every panel (the particles' colours are set apart)."""
        self.theme = theme
        paint_page(self.renderer, theme.background)
        self.frames.material.color = (*theme.frame, 1.0)
        for item in (self.time_label.text, *self.captions):
            item.material.color = (*theme.text, 1.0)
        for panel in self.panels:
            panel.set_theme(theme)

    def render(self) -> None:
        """Draw the page, then each panel (the caller adds the UI on top)."""
        problems = [
            fit_splats([panel.scene], panel_pixels(self.renderer, panel.viewport.rect))
            for panel in self.panels
        ]
        self.problem = next((problem for problem in problems if problem), "")
        self.renderer.render(self.page, self.page_camera, flush=False)
        for panel in self.panels:
            panel.viewport.render(panel.scene, panel.camera)
        self.renderer.flush()
