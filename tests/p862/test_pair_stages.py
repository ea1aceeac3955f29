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
    np.testing.assert_array_equal(fa, _sample_by_sample(a, sos))
    np.testing.assert_array_equal(fb, _sample_by_sample(b, sos))


def _sample_by_sample(x, sos):
    """The direct-form-II cascade written out: every sample through every section in turn,
    zero initial state."""
    state = [[0.0, 0.0] for _ in sos]
    out = []
    for v in x.tolist():
        for (b0, b1, b2, a1, a2), st in zip(sos.tolist(), state, strict=True):
            w = v - a1 * st[0] - a2 * st[1]
            v = b0 * w + b1 * st[0] + b2 * st[1]
            st[1], st[0] = st[0], w
        out.append(v)
    return np.array(out)


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


@pytest.mark.parametrize("reverse", [False, True])
def test_window_peaks_are_the_lags_above_99_percent_of_each_maximum(reverse):
    rng = np.random.default_rng(5)
    corr = np.abs(rng.standard_normal((7, 64)))
    corr[2, [3, 9]] = corr[2].max() * 2.0  # a tie of two peaks
    corr[4] = 0.0  # nothing correlates
    offsets, lags, inc = _kernels._window_peaks_kernel(corr, reverse)
    rows = corr[::-1] if reverse else corr
    for w, row in enumerate(rows):
        v = 0.99 * row.max()
        assert list(lags[offsets[w] : offsets[w + 1]]) == list(np.flatnonzero(row > v))
        assert inc[w] == v**0.125
    assert offsets[-1] == lags.shape[0]


def test_window_delays_transform_each_window_once_and_repeat_their_answer():
    """The kept peaks give the same (lag, confidence) as a first visit, forwards and
    backwards, and a window seen before is not transformed again."""
    rng = np.random.default_rng(8)
    from perceptq.p862.config import config_for

    cfg = config_for(8000)
    n = 16000
    src = rng.standard_normal(n + 400)
    ref = align.Signal(src[:n].copy(), n, np.zeros(1), np.zeros(1))
    deg = align.Signal(src[37 : n + 37].copy(), n, np.zeros(1), np.zeros(1))
    step = cfg.na // 4
    fwd = (np.arange(0, 30) * step + 512, np.arange(0, 30) * step + 512)
    back = (fwd[0][::-1][:20].copy(), fwd[1][::-1][:20].copy())
    counts = [5, 12, 20]
    first = align.window_delays(ref, deg, *back, counts, cfg)
    calls = []
    real = align._correlation_windows

    def counted(*args):
        calls.append(args[2].shape[0])
        return real(*args)

    align._correlation_windows = counted
    try:
        fresh = align.Signal(deg.x, n, deg.vad, deg.log_vad)
        assert align.window_delays(ref, fresh, *back, counts, cfg) == first
        calls.clear()
        assert align.window_delays(ref, fresh, *back, counts, cfg) == first  # all kept
        assert calls == []
        whole = align.window_delays(ref, fresh, *fwd, [30], cfg)  # 10 new windows
        assert calls == [10]
        assert whole == align.window_delays(ref, align.Signal(deg.x, n, deg.vad, deg.log_vad),
                                            *fwd, [30], cfg)
    finally:
        align._correlation_windows = real
    assert first[-1][0] == -37 and whole[0][0] == -37  # the degraded copy is 37 samples early


def _bad_intervals_frame_by_frame(fd, stop_frame):
    """§13.2-§13.3 written out frame by frame: the definition bad_intervals vectorises."""
    from perceptq.p862.config import BAD_FRAME_THRESHOLD, MIN_BAD_INTERVAL_FRAMES

    bad = fd[: stop_frame + 1] > BAD_FRAME_THRESHOLD
    bad[0] = False
    smeared = [2 <= f < stop_frame - 2 and bad[f - 2 : f + 1].any() and bad[f : f + 3].any()
               for f in range(stop_frame + 1)]
    out, f = [], 0
    while f <= stop_frame:
        while f <= stop_frame and not smeared[f]:
            f += 1
        first = f
        while f <= stop_frame and smeared[f]:
            f += 1
        if first <= stop_frame and f <= stop_frame and f - first >= MIN_BAD_INTERVAL_FRAMES:
            out.append((first, f))
    return out


def test_bad_intervals_match_the_frame_by_frame_definition():
    from perceptq.p862.config import BAD_FRAME_THRESHOLD
    from perceptq.p862.disturbance import bad_intervals

    rng = np.random.default_rng(13)
    found = 0
    for _ in range(2000):
        n = int(rng.integers(1, 80))
        stop = int(rng.integers(0, n))
        fd = np.where(rng.random(n) < rng.random(), 2 * BAD_FRAME_THRESHOLD, 0.0)
        got = bad_intervals(fd.copy(), stop)
        assert got == _bad_intervals_frame_by_frame(fd.copy(), stop), (fd, stop)
        found += len(got)
    assert found > 100  # the random frames do produce intervals


def test_first_peaks_match_numpy_argmax_with_the_floor():
    rng = np.random.default_rng(21)
    y = rng.standard_normal((9, 40))
    y[1] = -np.abs(y[1])  # nothing positive: no peak
    y[2, :] = 1e-12  # positive but below the floor of 1e-9 x max(1, |y|)
    y[3, [4, 7]] = 50.0  # a tie: the first wins
    lengths = np.array([40, 40, 40, 40, 2, 17, 30, 39, 5])
    best = np.zeros(9, dtype=np.int64)
    found = np.zeros(9, dtype=np.bool_)
    _kernels._first_peaks_kernel(y, lengths, best, found)
    for i, n in enumerate(lengths):
        row = y[i, :n]
        k = int(np.argmax(row))
        assert best[i] == k
        assert found[i] == (row[k] > 0 and row[k] >= 1e-9 * max(1.0, np.abs(row).max()))
    assert list(found[1:4]) == [False, False, True] and best[3] == 4


def test_pitch_power_density_matches_the_numpy_definition():
    """|rfft|^2 of Hann-windowed frames (DC bin zero) summed over the Bark bands in bin
    order and scaled; invalid frames zero; to the bit."""
    from perceptq.p862 import perceptual
    from perceptq.p862.config import config_for
    from perceptq.p862.tables import bark_table

    for fs in (8000, 16000):
        cfg = config_for(fs)
        bark = bark_table(fs)
        nf = cfg.nf
        rng = np.random.default_rng(4)
        x = rng.standard_normal(20 * nf) * 10.0 ** rng.uniform(-3, 3, 20 * nf)
        starts = rng.integers(0, x.shape[0] - nf, 30)
        valid = rng.random(30) > 0.3
        got = perceptual.pitch_power_density(x, starts, valid, bark, cfg)
        frames = np.stack([x[s : s + nf] * align.hann(nf) for s in starts])
        spec = np.fft.rfft(frames, axis=1)[:, : nf // 2]
        power = spec.real**2 + spec.imag**2
        power[:, 0] = 0.0
        edges = np.concatenate(([0], np.cumsum(bark.n_bins.astype(int))))
        want = np.zeros((starts.shape[0], bark.n_bands))
        for f in np.flatnonzero(valid):
            for j in range(bark.n_bands):
                acc = 0.0
                for p in power[f, edges[j] : edges[j + 1]].tolist():  # in bin order
                    acc += p
                want[f, j] = acc * (cfg.sp * bark.correction[j])
        np.testing.assert_array_equal(got, want)
        with pytest.raises(IndexError):
            perceptual.pitch_power_density(x, np.array([x.shape[0] - nf + 1]), np.ones(1, bool),
                                           bark, cfg)


@pytest.mark.parametrize("at", [0, 7, 4091, 4092, 4095, 4096, 4100, 12287, 12290, None])
def test_first_sound_is_the_first_loud_five_sample_stretch(at):
    """frame_range's search for the first 5-sample absolute sum of 500 (§11.1) finds the
    same position as one pass over the whole stretch, wherever it lies."""
    from perceptq.p862 import perceptual

    rng = np.random.default_rng(7)
    limit = 12290
    a = rng.random(limit + 5) * 99.0  # five of these sum to less than 500
    if at is not None:
        a[at + 2] = 500.0  # every stretch holding it reaches 500
    sums = np.convolve(a, np.ones(5), mode="valid")[:limit]
    hits = np.flatnonzero(sums >= perceptual.SILENCE_SUM)
    want = int(hits[0]) if hits.size else limit
    assert want == (limit if at is None else max(at - 2, 0))
    assert perceptual._first_sound(a, limit) == want
