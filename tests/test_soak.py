"""The memory soak's core (benchmarks/soak.py) runs its whole cycle of actions: settings,
time, colouring, theme, comparison panels, training and a brush stroke."""

import sys
from pathlib import Path

import pytest
from test_scene import _adapter_problem

pytest.importorskip("pygfx")
pytestmark = pytest.mark.skipif(bool(_adapter_problem()), reason=_adapter_problem())
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))


def test_the_soak_runs_every_action_and_samples_rss():
    import soak

    frames, every = 2 * soak.CYCLE, 2  # every action once
    samples = soak.soak_offscreen(frames, every, 10, size=(640, 400), n=300)
    assert [frame for frame, _ in samples] == list(range(0, frames + 1, 10))
    assert all(rss > 0 for _, rss in samples)
    result = soak.summary([(0, 100.0), (10, 101.0), (20, 102.0)], warm_up=5)
    assert result["slope_kb"] == pytest.approx(102.4)  # 0.1 MB a frame
    assert (result["first_mb"], result["last_mb"]) == (101.0, 102.0)
    assert result["drift_percent"] == pytest.approx((102.0 / 101.0 - 1) * 100)
