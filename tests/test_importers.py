"""Tests for loading custom datasets from CSV, JSON and image files."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from dexplorer.core import importers
from dexplorer.core.datasets import DOMAIN, IDENTITY, Dataset, DatasetError, Normalisation
from dexplorer.core.importers import DatasetWarning, load_dataset_file

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def _disc_image(
    width: int, height: int, centre: tuple[float, float], radius: float, rgba: bool = False
) -> np.ndarray:
    """Black disc (col, row centre) on white, or on transparent when `rgba`."""
    rows, cols = np.mgrid[0:height, 0:width]
    inside = (cols + 0.5 - centre[0]) ** 2 + (rows + 0.5 - centre[1]) ** 2 <= radius**2
    if not rgba:
        return np.where(inside, 0, 255).astype(np.uint8)
    img = np.zeros((height, width, 4), np.uint8)  # transparent black everywhere
    img[inside, 3] = 255  # only the disc is opaque
    return img


def _to_domain(col: float, row: float, width: int, height: int) -> np.ndarray:
    scale = 6.0 / max(width, height)
    return np.array([(col - width / 2) * scale, (height / 2 - row) * scale])


def _check_ok(ds: Dataset) -> None:
    assert ds.name == "custom"
    assert len(ds) >= 2
    assert ds.points.dtype == np.float32
    assert np.abs(ds.points).max() <= DOMAIN


# --------------------------------------------------------------------------- CSV


def test_csv_round_trip_plain(tmp_path: Path) -> None:
    pts = np.array([[0.5, -1.25], [2.0, 3.0], [-3.4, 0.0]])
    text = "\n".join(f"{x},{y}" for x, y in pts) + "\n"
    ds = load_dataset_file(_write(tmp_path / "my_points.csv", text))
    _check_ok(ds)
    assert ds.title == "my_points"
    np.testing.assert_array_equal(ds.points, pts.astype(np.float32))
    assert ds.labels is None and ds.class_names == ()


def test_csv_header_labels_blank_lines_crlf_bom(tmp_path: Path) -> None:
    text = "\ufeffx, y, label\r\n\r\n1,2,0\r\n 3 , 1e-1 , 2\r\n\r\n-1,-2,2.0\r\n"
    ds = load_dataset_file(_write(tmp_path / "lab.CSV", text))
    np.testing.assert_allclose(ds.points, [[1, 2], [3, 0.1], [-1, -2]], rtol=1e-6)
    # labels renumbered 0..K-1 in order, named after the file's labels
    assert ds.labels.tolist() == [0, 1, 1]
    assert ds.class_names == ("class 0", "class 2")


def test_csv_many_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(-3, 3, (20000, 2))
    labels = rng.integers(0, 4, 20000)
    path = tmp_path / "big.csv"
    np.savetxt(path, np.column_stack([pts, labels]), delimiter=",", fmt=["%.9g", "%.9g", "%d"])
    ds = load_dataset_file(path)
    np.testing.assert_allclose(ds.points, pts, rtol=1e-6)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.class_names == ("class 0", "class 1", "class 2", "class 3")


# --------------------------------------------------------------------------- JSON


def test_json_object_round_trip(tmp_path: Path) -> None:
    doc = {"points": [[0, 1], [1.5, -2], [3, 3]], "labels": [1, 0, 1], "note": "extra ok"}
    ds = load_dataset_file(_write(tmp_path / "shape.json", json.dumps(doc)))
    _check_ok(ds)
    assert ds.title == "shape"
    np.testing.assert_array_equal(ds.points, np.array(doc["points"], np.float32))
    assert ds.labels.tolist() == [1, 0, 1] and ds.num_classes == 2


def test_json_bare_list_and_null_labels(tmp_path: Path) -> None:
    ds = load_dataset_file(_write(tmp_path / "a.json", "[[0, 0], [1, 1]]"))
    assert ds.labels is None and len(ds) == 2
    ds = load_dataset_file(_write(tmp_path / "b.json", '{"points": [[0,0],[1,1]], "labels": null}'))
    assert ds.labels is None


# --------------------------------------------------------------------------- images

W, H, CENTRE, R = 120, 80, (35.0, 25.0), 15.0


@pytest.mark.parametrize("rgba", [False, True])
def test_png_disc_round_trip(tmp_path: Path, rgba: bool) -> None:
    path = tmp_path / "disc.png"
    iio.imwrite(path, _disc_image(W, H, CENTRE, R, rgba))
    ds = load_dataset_file(path, image_points=3000, seed=1)
    _check_ok(ds)
    assert len(ds) == 3000 and ds.title == "disc" and ds.labels is None
    centre = _to_domain(*CENTRE, W, H)
    assert centre[0] < 0 < centre[1]  # upper-left of the picture: left and up
    scale = 6.0 / W
    dist = np.linalg.norm(ds.points - centre, axis=1)
    assert dist.max() <= (R + 1.5) * scale  # every point inside the disc (plus a pixel)
    np.testing.assert_allclose(ds.points.mean(axis=0), centre, atol=0.05)
    assert np.median(dist) > 0.6 * R * scale  # the disc is filled, not just its centre


def test_image_longest_side_spans_domain(tmp_path: Path) -> None:
    path = tmp_path / "black.png"
    iio.imwrite(path, np.zeros((40, 60), np.uint8))  # 3:2 landscape, all dark
    ds = load_dataset_file(path, image_points=20000)
    x, y = ds.points[:, 0], ds.points[:, 1]
    assert -3.0 <= x.min() < -2.95 and 2.95 < x.max() <= 3.0
    assert -2.0 <= y.min() < -1.95 and 1.95 < y.max() <= 2.0


def test_image_seeded(tmp_path: Path) -> None:
    path = tmp_path / "d.png"
    iio.imwrite(path, _disc_image(W, H, CENTRE, R))
    a, b = load_dataset_file(path, seed=3), load_dataset_file(path, seed=3)
    np.testing.assert_array_equal(a.points, b.points)
    assert len(a) == 5000
    assert not np.array_equal(a.points, load_dataset_file(path, seed=4).points)


def test_jpeg_disc(tmp_path: Path) -> None:
    path = tmp_path / "disc.jpeg"
    rgb = np.repeat(_disc_image(W, H, CENTRE, R)[..., None], 3, axis=2)
    iio.imwrite(path, rgb, quality=95)
    ds = load_dataset_file(path, image_points=2000)
    dist = np.linalg.norm(ds.points - _to_domain(*CENTRE, W, H), axis=1)
    assert dist.max() <= (R + 3) * 6.0 / W  # JPEG blurs edges a little


def test_png_16bit_gray(tmp_path: Path) -> None:
    img = np.full((50, 50), 65535, np.uint16)
    img[:, :10] = 20000  # dark strip on the left (luminance 0.31)
    img[:, 40:] = 40000  # light strip on the right (0.61): not dark
    path = tmp_path / "deep.png"
    iio.imwrite(path, img)
    ds = load_dataset_file(path, image_points=500)
    assert ds.points[:, 0].max() <= -3.0 + 10 * 6 / 50 + 1e-6


def test_transparent_dark_pixels_ignored(tmp_path: Path) -> None:
    img = np.zeros((30, 30, 4), np.uint8)  # black, alpha 0
    img[10:20, 10:20, 3] = 255
    path = tmp_path / "alpha.png"
    iio.imwrite(path, img)
    ds = load_dataset_file(path, image_points=500)
    assert np.abs(ds.points).max() <= 1.0 + 1e-6  # only the opaque middle square


# --------------------------------------------------------------------------- fixes with warnings


def test_rescale_outside_domain_keeps_aspect(tmp_path: Path) -> None:
    pts = np.array([[100.0, 10.0], [300.0, 60.0], [200.0, 30.0]])
    path = _write(tmp_path / "far.csv", "\n".join(f"{x},{y}" for x, y in pts))
    with pytest.warns(DatasetWarning, match=r"far\.csv.*rescaled"):
        ds = load_dataset_file(path)
    np.testing.assert_allclose(ds.points, [[-3, -0.75], [3, 0.75], [0, -0.15]], atol=1e-6)


def test_rescale_huge_values(tmp_path: Path) -> None:
    path = _write(tmp_path / "huge.json", "[[-1e308, 0], [1e308, 1e308]]")
    with pytest.warns(DatasetWarning):
        ds = load_dataset_file(path)
    np.testing.assert_allclose(ds.points, [[-3, -1.5], [3, 1.5]], atol=1e-6)


def test_no_warning_inside_domain(tmp_path: Path) -> None:
    path = _write(tmp_path / "in.csv", "3.5,-3.5\n0,0\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset_file(path)
    assert ds.points.tolist() == [[3.5, -3.5], [0.0, 0.0]]
    assert ds.normalisation is IDENTITY or ds.normalisation.identity


# --------------------------------------------------------------------------- coordinates


def test_rescaled_file_keeps_its_coordinates(tmp_path: Path) -> None:
    pts = np.array([[6.0, 7.0], [15.0, 9.0], [9.0, 15.0], [12.0, 6.5]])
    path = _write(tmp_path / "far.csv", "\n".join(f"{x},{y}" for x, y in pts))
    with pytest.warns(DatasetWarning, match="mapped back"):
        ds = load_dataset_file(path)
    # centre of the box (10.5, 10.75); half of the longest side 4.5 -> 3: scale 2/3
    assert ds.normalisation == Normalisation((10.5, 10.75), (2 / 3, 2 / 3))
    np.testing.assert_allclose(ds.points, (pts - [10.5, 10.75]) * 2 / 3, atol=1e-6)
    np.testing.assert_allclose(ds.normalisation.to_file(ds.points), pts, atol=1e-5)


def test_y_down_rescaled_file_is_turned_over(tmp_path: Path) -> None:
    pts = np.array([[6.0, 7.0], [15.0, 9.0], [9.0, 15.0]])  # y down: (9, 15) at the bottom
    path = _write(tmp_path / "screen.csv", "\n".join(f"{x},{y}" for x, y in pts))
    with pytest.warns(DatasetWarning):
        ds = load_dataset_file(path, y_down=True)
    assert ds.normalisation == Normalisation((10.5, 11.0), (2 / 3, -2 / 3))
    assert ds.points[2, 1] == pytest.approx(-8 / 3)  # the bottom of the screen is low
    np.testing.assert_allclose(ds.normalisation.to_file(ds.points), pts, atol=1e-5)


def test_y_down_inside_domain_only_turns_over(tmp_path: Path) -> None:
    path = _write(tmp_path / "in.json", '{"points": [[1, 2], [-3.5, -0.5]], "labels": [4, 7]}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset_file(path, y_down=True)
    assert ds.points.tolist() == [[1.0, -2.0], [-3.5, 0.5]]
    assert ds.normalisation == Normalisation(scale=(1.0, -1.0))
    assert ds.labels.tolist() == [0, 1]


def test_original_tool_json_opens_the_right_way_up(original_smiley) -> None:
    smiley = original_smiley
    upright = load_dataset_file(smiley.path, y_down=True).points
    eyes, mouth = upright[smiley.eyes, 1], upright[smiley.mouth, 1]
    assert eyes.min() > mouth.max() + 1.0  # the eyes above the mouth
    assert upright[smiley.corners, 1].min() > upright[smiley.middle, 1] + 0.3  # a smile
    frown = load_dataset_file(smiley.path).points  # its orientation not given: upside down
    assert frown[smiley.eyes, 1].max() < frown[smiley.mouth, 1].min()


def test_y_down_changes_nothing_for_images(tmp_path: Path) -> None:
    path = tmp_path / "d.png"
    iio.imwrite(path, _disc_image(W, H, CENTRE, R))
    plain, flagged = load_dataset_file(path), load_dataset_file(path, y_down=True)
    np.testing.assert_array_equal(plain.points, flagged.points)
    assert flagged.normalisation.identity


def test_subsample_over_max_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importers, "MAX_POINTS", 10)
    rows = "\n".join(f"{i / 100},{-i / 100},{i % 3}" for i in range(25))
    path = _write(tmp_path / "many.csv", rows)
    with pytest.warns(DatasetWarning, match="subsampled to 10"):
        ds = load_dataset_file(path, seed=2)
    assert len(ds) == 10
    # labels stay with their points: label == row index % 3, row index == 100 * x
    rows_kept = np.rint(ds.points[:, 0].astype(np.float64) * 100).astype(int)
    assert len(set(rows_kept.tolist())) == 10
    np.testing.assert_array_equal(ds.points[:, 1], -ds.points[:, 0])
    assert [ds.class_names[k] for k in ds.labels] == [f"class {r % 3}" for r in rows_kept]


def test_real_million_cap(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    iio.imwrite(path, _disc_image(20, 20, (10.0, 10.0), 6.0))
    with pytest.warns(DatasetWarning, match="1,000,000"):
        ds = load_dataset_file(path, image_points=importers.MAX_POINTS + 7)
    assert len(ds) == importers.MAX_POINTS


# --------------------------------------------------------------------------- errors

BAD_TEXT = [
    ("empty.csv", "", "empty"),
    ("blank.csv", "  \n\n \n", "empty"),
    ("empty.json", "", "empty"),
    ("cols.csv", "1,2\n3,4\n5,6,7\n", "line 3: found 3 columns; expected 2"),
    ("cols1.csv", "1\n2\n", "line 1: found 1 columns; expected 2 .* or 3"),
    ("cols4.csv", "x,y,a,b\n1,2,3,4\n", "line 1: found 4 columns"),
    ("header_cols.csv", "x,y,label\n1,2\n", "line 2: found 2 columns; expected 3"),
    ("nonnum.csv", "x,y\n1,2\n\n3,abc\n", "line 4, column 2: got 'abc'; expected a number"),
    ("mixed_first.csv", "1,y\n1,2\n", "line 1, column 2"),
    ("emptyfield.csv", "1,2\n,2\n", "line 2, column 1"),
    ("nan.csv", "1,2\nnan,2\n", "line 2, column 1: got 'nan'; expected a finite"),
    ("inf.csv", "1,2\n1,-inf\n", "line 2, column 2: .*finite"),
    ("one.csv", "1,2\n", "found 1 point.*at least 2"),
    ("header_only.csv", "x,y\n", "found 0 point.*at least 2"),
    ("neg_label.csv", "1,2,0\n1,2,-1\n", "line 2, column 3: label '-1'"),
    ("frac_label.csv", "1,2,0.5\n1,2,1\n", "line 1, column 3: label '0.5'"),
    ("text_label.csv", "1,2,0\n1,2,cat\n", "line 2, column 3: got 'cat'; expected a label"),
    ("bad.json", '{"points": [[0, 0],\n [1, 1]', "invalid JSON at line 2, column"),
    ("trailing.json", "[[0, 0], [1, 1]] x", "invalid JSON at line 1, column 18"),
    ("deep.json", "[" * 100000, "invalid JSON"),
    ("nokey.json", '{"pts": [[0, 0], [1, 1]]}', 'expected an object with a "points" field'),
    ("scalar.json", "42", "top level is int"),
    ("notlist.json", '{"points": {"x": 1}}', "field 'points' is dict; expected a list"),
    ("triple.json", '{"points": [[0, 0], [1, 2, 3]]}', r"field 'points\[1\]'.*expected \[x, y\]"),
    ("strcoord.json", '[[0, "1"], [1, 1]]', r"'points\[0\]\[1\]' is '1'; expected a number"),
    ("boolcoord.json", "[[0, true], [1, 1]]", r"'points\[0\]\[1\]' is True"),
    ("nanjson.json", "[[0, 0], [NaN, 1]]", r"'points\[1\]\[0\]' is nan; expected a finite"),
    ("bigint.json", "[[0, 0], [1" + "0" * 400 + ", 1]]", r"'points\[1\]\[0\]'.*finite"),
    ("onejson.json", "[[0, 0]]", "found 1 point.*at least 2"),
    ("labcount.json", '{"points": [[0,0],[1,1]], "labels": [0]}', "'labels' has 1 entries"),
    ("labneg.json", '{"points": [[0,0],[1,1]], "labels": [0, -2]}', r"'labels\[1\]' is -2"),
    ("labfrac.json", '{"points": [[0,0],[1,1]], "labels": [0.5, 1]}', r"'labels\[0\]' is 0.5"),
    ("labstr.json", '{"points": [[0,0],[1,1]], "labels": ["a", "b"]}', r"'labels\[0\]' is 'a'"),
    ("labtype.json", '{"points": [[0,0],[1,1]], "labels": 3}', "'labels' is int; expected a list"),
]


@pytest.mark.parametrize(("name", "content", "match"), BAD_TEXT, ids=[b[0] for b in BAD_TEXT])
def test_bad_text_files(tmp_path: Path, name: str, content: str, match: str) -> None:
    path = _write(tmp_path / name, content)
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset_file(path)
    assert str(info.value).startswith(str(path))


def test_a_huge_label_is_renumbered_without_allocating_for_it(tmp_path: Path) -> None:
    ds = load_dataset_file(_write(tmp_path / "big_label.csv", "0,0,0\n1,1,1e10\n0.5,0.5,0\n"))
    assert ds.labels.tolist() == [0, 1, 0]
    assert ds.class_names == ("class 0", "class 10000000000")


def test_too_many_classes(tmp_path: Path) -> None:
    rows = "\n".join(f"0,0,{k}" for k in range(300))
    with pytest.raises(DatasetError, match="300 distinct labels; expected at most 256"):
        load_dataset_file(_write(tmp_path / "classes.csv", rows))


def test_not_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path / "latin.csv", b"1,2\n3,\xe9\n")
    with pytest.raises(DatasetError, match=r"latin\.csv: byte 6 is not valid UTF-8"):
        load_dataset_file(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope\.csv: file not found"):
        load_dataset_file(tmp_path / "nope.csv")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(DatasetError, match=r"dir\.json: is a directory"):
        load_dataset_file(tmp_path / "dir.json")


def test_special_files_are_refused_unread(tmp_path: Path) -> None:
    """A FIFO would make the reader wait for a writer forever; a device streams forever."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(DatasetError, match=r"pipe\.csv: is a FIFO \(named pipe\)"):
        load_dataset_file(fifo)
    device = tmp_path / "zero.csv"
    device.symlink_to("/dev/zero")
    with pytest.raises(DatasetError, match=r"zero\.csv: is a character device"):
        load_dataset_file(device)


@pytest.mark.parametrize("name", ["big.csv", "big.json", "big.png"])
def test_a_file_over_the_limit_is_refused_from_its_size(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with open(path, "wb") as file:
        file.truncate(2 << 30)  # sparse: 2 GiB that take no disk and are never read
    with pytest.raises(DatasetError, match="file is 2 GiB; expected at most 64 MiB"):
        load_dataset_file(path)


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path: Path) -> None:
    """12000 x 12000 of one colour compresses to a few KB; decoding it took 6 GB."""
    path = tmp_path / "big.png"
    Image.new("1", (12000, 12000)).save(path)
    assert path.stat().st_size < 100_000
    with pytest.raises(DatasetError, match="12000 x 12000 = 144,000,000 pixels; expected at most"):
        load_dataset_file(path)
    beyond_pillow = tmp_path / "huge.png"  # past Pillow's own decompression-bomb limit
    Image.new("1", (20000, 20000)).save(beyond_pillow)
    with pytest.raises(DatasetError, match="more than 178,956,970 pixels; expected at most"):
        load_dataset_file(beyond_pillow)


def test_image_sampling_matches_listing_every_dark_pixel(tmp_path: Path) -> None:
    """The dark pixels are picked by number in reading order without listing them all: the
    same points as ``np.nonzero`` indexed by the same draws."""
    rng = np.random.default_rng(4)
    pixels = np.where(rng.random((37, 53)) < 0.3, 0, 255).astype(np.uint8)
    path = tmp_path / "speckle.png"
    iio.imwrite(path, pixels)
    ds = load_dataset_file(path, image_points=500, seed=9)
    rows, cols = np.nonzero(pixels == 0)
    draws = np.random.default_rng(9)
    pick = draws.integers(0, rows.size, 500)
    x = cols[pick] + draws.uniform(0.0, 1.0, 500)
    y = rows[pick] + draws.uniform(0.0, 1.0, 500)
    scale = 6.0 / 53
    expected = np.stack([(x - 53 / 2) * scale, (37 / 2 - y) * scale], axis=1)
    np.testing.assert_allclose(ds.points, expected.astype(np.float32), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["points.txt", "points", "points.npy"])
def test_unsupported_suffix(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name, "1,2\n3,4\n")
    with pytest.raises(DatasetError, match=r"unsupported file type.*expected one of \.csv"):
        load_dataset_file(path)


def test_corrupt_and_truncated_images(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"junk\.png: could not read image"):
        load_dataset_file(_write(tmp_path / "junk.png", b"this is not a png"))
    good = tmp_path / "good.png"
    iio.imwrite(good, _disc_image(W, H, CENTRE, R))
    half = good.read_bytes()[:60]
    with pytest.raises(DatasetError, match=r"cut\.png: could not read image"):
        load_dataset_file(_write(tmp_path / "cut.png", half))
    with pytest.raises(DatasetError, match=r"empty\.jpg: file is empty"):
        load_dataset_file(_write(tmp_path / "empty.jpg", b""))


def test_image_without_dark_pixels(tmp_path: Path) -> None:
    path = tmp_path / "white.png"
    iio.imwrite(path, np.full((10, 10, 3), 200, np.uint8))
    with pytest.raises(DatasetError, match=r"white\.png: image has no dark pixels"):
        load_dataset_file(path)


@pytest.mark.parametrize("count", [1, 0, 2.5])
def test_bad_image_points(tmp_path: Path, count: object) -> None:
    path = tmp_path / "d.png"
    iio.imwrite(path, _disc_image(W, H, CENTRE, R))
    with pytest.raises(DatasetError, match="image_points"):
        load_dataset_file(path, image_points=count)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- fuzzing


def _load_or_error(path: Path, **kwargs: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        try:
            ds = load_dataset_file(path, **kwargs)
        except DatasetError as exc:
            assert str(exc).startswith(str(path))
            return
    _check_ok(ds)


CSV_CHARS = st.sampled_from(list("0123456789,.-+eE \n\r\tnaifxy#;\u00e9\x00"))


@FUZZ
@given(text=st.text(CSV_CHARS, max_size=80) | st.text(max_size=80))
def test_fuzz_csv_text(tmp_path: Path, text: str) -> None:
    _load_or_error(_write(tmp_path / "fuzz.csv", text))


@FUZZ
@given(
    rows=st.lists(
        st.lists(st.floats() | st.integers(-(10**30), 10**30), min_size=2, max_size=3),
        max_size=8,
    )
)
def test_fuzz_csv_numbers(tmp_path: Path, rows: list[list[float]]) -> None:
    text = "\n".join(",".join(repr(v) for v in row) for row in rows)
    _load_or_error(_write(tmp_path / "nums.csv", text))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=20,
)
JSON_DOCS = JSON_VALUES | st.fixed_dictionaries(
    {"points": JSON_VALUES}, optional={"labels": JSON_VALUES}
)


@FUZZ
@given(doc=JSON_DOCS)
def test_fuzz_json_structure(tmp_path: Path, doc: object) -> None:
    _load_or_error(_write(tmp_path / "doc.json", json.dumps(doc)))


NUMBERS = st.floats() | st.integers(-(10**400), 10**400)


@FUZZ
@given(
    points=st.lists(st.lists(NUMBERS, min_size=1, max_size=3), max_size=6),
    labels=st.none() | st.lists(st.integers(-2, 10**20) | st.floats(), max_size=6),
)
def test_fuzz_json_numbers(tmp_path: Path, points: list, labels: list | None) -> None:
    doc = {"points": points} if labels is None else {"points": points, "labels": labels}
    _load_or_error(_write(tmp_path / "nums.json", json.dumps(doc)))


def test_line_numbers_count_newlines_only(tmp_path: Path) -> None:
    path = _write(tmp_path / "ff.csv", "1,2\x0c\n3,4\r5,x\n")  # form feed is not a line break
    with pytest.raises(DatasetError, match="line 3, column 2"):
        load_dataset_file(path)


@FUZZ
@given(content=st.binary(max_size=200) | st.text(max_size=80))
def test_fuzz_json_raw(tmp_path: Path, content: bytes | str) -> None:
    _load_or_error(_write(tmp_path / "raw.json", content))


@pytest.fixture(scope="module")
def png_bytes() -> bytes:
    img = _disc_image(16, 12, (8.0, 6.0), 4.0, rgba=True)
    return iio.imwrite("<bytes>", img, extension=".png")


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".png", ".jpg", ".jpeg"]))
def test_fuzz_image_bytes(tmp_path: Path, png_bytes: bytes, data: st.DataObject, suffix: str):
    raw = data.draw(st.binary(max_size=300))
    _load_or_error(_write(tmp_path / f"raw{suffix}", raw), image_points=50)
    # a real PNG with a few bytes overwritten: corrupt chunks, CRCs, sizes
    mutated = bytearray(png_bytes)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(mutated) - 1))
        mutated[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(mutated)))
    _load_or_error(_write(tmp_path / "mut.png", bytes(mutated[:cut])), image_points=50)
