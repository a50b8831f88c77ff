"""Where the panels go: one panel with the side views beside it, or 2 panels in a row or 4 in
a 2 x 2 grid with a caption above each."""

from __future__ import annotations

from dataclasses import dataclass

GAP = 14.0
CAPTION_SIZE = 18.0
"""Caption font size at scale 1 (logical pixels)."""
CAPTION_LINES = 3
"""Lines of a caption: the run, its quality, its straightness (a layer may add more: the
model density adds the NLL)."""
LABEL_INSET = (12.0, 8.0)
"""Where the time label sits inside a single panel, from its top-left corner."""

Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class Layout:
    """Where things go, in logical pixels: the panels' (x, y, w, h) rects and the top-left
    corner of the time label; with one panel the side views' rects (``source``, ``data``),
    with more the top-left corners of the panels' captions."""

    panels: tuple[Rect, ...]
    time: tuple[float, float]
    source: Rect | None = None
    data: Rect | None = None
    captions: tuple[tuple[float, float], ...] = ()


def layout(
    width: float,
    height: float,
    count: int = 1,
    left: float = 0.0,
    bottom: float = 0.0,
    scale: float = 1.0,
    label_size: float = 40.0,
    caption_lines: int = CAPTION_LINES,
) -> Layout:
    """The arrangement of ``count`` (1, 2 or 4) panels in the area not taken by the UI
    (``left`` pixels of controls, ``bottom`` pixels of time bar); ``scale``,
    ``label_size`` and ``caption_lines`` size the captions and the room for the time label
    of a grid."""
    if count == 1:
        return _single(width, height, left, bottom)
    return _grid(width, height, count, left, bottom, scale, label_size, caption_lines)


def _single(width: float, height: float, left: float, bottom: float) -> Layout:
    """The original's arrangement: a small source view on the left, the panel large in the
    centre with the time label inside its top-left corner, a small data view on the right."""
    area_w, area_h = max(width - left, 1.0), max(height - bottom, 1.0)
    side = min(area_h * 0.42, area_w * 0.2)
    main = min(area_h, area_w - 2 * side - 16)
    main = max(main, 1.0)
    x0 = left + (area_w - main - 2 * side - 16) / 2
    y_side = (area_h - side) / 2
    x, y = x0 + side + 8, (area_h - main) / 2
    return Layout(
        panels=((x, y, main, main),),
        time=(x + LABEL_INSET[0], y + LABEL_INSET[1]),
        source=(x0, y_side, side, side),
        data=(x0 + side + main + 16, y_side, side, side),
    )


def _grid(
    width: float,
    height: float,
    count: int,
    left: float,
    bottom: float,
    scale: float,
    label_size: float,
    caption_lines: int,
) -> Layout:
    """Square panels, as large as they fit, in one row of 2 or a 2 x 2 grid, each with room
    for its caption above it. The time label goes above the grid or to its left, wherever
    the panels come out larger."""
    columns, rows = (2, 1) if count == 2 else (2, 2)
    caption = caption_lines * CAPTION_SIZE * scale * 1.3 + 4
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
    return Layout(tuple(panels), time, captions=tuple(captions))


def _even(value: float) -> float:
    """The even whole number at or below ``value`` (at least 2)."""
    return float(max(2 * int(value / 2), 2))
