"""Per-particle colours (uniform, by class label, or by starting position), and the sRGB to
linear-light conversion of the colours the shaders blend."""

from __future__ import annotations

import numpy as np

CLASS_PALETTE = np.array(
    [
        (0.95, 0.45, 0.05),
        (0.2, 0.45, 0.85),
        (0.2, 0.65, 0.3),
        (0.85, 0.2, 0.45),
        (0.55, 0.35, 0.8),
        (0.6, 0.45, 0.25),
        (0.9, 0.75, 0.1),
        (0.2, 0.7, 0.75),
    ],
    dtype=np.float32,
)
COLOR_MODES = ("uniform", "class", "start")


def srgb_to_linear(color: tuple[float, ...]) -> tuple[float, ...]:
    """An sRGB colour (0..1 channels) in linear light, as the render targets blend."""
    return tuple(float(c) for c in linear_values(np.asarray(color, float)))


def linear_values(srgb: np.ndarray) -> np.ndarray:
    """sRGB channel values (0..1, an array) in linear light."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def srgb_values(linear: np.ndarray) -> np.ndarray:
    """Linear channel values (0..1, an array) in sRGB."""
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB, all in 0..1; returns (n, 3)."""
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, w = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([(v, w, p), (q, v, p), (p, v, w), (p, q, v), (w, p, v), (v, p, q)])
    return np.take_along_axis(table.transpose(2, 0, 1), i[:, None, None], axis=1)[:, 0]


def particle_colors(
    mode: str,
    count: int,
    uniform: tuple[float, float, float],
    labels: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """RGB colours (count, 3) for a colour mode; falls back to uniform when the mode's
    information (labels or starting points) is missing."""
    if mode == "class" and labels is not None:
        return CLASS_PALETTE[np.asarray(labels) % len(CLASS_PALETTE)]
    if mode == "start" and start is not None:
        angle = (np.arctan2(start[:, 1], start[:, 0]) / (2 * np.pi)) % 1.0
        radius = np.clip(np.hypot(start[:, 0], start[:, 1]) / 2.5, 0.15, 1.0)
        return hsv_to_rgb(angle, radius, np.full(count, 0.9)).astype(np.float32)
    return np.tile(np.asarray(uniform, dtype=np.float32), (count, 1))
