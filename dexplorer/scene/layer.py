"""The base of every layer of the scene: its world objects, its visibility and its colour."""

from __future__ import annotations

import pygfx as gfx

from .theme import Theme

Color = tuple[float, float, float]


class Layer:
    """Owns a few world objects drawn together (``objects``), whether they are shown, and
    the one colour of the theme they take (``role``, a :class:`Theme` field; '' for none):
    :meth:`set_theme` recolours them only when that colour changed."""

    role = ""

    def __init__(self, color: Color | None = None, role: str | None = None) -> None:
        if role is not None:
            self.role = role
        self.color = color
        self.visible = True

    @property
    def objects(self) -> list[gfx.WorldObject]:
        """The world objects to add to a scene."""
        return []

    def set_visible(self, visible: bool) -> None:
        self.visible = bool(visible)
        for item in self.objects:
            item.visible = self.visible

    def set_theme(self, theme: Theme) -> None:
        """Take this layer's colour of ``theme`` (nothing is written when it is the same)."""
        if self.role:
            color = tuple(getattr(theme, self.role))
            if color != self.color:
                self.set_color(color)

    def set_color(self, color: Color) -> None:
        """Colour every object's material (opaque; the material's opacity fades it)."""
        self.color = tuple(color)
        for item in self.objects:
            item.material.color = (*color, 1.0)
