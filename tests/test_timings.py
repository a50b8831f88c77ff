"""The start-up moments the app writes for benchmarks (DEXPLORER_TIMINGS)."""

from __future__ import annotations

import time

from dexplorer.timings import VARIABLE, Timings


def test_each_moment_is_written_once_with_the_time_it_happened(tmp_path):
    path = tmp_path / "timings"
    timings = Timings(str(path))
    before = time.time()
    timings.note("first_frame")
    timings.note("first_frame")
    timings.note("trajectory")
    after = time.time()
    lines = [line.split() for line in path.read_text().splitlines()]
    assert [name for name, _ in lines] == ["first_frame", "trajectory"]
    assert all(before <= float(stamp) <= after for _, stamp in lines)


def test_nothing_is_written_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    Timings().note("first_frame")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv(VARIABLE, str(tmp_path / "timings"))
    Timings().note("first_frame")
    assert (tmp_path / "timings").read_text().startswith("first_frame ")
