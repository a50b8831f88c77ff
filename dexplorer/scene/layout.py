"""Where the panels go: one panel with the side views beside it, or 2 panels in a row or 4 in
a 2 x 2 grid with a caption above each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

GAP = 14.0
CAPTION_SIZE = 18.0
"""Caption font size at scale 1 (logical pixels)."""
CAPTION_LINES = 3
"""Lines of a caption: the run, its quality, its straightness (a layer may add more: the
model density adds the NLL)."""
GLYPH_EM = 0.55
"""A glyph's width in ems as a caption's wrapped lines are counted: wider than the captions'
font's average (about 0.47), so that the room kept is not short of the lines drawn."""
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
    wrap: float = 0.0
    """The width the captions wrap within (0: none; they run on to the right where the
    room above the panels could not take them wrapped)."""


def layout(
    width: float,
    height: float,
    count: int = 1,
    left: float = 0.0,
    bottom: float = 0.0,
    scale: float = 1.0,
    label_size: float = 40.0,
    caption_lines: int | Callable[[float], int] = CAPTION_LINES,
) -> Layout:
    """The arrangement of ``count`` (1, 2 or 4) panels in the area not taken by the UI
    (``left`` pixels of controls, ``bottom`` pixels of time bar); ``scale``,
    ``label_size`` and ``caption_lines`` (a number, or the lines the captions take wrapped
    within a panel of a width) size the captions and the room for the time label of a
    grid."""
    if count == 1:
        return _single(width, height, left, bottom)
    lines = caption_lines if callable(caption_lines) else lambda _: caption_lines
    return _grid(width, height, count, left, bottom, scale, label_size, lines)


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


ARRANGEMENTS = {2: ((2, 1), (1, 2)), 4: ((2, 2), (4, 1))}
"""The (columns, rows) a grid of 2 or 4 panels may take: the first unless another makes the
panels larger by more than :data:`PREFERENCE` (a row of 4 on a wide screen, where captions
wrapped within a 2 x 2 grid's panels would take the room of the panels)."""
PREFERENCE = 1.05
CAPTION_SHARE = 0.4
"""The share of the height the captions of a row of panels may take."""


def _grid(
    width: float,
    height: float,
    count: int,
    left: float,
    bottom: float,
    scale: float,
    label_size: float,
    caption_lines: Callable[[float], int],
) -> Layout:
    """Square panels, as large as they fit with their captions (wrapped within them) above
    them, in the arrangement of :data:`ARRANGEMENTS` where they are largest. The time label
    goes above the grid or to its left, wherever the panels come out larger."""
    area_w, area_h = max(width - left, 1.0), max(height - bottom, 1.0)
    label_h, label_w = label_size * 1.25, label_size * 4.0

    def caption(lines: int) -> float:
        return lines * CAPTION_SIZE * scale * 1.3 + 4

    def side(grid: tuple[int, int], extra_w: float, extra_h: float, lines: int) -> float:
        columns, rows = grid
        w = (area_w - extra_w - GAP * (columns + 1)) / columns
        h = (area_h - extra_h - GAP * (rows + 1)) / rows - caption(lines)
        return max(min(w, h), 1.0)

    unwrapped = caption_lines(float("inf"))

    def fitted(grid: tuple[int, int], extra_w: float, extra_h: float) -> tuple[float, int, bool]:
        """The panels' side with room for their captions wrapped at the (even) side that
        room leaves, and whether they fit so, the captions of a row taking at most
        :data:`CAPTION_SHARE` of the height; else the side with room for their lines
        unwrapped."""
        most = int(CAPTION_SHARE * area_h / grid[1] / caption(1))
        lines = unwrapped
        while True:  # the lines only grow, up to the most
            size = side(grid, extra_w, extra_h, lines)
            needed = caption_lines(_even(size - 1))
            if needed <= lines:
                return size, lines, True
            if needed > most:
                return side(grid, extra_w, extra_h, unwrapped), unwrapped, False
            lines = needed

    choices = []
    for rank, grid in enumerate(ARRANGEMENTS[count]):
        for offset in ((0.0, label_h), (label_w, 0.0)):  # the label above, or beside
            size, lines, fits = fitted(grid, *offset)
            favoured = size * (1.0 if rank else PREFERENCE)  # the usual grid, unless...
            choices.append((fits, favoured, -len(choices), size, grid, offset, lines))
    fits, _, _, size, (columns, rows), (offset_x, offset_y), lines = max(choices)
    # Even pixel offsets and sizes: every panel rasterises alike (2 x 2 pixel quads included).
    size, room = _even(size - 1), _even(caption(lines) + 1)
    grid_w = columns * size + (columns - 1) * GAP
    grid_h = rows * (size + room) + (rows - 1) * GAP
    x0 = _even(left + offset_x + (area_w - offset_x - grid_w) / 2)
    y0 = _even(offset_y + (area_h - offset_y - grid_h) / 2)
    panels, captions = [], []
    for index in range(count):
        row, column = divmod(index, columns)
        x = x0 + column * (size + GAP)
        y = y0 + row * (size + room + GAP)
        captions.append((x, y))
        panels.append((x, y + room, size, size))
    time = (x0, y0 - label_h) if offset_y else (x0 - label_w, y0 + room)
    return Layout(tuple(panels), time, captions=tuple(captions), wrap=size if fits else 0.0)


def _even(value: float) -> float:
    """The even whole number at or below ``value`` (at least 2)."""
    return float(max(2 * int(value / 2), 2))


def wrapped_lines(text: str, width: float, font_size: float) -> int:
    """The lines ``text`` takes wrapped at words within ``width`` pixels (each of its own
    lines one at least), each glyph :data:`GLYPH_EM` ems wide."""
    per_line = max(int(min(width, 1e9) / (GLYPH_EM * font_size)), 1)  # inf: unwrapped
    count = 0
    for line in text.split("\n"):
        count, used = count + 1, 0
        for word in line.split(" "):
            if used and used + 1 + len(word) <= per_line:
                used += 1 + len(word)
                continue
            count += bool(used) + max(len(word) - 1, 0) // per_line  # a new line, and more
            used = (len(word) - 1) % per_line + 1 if word else 0  # for a long word
    return count
