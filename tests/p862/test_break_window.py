"""The break-point window of utterance splitting (design note §9.2, issue 10).

The reference keeps the Hann window of its break-point search in a scratch buffer that the
envelope cross-correlations of the candidates also write to; perceptq reproduces the window
as the reference leaves it (align.effective_window), flags pairs whose reference score
hinges on float32 rounding noise (Score.reference_unstable), and offers the intact window
(alignment="stable").
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

import perceptq
from perceptq.p862 import align, split

CLEAN = "reference_audio/clean/"


def _xcorr(r: np.ndarray, d: np.ndarray) -> np.ndarray:
    """y[c] = sum_n r[n] d[n + c - (nr - 1)], directly."""
    nr, nd = r.shape[0], d.shape[0]
    y = np.zeros(nr + nd - 1)
    for c in range(nr + nd - 1):
        for n in range(nr):
            m = n + c - (nr - 1)
            if 0 <= m < nd:
                y[c] += r[n] * d[m]
    return y


def _pieces(rng, lengths):
    return [(rng.random(nr) * (rng.random(nr) > 0.3), rng.random(nd) * (rng.random(nd) > 0.3))
            for nr, nd in lengths]


@pytest.mark.parametrize("na", [512, 1024])
def test_window_is_hann_when_no_correlation_reaches_it(na):
    off = align.window_offset(na)
    rng = np.random.default_rng(1)
    pieces = [*_pieces(rng, [(off // 2, off // 2 + 1), (5, 9)]), (np.zeros(1), np.zeros(300))]
    bw = align.effective_window(align.Pieces.of(pieces), na)
    assert np.array_equal(bw.values, align.hann(na))
    assert not bw.written.any() and not bw.noise.any()


def test_last_correlation_reaching_a_sample_wins():
    na = 16
    off = align.window_offset(na)  # 54
    rng = np.random.default_rng(2)
    # lengths nr + nd - 1 - off: 10, 4, (too short), 6, one piece skipped (side of 1)
    lengths = [(30, 35), (30, 29), (20, 20), (31, 30)]
    pieces = [*_pieces(rng, lengths), (np.ones(1), np.ones(200))]
    bw = align.effective_window(align.Pieces.of(pieces), na)
    ys = [_xcorr(r, d) for r, d in pieces[:4]]
    expected = align.hann(na).copy()
    expected[:10] = ys[0][off : off + 10]
    expected[:4] = ys[1][off : off + 4]
    expected[:6] = ys[3][off : off + 6]
    np.testing.assert_allclose(bw.values, expected, rtol=1e-9, atol=1e-9)
    assert bw.written.tolist() == [True] * 10 + [False] * 6
    assert bw.scale == pytest.approx(max(np.abs(ys[k]).max() for k in (0, 1, 3)))


def test_a_long_correlation_overwrites_the_whole_window_and_zeros_are_noise():
    na = 16
    off = align.window_offset(na)
    r = np.zeros(60)
    d = np.zeros(60)
    r[:5] = [1, 2, 3, 4, 5]  # the window reads lags -5 .. 10 (y[54 .. 69], nr - 1 = 59):
    d[:5] = [5, 4, 3, 2, 1]  # speech overlaps at lags -4 .. 4 only
    d[40:45] = 1.0  # (far lags, outside the window)
    bw = align.effective_window(align.Pieces.of([(r, d)]), na)
    y = _xcorr(r, d)
    np.testing.assert_allclose(bw.values, y[off : off + na], atol=1e-9)
    assert bw.written.all()
    assert bw.noise.tolist() == [True] + [False] * 9 + [True] * 6
    assert np.all(bw.values[bw.noise] == 0.0)


def test_noise_variants_only_where_noise_weighs_in():
    na = 64
    hann = align.hann(na)
    no_noise = align.BreakWindow(hann.copy(), np.zeros(na, bool), np.zeros(na, bool), 0.0)
    assert not split.noise_dominated(no_noise)
    assert len(split.window_variants(no_noise, 0)) == 1
    # a few noise samples in front of a large written head: negligible
    values = np.where(np.arange(na) < 40, 500.0, hann)
    noise = np.arange(na) < 5
    values[noise] = 0.0
    head = align.BreakWindow(values, np.arange(na) < 40, noise, 1e4)
    assert not split.noise_dominated(head)
    # all noise: the reference's window is rounding noise, several realisations are tried
    every = np.ones(na, bool)
    all_noise = align.BreakWindow(np.zeros(na), every, every, 1e4)
    assert split.noise_dominated(all_noise)
    variants = split.window_variants(all_noise, 3)
    assert len(variants) == len(split.NOISE_VARIANTS) > 1
    unit = split.NOISE_UNIT * 1e4
    for w, (offset, sd) in zip(variants, split.NOISE_VARIANTS, strict=True):
        assert abs(np.mean(w) / unit - offset) < 4 * sd / np.sqrt(na / 4)
        assert np.max(np.abs(w)) < (offset + 6 * sd) * unit
    again = split.window_variants(all_noise, 3)
    assert all(np.array_equal(a, b) for a, b in zip(variants, again, strict=True))


# --------------------------------------------------------------------------- issue pairs


def _issue_pair(stem: str, edits: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """The issue's construction: 0.5 s silence + speech (16 -> 8 kHz, resample_poly) +
    0.5 s silence; the degraded with ``ms`` deleted (< 0) or zeros inserted (> 0) at each
    fraction of the speech; both scaled by one factor to peak 0.9, rounded to 16 bits."""
    x, fs = sf.read(CLEAN + stem + ".wav")
    assert fs == 16000
    x = resample_poly(x, 1, 2)
    sil = np.zeros(4000)
    ref = np.concatenate([sil, x, sil])
    deg = ref.copy()
    for frac, ms in sorted(edits, reverse=True):
        pos = sil.shape[0] + round(frac * x.shape[0])
        n = round(abs(ms) * 8)
        if ms < 0:
            deg = np.concatenate([deg[:pos], deg[pos + n :]])
        else:
            deg = np.concatenate([deg[:pos], np.zeros(n), deg[pos:]])
    g = 0.9 / np.max(np.abs(ref))
    return np.round(ref * g * 32767) / 32768, np.round(deg * g * 32767) / 32768


ISSUE_PAIRS = [  # (stem, edits, pesq's MOS-LQO as given in the issue)
    ("arctic_a0007", [(0.25, -40), (0.5, -40), (0.75, -40)], 1.6684),
    ("arctic_a0007", [(0.4, -20)], 4.0640),
    ("arctic_a0007_a0009", [(0.4, 100)], 4.3509),
]


@pytest.mark.parametrize(("stem", "edits", "expected"), ISSUE_PAIRS)
def test_issue_pairs_agree_with_the_reference(stem, edits, expected):
    from pesq import pesq as ref_pesq  # test-only dependency

    ref, deg = _issue_pair(stem, edits)
    assert float(ref_pesq(8000, ref, deg, "nb")) == pytest.approx(expected, abs=1e-4)
    assert perceptq.pesq(8000, ref, deg, "nb") == pytest.approx(expected, abs=1e-3)
    s = perceptq.score(ref, deg, sample_rate=8000, mode="nb")
    assert s.mos == pytest.approx(expected, abs=1e-3)
    assert s.alignment == "reference" and s.reference_unstable is False
    assert s.to_dict()["reference_unstable"] is False


def test_stable_alignment_uses_the_intact_window():
    """The first issue pair: the reference's damaged window finds one delay change; the
    intact window finds all three deletions (delays 0, -40, -80, -120 ms)."""
    ref, deg = _issue_pair(*ISSUE_PAIRS[0][:2])
    s = perceptq.score(ref, deg, sample_rate=8000, mode="nb", alignment="stable")
    assert s.alignment == "stable" and not s.reference_unstable
    assert [round(u.delay_ms) for u in s.utterances] == [0, -40, -80, -120]
    assert s.mos > 4.4
    assert perceptq.pesq(8000, ref, deg, "nb", alignment="stable") == pytest.approx(s.mos)
    with pytest.raises(ValueError, match="alignment 'exact'"):
        perceptq.score(ref, deg, sample_rate=8000, alignment="exact")
