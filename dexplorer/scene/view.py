"""The view: 1, 2 or 4 panels on one renderer, with the side views beside a single panel and
captions over the panels of a grid, and one time label."""

from __future__ import annotations

import numpy as np
import pygfx as gfx

from ..core.datasets import DOMAIN
from .cache import CachedViews
from .density import DensityLayer
from .layout import CAPTION_SIZE, Layout, layout
from .overlays import DataLayer, PreviewLayer, SourceRings, TimeLabel
from .page import paint_page
from .panel import Panel
from .particles import panel_problem
from .release import forget_bindings
from .theme import Theme

PREVIEW_CAPACITY = 4000
DRAWING_CAPACITY = 100_000
STEERING = ("pointer_down", "pointer_move", "pointer_up", "wheel", "key_down", "key_up")
"""The events that pan and zoom (and ``before_render``, which moves the camera along)."""
SIDE_VIEWS = ("source", "data")
"""Views that change only with the data, the theme or their size (drawn from a cache)."""


def canvas_problem(size: tuple[int, int]) -> str:
    """Why a canvas of ``size`` pixels, drawn at its own pixels (offscreen), cannot be drawn
    on this device ('' when it can): its texture or a single panel's particle buffer (at its
    largest, without controls) would pass the device's limits."""
    largest = gfx.renderers.wgpu.get_shared().device.limits["max-texture-dimension-2d"]
    if max(size) > largest:
        return f"{size[0]}x{size[1]} pixels, more than the {largest} a side this GPU allows"
    _, _, width, height = layout(*size).panels[0]
    return panel_problem((max(int(width + 0.4999), 1), max(int(height + 0.4999), 1)))


def _camera() -> gfx.OrthographicCamera:
    camera = gfx.OrthographicCamera(2 * DOMAIN + 0.3, 2 * DOMAIN + 0.3, maintain_aspect=True)
    camera.local.position = (0, 0, 10)
    return camera


class View:
    """Owns the page (its colour, and for a grid the panels' frames and captions), the
    :class:`Panel` of each run (1, 2 or 4, sharing one camera and its pan-zoom controller: a
    drag or a wheel in any panel moves them all), the side views of a single panel (source
    and data, drawn from caches), the one time label, and the training preview and the
    drawing (over panel 0); draws them on a renderer.

    ``source_density``, ``data_density`` and ``data_points`` fill the side views; the panels
    are added with :meth:`add_panel` and laid out with :meth:`set_layout`.
    """

    def __init__(
        self,
        renderer: gfx.WgpuRenderer,
        theme: Theme,
        source_density: np.ndarray,
        data_density: np.ndarray,
        data_points: np.ndarray,
    ) -> None:
        self.renderer = renderer
        self.theme = theme
        paint_page(renderer, theme.background)  # the panels show the page through them
        self.camera = _camera()
        """The panels' camera."""
        self.controller = gfx.PanZoomController(self.camera)
        """Moves the camera for drags and wheels in any panel (see :meth:`_steer`)."""
        self._steering: gfx.Viewport | None = None
        renderer.add_event_handler(self._steer, *STEERING, "before_render")
        self.side_scenes = {name: gfx.Scene() for name in SIDE_VIEWS}
        self.side_cameras = {name: _camera() for name in SIDE_VIEWS}
        self.source_density = DensityLayer(source_density, DOMAIN, theme.source, "source")
        self.source_rings = SourceRings(theme.source)
        self.side_scenes["source"].add(*self.source_density.objects, *self.source_rings.objects)
        self.data_density = DensityLayer(data_density, DOMAIN, theme.data, "data")
        self.data_points = DataLayer(data_points, theme.data)
        self.side_scenes["data"].add(*self.data_density.objects, *self.data_points.objects)
        self.caches = CachedViews(renderer, SIDE_VIEWS, theme.background)
        self.time_label = TimeLabel(theme.text)
        self.preview = PreviewLayer(PREVIEW_CAPACITY, theme.particles, "particles")
        self.drawing = PreviewLayer(DRAWING_CAPACITY, theme.path, "path")
        self.page = gfx.Scene()  # a grid's page: drawn first, never empty (its frames)
        self.page_camera = gfx.NDCCamera()
        frame_material = gfx.LineMaterial(thickness=1.0, color=(*theme.frame, 1.0), aa=True)
        self.frames = gfx.Line(gfx.Geometry(positions=np.zeros((1, 3), np.float32)), frame_material)
        self.page.add(self.frames)
        self.panels: list[Panel] = []
        self.captions: list[gfx.Text] = []
        self.texts: list[str] = []
        """The captions' texts, as shown."""
        self.count = 1
        """How many panels are laid out."""
        self._placed: tuple | None = None
        self.problem = ""
        """Why the last frame could not draw some panel's particles ('' when it could)."""
        self.set_layout(layout(*renderer.logical_size))

    # --- panels -------------------------------------------------------------------------------

    def set_count(self, count: int) -> None:
        """Lay out ``count`` (1, 2 or 4) panels: the panels after the first ``count`` are
        dropped, missing ones are added with :meth:`add_panel`."""
        if count != self.count:
            self._placed = None  # the time label moves between the panel and the page
        self.count = count
        if len(self.panels) > count:
            for caption in self.captions[count:]:
                self.page.remove(caption)
            del self.panels[count:], self.captions[count:], self.texts[count:]
            self._steering = None
            forget_bindings()
        home = self.panels[0].scene if count == 1 and self.panels else self.page
        for text in (self.time_label.text, *self.captions[:1]):  # the single view's own
            if text.parent is not home:
                home.add(text)

    def add_panel(
        self,
        positions: np.ndarray,
        density: np.ndarray,
        data_points: np.ndarray,
        mesh_count: int,
        vector_count: int,
    ) -> Panel:
        """A new panel at the end, drawing from the engine's arrays."""
        panel = Panel(
            self.renderer,
            self.camera,
            self.theme,
            positions,
            density,
            data_points,
            mesh_count,
            vector_count,
        )
        if not self.panels:
            if self.count == 1:
                panel.scene.add(self.time_label.text)
            panel.scene.add(*self.preview.objects, *self.drawing.objects)
        caption = gfx.Text(
            text=" ",
            font_size=CAPTION_SIZE,
            screen_space=True,
            anchor="top-left",
            material=gfx.TextMaterial(color=(*self.theme.text, 1.0), pick_write=False),
        )
        (panel.scene if self.count == 1 and not self.panels else self.page).add(caption)
        if len(self.panels) < len(self.layout.panels):
            panel.viewport.rect = self.layout.panels[len(self.panels)]
        self.panels.append(panel)
        self.captions.append(caption)
        self.texts.append("")
        return panel

    def set_caption(self, index: int, text: str, scale: float) -> None:
        """The caption of panel ``index`` (in the single view, under the time label;
        re-laid out only when it changes)."""
        caption = self.captions[index]
        if caption.font_size != CAPTION_SIZE * scale:
            caption.font_size = CAPTION_SIZE * scale
        if caption.max_width != self.layout.wrap:  # wrapped within its panel
            caption.max_width = self.layout.wrap
        if self.texts[index] != text:
            caption.set_text(text)
            self.texts[index] = text

    def set_pan_zoom(self, enabled: bool) -> None:
        """Whether dragging and scrolling in a panel pans and zooms."""
        self.controller.enabled = enabled

    def _steer(self, event: gfx.Event) -> None:
        """Hand an event to the controller with the viewport of the panel it concerns: the
        panel under a press or a wheel, which a drag keeps until the next press (one
        controller for every panel: two moving one camera would undo each other)."""
        if event.type in ("pointer_down", "wheel"):
            index = self.panel_at(event.x, event.y)
            if index is None:
                return
            self._steering = self.panels[index].viewport
        viewport = self._steering or (self.panels[0].viewport if self.panels else None)
        if viewport is not None:
            self.controller.handle_event(event, viewport)

    def panel_at(self, x: float, y: float) -> int | None:
        """The index of the panel under canvas pixel (x, y) (``None`` outside every panel)."""
        inside = (i for i, panel in enumerate(self.panels) if panel.viewport.is_inside(x, y))
        return next(inside, None)

    # --- content ------------------------------------------------------------------------------

    def set_side_source(self, density: np.ndarray, points: np.ndarray | None) -> None:
        """Show a new source in the source side view: its density, and the Gaussian's rings
        or the shape's points (``points``; ``None`` for N(0, I))."""
        self.source_density.set_density(density)
        self.source_rings.set_source(points)
        self.caches["source"].mark_stale()

    def set_side_data(self, density: np.ndarray, points: np.ndarray) -> None:
        """Show a new dataset in the data side view (in the layers' own buffers and texture:
        replaced ones would stay alive in pygfx's caches)."""
        self.data_density.set_density(density)
        self.data_points.set_points(points)
        self.caches["data"].mark_stale()

    def set_layout(self, placed: Layout) -> None:
        """Place the panels, and for a grid the captions, frames and time label (logical
        pixels)."""
        self.layout = placed
        for panel, rect in zip(self.panels, placed.panels, strict=False):
            panel.viewport.rect = rect
        width, height = self.renderer.logical_size
        if self.count == 1 or (placed, (width, height)) == self._placed:
            return  # placed already (new frame geometry every frame would churn buffers)
        self._placed = (placed, (width, height))
        for caption, (x, y) in zip(self.captions, placed.captions, strict=False):
            caption.local.position = self._ndc(x, y, width, height)
        self.time_label.text.local.position = self._ndc(*placed.time, width, height)
        corners = []
        for x, y, w, h in placed.panels:
            box = [(x - 1, y - 1), (x + w, y - 1), (x + w, y + h), (x - 1, y + h), (x - 1, y - 1)]
            corners += [self._ndc(px, py, width, height) for px, py in box]
            corners.append((np.nan, np.nan, np.nan))
        self.frames.geometry = gfx.Geometry(positions=np.asarray(corners, np.float32))

    @staticmethod
    def _ndc(x: float, y: float, width: float, height: float) -> tuple[float, float, float]:
        return (2 * x / width - 1, 1 - 2 * y / height, 0.0)

    def set_theme(self, theme: Theme) -> None:
        """Recolour everything for another theme (the particles' colours are set apart)."""
        self.theme = theme
        paint_page(self.renderer, theme.background)
        self.caches.mark_stale(theme.background)
        side = (self.source_density, self.source_rings, self.data_density, self.data_points)
        for layer in (*side, self.time_label, self.preview, self.drawing):
            layer.set_theme(theme)
        for panel in self.panels:
            panel.set_theme(theme)
        self.frames.material.color = (*theme.frame, 1.0)
        for caption in self.captions:
            caption.material.color = (*theme.text, 1.0)

    def world_to_screen(self, points: np.ndarray, index: int = 0) -> np.ndarray:
        """Logical pixel positions in the canvas of world points in panel ``index``."""
        return self.panels[index].world_to_screen(points)

    def screen_to_world(self, sx: float, sy: float, index: int = 0) -> tuple[float, float]:
        """The world point in panel ``index`` under canvas pixel (sx, sy)."""
        return self.panels[index].screen_to_world(sx, sy)

    def render(self) -> None:
        """Draw the page (a grid), the panels, then the side views (one panel); the caller
        adds the UI on top."""
        problems = [panel.fit() for panel in self.panels]
        self.problem = next((problem for problem in problems if problem), "")
        if self.count == 1:
            world = self.screen_to_world(*self.layout.time)
            self.time_label.text.local.position = (*world, 1)
            x, y = self.layout.time  # the single view's caption, under the time label
            below = self.screen_to_world(x, y + 1.3 * self.time_label.text.font_size)
            self.captions[0].local.position = (*below, 1)
        else:
            self.renderer.render(self.page, self.page_camera, flush=False)
        for panel in self.panels:
            panel.render()  # the first (single view) clears the frame: the time label is in it
        if self.count == 1:
            rects = {"source": self.layout.source, "data": self.layout.data}
            self.caches.render(rects, self.side_scenes, self.side_cameras)
        self.renderer.flush()
