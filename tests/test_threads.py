"""The thread policy: one thread by default, and a tuner that follows the faster choice."""

import subprocess
import sys

import pytest
import torch

from dexplorer.core import threads
from dexplorer.core.threads import MALLOC_ARENAS, SINGLE, ThreadTuner


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


ARENAS_SCRIPT = """
import ctypes, sys, threading
import numpy as np
if sys.argv[1] == "shared":
    from dexplorer.core.threads import share_malloc_arenas
    share_malloc_arenas()
barrier = threading.Barrier(7)
def work():
    keep = [np.ones(2000) for _ in range(50)]  # 16 KB blocks: from malloc's arenas
    barrier.wait()
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(6)]
for thread in threads:
    thread.start()
barrier.wait()
ctypes.CDLL(None).malloc_stats()  # one 'Arena k:' paragraph per arena, on stderr
barrier.wait()
for thread in threads:
    thread.join()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc arenas")
def test_threads_share_two_malloc_arenas():
    """Six threads alive at once get an arena each from glibc, which keeps what they free:
    the app's memory grew over a lesson that way. Shared, there are at most two."""

    def arenas(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", ARENAS_SCRIPT, mode], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stderr.count("Arena ")

    assert arenas("own") >= 4
    assert arenas("shared") <= MALLOC_ARENAS
