"""Each ViSQOL kernel and stage against a slow, obvious NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from perceptq.visqol import VisqolConfig
from perceptq.visqol._kernels import _dp_path_kernel, _dp_similarity_kernel, _nsim_map_kernel
from perceptq.visqol.align import align_and_truncate, best_lag, upper_envelope, window_of
from perceptq.visqol.mapping import default_svr_model, exponential_mos, parse_libsvm_model
from perceptq.visqol.patches import image_patch_starts, voice_activity
from perceptq.visqol.selection import _spectrogram_of
from perceptq.visqol.spectrogram import filterbank_for, gammatone_spectrogram, hann_window

RTOL = 1e-12
ATOL = 1e-12
W = np.array(
    [
        [0.0113033910173052, 0.0838251475442633, 0.0113033910173052],
        [0.0838251475442633, 0.619485845753726, 0.0838251475442633],
        [0.0113033910173052, 0.0838251475442633, 0.0113033910173052],
    ]
)


def _rng():
    return np.random.default_rng(1234)


def _slow_spectrogram(x, config):
    fb = filterbank_for(config)
    size, hop = config.window_size, config.hop
    win = hann_window(size)
    n_frames = 1 + (x.shape[0] - size) // hop
    out = np.empty((config.num_bands, n_frames))
    for f in range(n_frames):
        frame = win * x[f * hop : f * hop + size]
        for k in range(config.num_bands):
            y = frame
            for s in range(4):
                y = lfilter([fb.b0[s, k], fb.b1[s, k], 0.0], [1.0, fb.a1[k], fb.a2[k]], y)
            out[k, f] = np.sqrt(np.mean(y * y))
    return out


@pytest.mark.parametrize("mode", ["audio", "speech"])
def test_spectrogram_matches_lfilter_cascade(mode):
    config = VisqolConfig(mode, 48000 if mode == "audio" else 16000)
    x = _rng().standard_normal(int(0.25 * config.sample_rate))
    np.testing.assert_allclose(
        gammatone_spectrogram(x, config), _slow_spectrogram(x, config), rtol=1e-10, atol=ATOL
    )


def test_filterbank_is_cached_readonly_and_ordered():
    config = VisqolConfig("audio", 48000)
    fb = filterbank_for(config)
    assert fb is filterbank_for(config)
    assert not fb.b0.flags.writeable
    assert fb.center_hz[0] == pytest.approx(50.0)
    assert np.all(np.diff(fb.center_hz) > 0) and fb.center_hz[-1] < 24000


def _slow_nsim_map(ref, deg):
    def conv(m):
        p = np.pad(m, 1, mode="edge")
        out = np.zeros_like(m)
        for dr in range(3):
            for dc in range(3):
                out += W[dr, dc] * p[dr : dr + m.shape[0], dc : dc + m.shape[1]]
        return out

    mu_r, mu_d = conv(ref), conv(deg)
    var_r = conv(ref * ref) - mu_r**2
    var_d = conv(deg * deg) - mu_d**2
    cov = conv(ref * deg) - mu_r * mu_d
    c1, c3 = 1e-4, 4.5e-4
    intensity = (2 * mu_r * mu_d + c1) / (mu_r**2 + mu_d**2 + c1)
    vp = var_r * var_d
    structure = (cov + c3) / np.where(vp < 0, c3, np.sqrt(np.abs(vp)) + c3)
    return intensity * structure


def test_nsim_map_matches_numpy():
    rng = _rng()
    ref = rng.uniform(0, 60, (32, 30))
    deg = ref + rng.normal(0, 5, ref.shape)
    np.testing.assert_allclose(_nsim_map_kernel(ref, deg), _slow_nsim_map(ref, deg), rtol=1e-10)
    flat = np.zeros((5, 6))  # silent patches: structure term stays finite
    assert np.all(np.isfinite(_nsim_map_kernel(flat, flat)))


def test_dp_similarity_equals_mean_nsim():
    rng = _rng()
    rows, cols, n_frames = 6, 5, 17
    deg = rng.uniform(0, 40, (rows, n_frames))
    padded = np.zeros((rows, n_frames + cols))
    padded[:, :n_frames] = deg
    refs = rng.uniform(0, 40, (3, rows, cols))
    starts = np.array([0, 4, 9], dtype=np.int64)
    width = 10
    out = np.full((3, width), np.nan)
    _dp_similarity_kernel(refs, padded, starts, width, out)
    for p in range(3):
        for j in range(width):
            o = starts[p] + j
            if o >= n_frames:
                assert np.isnan(out[p, j])
                continue
            expect = _slow_nsim_map(refs[p], padded[:, o : o + cols]).mean(axis=1).mean()
            np.testing.assert_allclose(out[p, j], expect, rtol=1e-10)


def _slow_dp(sim_full, ref_idx, n_frames, radius):
    """The full-table dynamic programme, written as the description states it."""
    n = len(ref_idx)
    cum = np.zeros((n, n_frames))
    back = np.zeros((n, n_frames), dtype=int)
    lowest = -np.finfo(float).max
    for p in range(n):
        for o in range(max(0, ref_idx[p] - radius), min(n_frames - 1, ref_idx[p] + radius) + 1):
            s = sim_full[p, o]
            past = -1
            if p > 0:
                best, best_o = lowest, -1
                for b in range(o - 1, max(0, ref_idx[p - 1] - radius) - 1, -1):
                    if cum[p - 1, b] > best:
                        best, best_o = cum[p - 1, b], b
                s += best
                past = best_o
                if cum[p - 1, o] > s:
                    s, past = cum[p - 1, o], o
            cum[p, o] = s
            back[p, o] = past
    last = n - 1
    best, o = lowest, max(0, ref_idx[last] - radius)
    for b in range(max(0, ref_idx[last] - radius), min(n_frames - 1, ref_idx[last] + radius) + 1):
        if cum[last, b] > best:
            best, o = cum[last, b], b
    offsets, lost = [], []
    for p in range(n - 1, -1, -1):
        offsets.append(o)
        lost.append(back[p, o] == o)
        o = back[p, o]
    return offsets[::-1], lost[::-1]


@pytest.mark.parametrize("seed", range(6))
def test_dp_path_matches_full_table_programme(seed):
    rng = np.random.default_rng(seed)
    n_frames, radius = 40, 7
    ref_idx = np.array([3, 9, 15, 21, 27, 33], dtype=np.int64)
    sim_full = rng.uniform(-0.2, 1.0, (len(ref_idx), n_frames))
    if seed % 2:
        sim_full[2] = -5.0  # a patch that matches nowhere: it should be dropped
    lo = np.maximum(ref_idx - radius, 0)
    hi = np.minimum(ref_idx + radius + 1, n_frames)
    width = int(np.max(hi - lo))
    sim = np.zeros((len(ref_idx), width))
    for p in range(len(ref_idx)):
        sim[p, : hi[p] - lo[p]] = sim_full[p, lo[p] : hi[p]]
    offsets, lost = _dp_path_kernel(sim, lo, hi)
    expect_offsets, expect_lost = _slow_dp(sim_full, ref_idx, n_frames, radius)
    assert offsets.tolist() == expect_offsets
    assert lost.tolist() == expect_lost
    if seed % 2:
        assert lost[2]


def test_spectrogram_reuse_on_frame_grid_equals_recomputing():
    config = VisqolConfig("speech", 16000)
    x = _rng().standard_normal(16000)
    full = gammatone_spectrogram(x, config)
    start = 7 * config.hop
    piece = x[start : start + 9000]
    reused = _spectrogram_of(piece, start, 0, piece.shape[0], full, config)
    assert np.shares_memory(reused, full)
    np.testing.assert_array_equal(reused, gammatone_spectrogram(piece, config))


def test_upper_envelope_is_real_part_of_one_sided_inverse():
    rng = _rng()
    for n in (1000, 1024):
        x = rng.standard_normal(n) + 0.3
        xc = x - x.mean()
        points = 1 << (n - 1).bit_length()
        spec = np.fft.fft(xc, points)
        one_sided = np.zeros(points, dtype=complex)
        one_sided[0] = spec[0]
        one_sided[1 : points // 2] = 2 * spec[1 : points // 2]
        if n == points:
            one_sided[points // 2] = spec[points // 2]
        # a real inverse transform of bins 0..N/2 = the real part, doubled off the ends
        half = np.fft.irfft(one_sided[: points // 2 + 1], points)
        expect = np.abs(half[:n]) + x.mean()
        np.testing.assert_allclose(upper_envelope(x), expect, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("lag", [-2, 0, 2, 37])
def test_best_lag_recovers_shift(lag):
    x = _rng().standard_normal(500)
    deg = np.roll(x, lag)
    assert best_lag(deg, x) == lag


def test_align_and_truncate_windows():
    rng = _rng()
    ref = rng.standard_normal(4000)
    deg = np.concatenate((np.zeros(120), ref))[:4000]
    r0, d0, n, lag_s = align_and_truncate(ref, deg, 8000)
    np.testing.assert_allclose(lag_s, -120 / 8000)  # negative: deg is late
    np.testing.assert_array_equal(window_of(deg, d0, n), ref[r0 : r0 + n])
    np.testing.assert_array_equal(window_of(np.arange(5.0), -2, 4), [0, 0, 0, 1])


def test_svr_model_parses_and_predicts_like_the_formula():
    model = default_svr_model()
    assert model.support_vectors.shape == (317, 32)
    x = np.full(32, 0.9)
    expect = sum(
        c * np.exp(-model.gamma * np.sum((sv - x) ** 2))
        for c, sv in zip(model.coefficients, model.support_vectors, strict=True)
    ) - model.rho
    np.testing.assert_allclose(model.predict(x), expect, rtol=1e-12)
    text = "svm_type nu_svr\nkernel_type rbf\ngamma 0.5\nrho 0.25\nSV\n2 2:1\n"
    sparse = parse_libsvm_model(text)
    np.testing.assert_allclose(sparse.support_vectors, [[0.0, 1.0]])
    with pytest.raises(ValueError, match="RBF"):
        parse_libsvm_model("svm_type c_svc\nkernel_type linear\nSV\n")


def test_exponential_mapping_perfect_pair():
    ones = np.ones(21)
    np.testing.assert_allclose(exponential_mos(ones, scaled=False), 4.015861169223797, atol=1e-12)
    # ViSQOL holds the scale in single precision: a perfect pair maps to 5 - 6e-8
    np.testing.assert_allclose(exponential_mos(ones), 5.0, atol=1e-7)


def test_patch_starts_and_vad():
    np.testing.assert_array_equal(image_patch_starts(100, 30), [14, 44])
    chunks = np.zeros((6, 4))
    chunks[3] = 10000.0
    np.testing.assert_array_equal(voice_activity(chunks), [1, 1, 0, 1, 1, 1])


def test_long_input_fft_path_finds_the_same_lag(monkeypatch):
    import perceptq.visqol.align as align

    x = _rng().standard_normal(3000)
    deg = np.concatenate((np.zeros(57), x))[:3000]
    short = best_lag(deg, x)
    monkeypatch.setattr(align, "LONG_FFT", 100)  # take the scipy.fft path
    assert best_lag(deg, x) == short == 57
