"""While trajectories compute: the time left as measured, playback waiting where the runs
have computed to, and a time label that gives the time of the picture, not the one asked."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dexplorer.engine.pace import LEAST, WINDOW, Pace
from dexplorer.ui.controls import Status, computing_text, duration


def test_the_time_left_is_the_steps_left_at_the_rate_measured():
    pace = Pace()
    pace.update(0, 100, 0.0)
    assert pace.seconds_left() is None  # nothing measured
    pace.update(1, 100, LEAST / 2)
    assert pace.seconds_left() is None  # too short a time
    pace.update(10, 100, 5.0)
    pace.update(20, 100, 10.0)
    assert pace.seconds_left() == pytest.approx(80 * 10 / 20)
    pace.update(20, 100, 20.0)  # stalled: the rate measured falls, the time left grows
    assert pace.seconds_left() == pytest.approx(80 * 20 / 20)
    pace.update(100, 100, 21.0)
    assert pace.seconds_left() is None  # all done


def test_the_rate_is_the_latest_and_a_new_run_starts_over():
    pace = Pace()
    for second in range(0, 60):
        pace.update(second * (1 if second < 30 else 4), 1000, float(second))
    # Over the last WINDOW seconds the steps came at 4 a second, not the run's average.
    assert pace.seconds_left() == pytest.approx((1000 - 59 * 4) / 4, rel=0.1)
    assert WINDOW < 30
    pace.update(3, 1000, 61.0)  # fewer done than before: another run
    assert pace.seconds_left() is None
    pace.update(5, 50, 62.0)  # another number wanted
    pace.update(15, 50, 67.0)
    assert pace.seconds_left() == pytest.approx(35 * 5 / 10)


def test_the_time_left_in_words():
    assert [duration(s) for s in (0.2, 40, 89, 240, 3600, 4200)] == [
        "1 s",
        "40 s",
        "1 min",
        "4 min",
        "1 h",
        "1 h 10 min",
    ]
    status = Status(computed=22, wanted=100)
    assert computing_text(status) == "computing 22/100 steps"
    status.seconds_left = 250.0
    assert computing_text(status) == "computing 22/100 steps, about 4 min left"
    assert computing_text(Status(computed=100, wanted=100, seconds_left=3.0)) == ""


def _app(
    ready: int, steps: int, done: bool, shown: tuple[int, float], error: str = ""
) -> SimpleNamespace:
    cache = SimpleNamespace(
        state=SimpleNamespace(ready=ready, done=done, error=error), shown_position=lambda t: shown
    )
    sim = SimpleNamespace(cache=cache, run=SimpleNamespace(steps=steps))
    return SimpleNamespace(comparing=False, engine=SimpleNamespace(simulations=[sim]))


def test_the_label_gives_the_pictures_time_and_why_it_is_not_the_one_asked():
    pytest.importorskip("pygfx")
    from dexplorer.app import App

    computing = _app(ready=22, steps=100, done=False, shown=(22, 0.0))
    assert App._computed_time(computing) == pytest.approx(0.22)
    assert App._time_shown(computing, 0.86) == (pytest.approx(0.22), "computing")
    assert App._time_shown(_app(22, 100, False, (10, 0.5)), 0.105) == (0.105, "")
    failed = _app(22, 100, False, (22, 0.0), error="it failed")
    assert App._computed_time(failed) == 1.0
    assert App._time_shown(failed, 0.86) == (pytest.approx(0.22), "failed")
    ring = _app(ready=100, steps=100, done=True, shown=(40, 0.0))  # the nearest step held
    assert App._computed_time(ring) == 1.0
    assert App._time_shown(ring, 0.43) == (pytest.approx(0.40), "recomputing")
