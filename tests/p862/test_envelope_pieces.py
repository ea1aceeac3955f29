"""Envelope pieces of the crude alignment and the break-point search (design note §7-§9.2):
ranges of the two log-VAD envelopes, their cross-correlations and the lags of their peaks."""

from __future__ import annotations

import numpy as np
import pytest

from perceptq.p862 import align
from perceptq.p862.config import config_for


def _xcorr(r: np.ndarray, d: np.ndarray) -> np.ndarray:
    """y[c] = sum_n r[n] d[n + c - (nr - 1)], by numpy's direct correlation."""
    return np.correlate(d, r, mode="full")


def _signal(env: np.ndarray, cfg) -> align.Signal:
    return align.Signal(np.zeros(env.shape[0] * cfg.ds), env.shape[0] * cfg.ds,
                        (env > 0).astype(float), env)


def _sliced(ref: align.Signal, deg: align.Signal, segments, est: int, cfg):
    """The pieces as the design note states them: reference blocks [b0, b1) against the
    degraded envelope from b0 + est / ds (both moved right when that is negative), the
    degraded piece no longer than the reference one; a side of one block or less is empty."""
    cd = align.tdiv(est, cfg.ds)
    out = []
    for b0, b1 in segments:
        startr, startd = b0, b0 + cd
        if startd < 0:
            startr, startd = -cd, 0
        nr = b1 - startr
        nd = min(nr, deg.n_padded // cfg.ds - startd)
        if nr <= 1 or nd <= 1:
            out.append((np.zeros(0), np.zeros(0)))
        else:
            out.append((ref.log_vad[startr : startr + nr], deg.log_vad[startd : startd + nd]))
    return out


def test_pieces_are_the_slices_of_the_design_note():
    cfg = config_for(8000)
    rng = np.random.default_rng(3)
    ref = _signal(rng.random(300) * (rng.random(300) > 0.4), cfg)
    deg = _signal(rng.random(260) * (rng.random(260) > 0.4), cfg)
    segments = [(0, 120), (40, 300), (100, 102), (100, 101), (250, 300), (5, 290), (0, 1)]
    for est in (0, 37 * cfg.ds, -45 * cfg.ds, -45 * cfg.ds + 3, 200 * cfg.ds, -400 * cfg.ds):
        pieces = align.segment_pieces(ref, deg, np.array(segments), est, cfg)
        expected = _sliced(ref, deg, segments, est, cfg)
        assert len(pieces) == len(expected)
        for i, (r, d) in enumerate(expected):
            got_r, got_d = pieces[i]
            assert np.array_equal(got_r, r) and np.array_equal(got_d, d), (est, segments[i])


def test_correlations_and_lags_of_pieces_of_many_lengths():
    rng = np.random.default_rng(4)
    lengths = [(1, 5), (5, 1), (2, 2), (3, 40), (40, 3), (17, 17), (64, 65), (65, 64),
               (100, 3), (250, 260), (0, 0), (9, 300)]
    pairs = [(rng.random(nr) * (rng.random(nr) > 0.3), rng.random(nd) * (rng.random(nd) > 0.3))
             for nr, nd in lengths]
    pairs.append((np.zeros(30), rng.random(30)))  # nothing correlates: lag 0
    pieces = align.Pieces.of(pairs)
    ys = align.envelope_xcorr(pieces)
    lags = align._envelope_lags(pieces)
    for (r, d), y, lag in zip(pairs, ys, lags, strict=True):
        if r.shape[0] <= 1 or d.shape[0] <= 1:
            assert y.shape[0] == 0 and lag == 0
            continue
        direct = _xcorr(r, d)
        np.testing.assert_allclose(y, direct, rtol=0, atol=1e-12 * max(1.0, direct.max()))
        if direct.max() > 0:
            assert lag == int(np.argmax(direct)) - (r.shape[0] - 1)
        else:
            assert lag == 0


@pytest.mark.parametrize("single", [False, True])
def test_a_row_does_not_depend_on_the_other_rows(single):
    """Pieces are batched by transform length: each one's correlation is the same whatever
    else is in its batch."""
    rng = np.random.default_rng(5)
    pairs = [(rng.random(n), rng.random(n + 3)) for n in (20, 22, 25, 30, 60, 61)]
    together = {}
    for todo, y, lengths in align._xcorr_groups(align.Pieces.of(pairs), single):
        for row, i in enumerate(todo.tolist()):
            together[i] = y[row, : lengths[row]]
    for i, pair in enumerate(pairs):
        [(todo, y, lengths)] = align._xcorr_groups(align.Pieces.of([pair]), single)
        assert np.array_equal(y[0, : lengths[0]], together[i])
