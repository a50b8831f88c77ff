"""What the benchmark scripts share (benchmarks/common.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))


def test_a_scene_benchmark_exits_when_the_app_refuses_its_size():
    """bench_render, bench_frame and bench_frame_parts take their state from state_with: a
    refused n must stop them, not leave the defaults measured under its label."""
    from common import state_with

    assert state_with(300, 5).data.n == 300
    with pytest.raises(SystemExit, match=r"n=20,000,000, steps=20: .*particles"):
        state_with(20_000_000, 20)
