"""Colours of the scene: a light page like the original tool, and a dark projector theme."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Theme:
    """The few colours the scene uses (RGB in 0..1)."""

    name: str
    background: tuple[float, float, float]
    particles: tuple[float, float, float]
    density: tuple[float, float, float]
    source: tuple[float, float, float]
    data: tuple[float, float, float]
    path: tuple[float, float, float]
    mesh: tuple[float, float, float]
    vectors: tuple[float, float, float]
    guess: tuple[float, float, float]
    """The denoiser's guesses x1_hat and the lines to them."""
    text: tuple[float, float, float]
    frame: tuple[float, float, float]
    likelihood: tuple[float, float, float]
    """The model's own density (apart from the particles' orange and the data's blue)."""
    streaks: tuple[float, float, float]


LIGHT = Theme(
    name="light",
    background=(1.0, 1.0, 1.0),
    particles=(0.95, 0.45, 0.05),
    density=(0.95, 0.45, 0.05),
    source=(0.25, 0.45, 0.85),
    data=(0.25, 0.45, 0.85),
    path=(0.85, 0.3, 0.0),
    mesh=(0.45, 0.45, 0.5),
    vectors=(0.2, 0.3, 0.55),
    guess=(0.55, 0.15, 0.7),
    text=(0.1, 0.1, 0.12),
    frame=(0.82, 0.84, 0.88),
    likelihood=(0.55, 0.2, 0.75),
    streaks=(0.12, 0.18, 0.32),
)
DARK = Theme(
    name="dark",
    background=(0.07, 0.08, 0.1),
    particles=(1.0, 0.6, 0.2),
    density=(1.0, 0.55, 0.15),
    source=(0.4, 0.6, 1.0),
    data=(0.4, 0.6, 1.0),
    path=(1.0, 0.85, 0.3),
    mesh=(0.55, 0.6, 0.7),
    vectors=(0.6, 0.75, 1.0),
    guess=(0.85, 0.5, 1.0),
    text=(0.95, 0.95, 0.95),
    frame=(0.25, 0.27, 0.32),
    likelihood=(0.8, 0.55, 1.0),
    streaks=(0.62, 0.68, 0.8),
)
HIGH_CONTRAST = Theme(
    name="high contrast",
    background=(0.0, 0.0, 0.0),
    particles=(1.0, 0.9, 0.0),
    density=(1.0, 0.85, 0.0),
    source=(0.2, 0.85, 1.0),
    data=(0.2, 0.85, 1.0),
    path=(1.0, 1.0, 1.0),
    mesh=(0.85, 0.85, 0.85),
    vectors=(0.4, 1.0, 0.4),
    guess=(1.0, 0.35, 1.0),
    text=(1.0, 1.0, 1.0),
    frame=(1.0, 1.0, 1.0),
    likelihood=(1.0, 0.35, 1.0),
    streaks=(0.7, 0.75, 0.85),
)
THEMES = {theme.name: theme for theme in (LIGHT, DARK, HIGH_CONTRAST)}
