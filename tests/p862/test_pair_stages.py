"""Stages that process the two signals together must give each signal exactly what it
gets alone: the paired biquad cascade, and the utterance runs walked end to end."""

from __future__ import annotations

import numpy as np
import pytest

from perceptq.p862 import _kernels, align, level, tables
from perceptq.p862.config import MIN_UTTERANCE_BLOCKS


@pytest.mark.parametrize("sos", [tables.align_sos(8000), tables.align_sos(16000),
                                 tables.wb_input_sos(16000),
                                 np.vstack([tables.align_sos(8000), tables.wb_input_sos(16000)])])
@pytest.mark.parametrize("lengths", [(3000, 3000), (3000, 1700), (5, 4000), (1, 1)])
def test_cascade_pair_is_each_signal_filtered_alone(sos, lengths):
    rng = np.random.default_rng(sum(lengths))
    a, b = (rng.standard_normal(n) * 1e3 for n in lengths)
    fa, fb = level.cascade_pair(a, b, sos)
    assert fa.shape == a.shape and fb.shape == b.shape
    np.testing.assert_array_equal(fa, _kernels._biquad_cascade_kernel(a.copy(), sos))
    np.testing.assert_array_equal(fb, _kernels._biquad_cascade_kernel(b.copy(), sos))


def _runs_block_by_block(vad, lo, hi):
    """§8.1 as a state machine over every block: a run starts at a block > 0 and ends at
    the next block that is exactly 0, or at the last block."""
    runs, in_speech, start = [], False, 0
    for b, v in enumerate(vad):
        if v > 0 and not in_speech:
            in_speech, start = True, b
        if (v == 0 or b == len(vad) - 1) and in_speech:
            in_speech = False
            if b - start >= MIN_UTTERANCE_BLOCKS and start < hi and b > lo:
                runs.append((start, b))
    return runs


def test_accepted_runs_match_the_block_by_block_walk():
    rng = np.random.default_rng(862)
    found = 0
    for _ in range(3000):
        w = int(rng.integers(0, 400))
        values = np.array([-1.0, 0.0, 0.3, 2.0, -0.5])
        vad = rng.choice(values, size=w, p=rng.dirichlet(np.full(5, 0.3)))
        lo, hi = int(rng.integers(-60, 250)), int(rng.integers(-60, 450))
        want = _runs_block_by_block(vad, lo, hi)
        assert align._accepted_runs(vad, lo, hi) == want
        found += len(want)
    assert found > 100  # the draws do produce accepted runs
