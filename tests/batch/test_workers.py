"""Batch worker start-up is paid once: the fork server loads the kernels, workers are
copies of it."""

from __future__ import annotations

import os
import sys


def _worker_state(_: int) -> tuple[int, bool, bool]:
    from perceptq.batch import runner

    return os.getpid(), runner._warm, "perceptq.p862._kernels" in sys.modules


def test_workers_start_from_a_warm_fork_server():
    from perceptq.batch import runner

    # warm=False: the workers do not warm up themselves; what they have, they inherited
    with runner._process_pool(2, warm=False) as pool:
        states = list(pool.map(_worker_state, range(4)))
    assert all(warm and loaded for _, warm, loaded in states), states
    assert os.getpid() not in {pid for pid, _, _ in states}


def test_workers_can_be_started_before_the_batch_reads_its_inputs(monkeypatch):
    """``perceptq batch`` starts the fork server (which loads the kernels) before reading
    its manifest; the pool made afterwards uses that server, and one job starts nothing."""
    from multiprocessing import forkserver

    from perceptq.batch import runner

    runner.start_workers_early(2)
    server = forkserver._forkserver._forkserver_pid
    assert server is not None
    with runner._process_pool(2, warm=False) as pool:
        states = list(pool.map(_worker_state, range(2)))
    assert forkserver._forkserver._forkserver_pid == server  # the same server, not a new one
    assert all(warm and loaded for _, warm, loaded in states), states

    started = []
    monkeypatch.setattr(runner, "_worker_context", lambda: started.append(1))
    runner.start_workers_early(1)
    assert started == []
    runner.start_workers_early(2)
    assert started == [1]
