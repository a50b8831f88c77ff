"""The thread policy: one thread by default, and a tuner that follows the faster choice."""

import torch

from dexplorer.core import threads
from dexplorer.core.threads import SINGLE, ThreadTuner


def test_the_tests_run_with_the_policys_single_thread():
    assert torch.get_num_threads() == SINGLE == 1


def run(tuner: ThreadTuner, step_time: dict[int, float], steps: int) -> list[int]:
    """Feed the tuner ``steps`` steps whose wall time depends on the thread count."""
    used = []
    for _ in range(steps):
        tuner.before()
        used.append(torch.get_num_threads())
        tuner.after(step_time[torch.get_num_threads()])
    return used


def test_the_tuner_keeps_the_faster_count_and_follows_a_change(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 2)
    tuner = ThreadTuner(trial=3, period=10)
    assert tuner.choices == [1, 2]
    # Idle: two threads are twice as fast; a trial of 3 steps each, then 10 steps at 2.
    used = run(tuner, {1: 0.010, 2: 0.005}, 16)
    assert used == [1, 1, 1, 2, 2, 2] + [2] * 10 and tuner.chosen == 2
    # The same choice again: the next period is twice as long.
    used = run(tuner, {1: 0.010, 2: 0.005}, 26)
    assert used == [1, 1, 1, 2, 2, 2] + [2] * 20 and tuner.period == 20
    # A co-runner arrives and two threads collapse: the first slow step ends their trial.
    used = run(tuner, {1: 0.015, 2: 0.5}, 14)
    assert used == [1, 1, 1, 2] + [1] * 10 and tuner.chosen == 1 and tuner.period == 10
    tuner.close()
    assert torch.get_num_threads() == SINGLE


def test_one_core_leaves_nothing_to_choose(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 1)
    tuner = ThreadTuner(trial=2, period=4)
    assert run(tuner, {1: 0.01}, 9) == [1] * 9
    tuner.close()
