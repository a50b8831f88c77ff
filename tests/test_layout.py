"""Where the panels of a comparison go: their captions, wrapped within them, have the room
they take (at 1280 x 720 a 2 x 2 grid's captions ran into each other and off the screen)."""

from __future__ import annotations

from functools import partial

import pytest

from dexplorer.scene.layout import CAPTION_SIZE, GLYPH_EM, layout, wrapped_lines

CAPTIONS = [
    "flow · euler 4\nED 3.74 ± 0.27x held-out\nstraightness 0.103 (0 = straight paths)",
    "diffusion · ddpm 100, class 1, w 3\nED 60.17 ± 2.11x held-out\n"
    "straightness 1.89 (0 = straight paths), with the sampler's noise",
]
WITH_NLL = [f"{caption}\nNLL 2.31 nats" for caption in CAPTIONS]


def test_wrapped_lines_break_at_words_and_within_long_words():
    em = GLYPH_EM * 10  # a font of 10 pixels: a glyph of this many
    assert wrapped_lines("abc def", 7 * em, 10) == 1
    assert wrapped_lines("abc def", 6 * em, 10) == 2
    assert wrapped_lines("abc def\nx", 3 * em, 10) == 3
    assert wrapped_lines("abcdefgh", 3 * em, 10) == 3  # a word wider than a line
    assert wrapped_lines("", 3 * em, 10) == 1


def lines(width: float, captions: list[str] = CAPTIONS) -> int:
    return max([3, *(wrapped_lines(text, width, CAPTION_SIZE) for text in captions)])


@pytest.mark.parametrize(
    "size", [(1280, 720), (1920, 1080), (1024, 768), (3840, 2160), (1600, 900), (1280, 600)]
)
@pytest.mark.parametrize("count", [2, 4])
@pytest.mark.parametrize("captions", [CAPTIONS, WITH_NLL])
def test_captions_have_the_room_they_take_and_nothing_overlaps(size, count, captions):
    """Wrapped within their panels where the room above them takes them so (at the panels'
    own width, as drawn), else unwrapped with the room of their own lines."""
    width, height = size
    counted = partial(lines, captions=captions)
    placed = layout(width, height, count, 290.0, 64.0, 1.0, 40.0, counted)
    rects = []
    for (x, y, w, h), (cx, cy) in zip(placed.panels, placed.captions, strict=True):
        assert cx == x and h == w
        needed = counted(placed.wrap or float("inf"))
        assert y - cy >= needed * CAPTION_SIZE * 1.2  # pygfx's line height
        rects.append((cx, cy, x + w, y + h))  # the caption and its panel
        assert x >= 290 and x + w <= width and cy >= 0 and y + h <= height - 64
    assert placed.wrap in (0.0, placed.panels[0][2])
    if (width, height) in ((1280, 720), (1920, 1080), (3840, 2160)) or count == 2:
        assert placed.wrap  # these are wrapped
    for index, (x0, y0, x1, y1) in enumerate(rects if placed.wrap else ()):
        for a0, b0, a1, b1 in rects[index + 1 :]:
            assert x1 <= a0 or a1 <= x0 or y1 <= b0 or b1 <= y0


def test_a_window_too_small_for_wrapped_captions_does_not_wrap_them():
    placed = layout(400, 260, 2, 0.0, 0.0, 1.0, 40.0, lines)
    assert placed.wrap == 0.0  # they run on to the right, not over the panels


def test_a_row_of_four_where_a_grid_would_leave_its_panels_smaller():
    row = layout(1280, 720, 4, 290.0, 64.0, 1.0, 40.0, lines)
    assert len({y for _, y, _, _ in row.panels}) == 1  # one row: wrapped captions fit above
    grid = layout(1920, 1080, 4, 290.0, 64.0, 1.0, 40.0, lines)
    assert len({y for _, y, _, _ in grid.panels}) == 2  # 2 x 2, as large as a row would be
    assert layout(1280, 720, 4, 290.0, 64.0).panels[0][1] != row.panels[0][1]  # 3 lines
