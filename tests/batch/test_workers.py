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
