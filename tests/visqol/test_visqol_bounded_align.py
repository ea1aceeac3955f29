"""The bounded-memory global alignment (long pairs) against the whole-signal correlation.

The threshold and the block size are lowered so that short pairs take the block path
with many lag and time blocks; the whole-signal method (``align._correlation_peak``, what
every pair up to ``BOUNDED_ABOVE`` uses) is the oracle. Whenever the block search calls
itself certain, the lag ViSQOL keeps must be the oracle's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import perceptq.visqol.align as align
import perceptq.visqol.long_align as long_align
from perceptq.visqol._kernels import _dp_path_kernel, _dp_similarity_kernel
from perceptq.visqol.long_align import correlation_peak

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import corpus
from visqol_signals import music

FS = 8000


@pytest.fixture()
def small_blocks(monkeypatch):
    monkeypatch.setattr(align, "BOUNDED_ABOVE", 6000)
    monkeypatch.setattr(long_align, "BLOCK", 1 << 11)


def _whole(ref, deg) -> tuple[int, int]:
    """(raw lag, kept lag) of the whole-signal method."""
    n = max(ref.shape[0], deg.shape[0])
    lag = align._correlation_peak(align._enveloper(ref), align._enveloper(deg), n)
    return lag, (lag if 0 < abs(lag) <= ref.shape[0] / 2.0 else 0)


def _speech(rng, n):
    clean = _speech.cache or corpus.load_clean(FS)
    _speech.cache = clean
    x = np.concatenate(list(clean.values()))
    start = int(rng.integers(0, x.shape[0] - n))
    return x[start : start + n].copy()


_speech.cache = None


def _content(kind, rng, n):
    if kind == "music":
        return music(n / FS + 0.01, FS, int(rng.integers(1 << 30)), note_s=0.2)[:n]
    if kind == "speech":
        return _speech(rng, n)
    if kind == "noise":
        return rng.standard_normal(n) * 0.1
    if kind == "pink":
        return np.cumsum(rng.standard_normal(n)) * 0.01 + rng.standard_normal(n) * 0.01
    if kind == "periodic":  # a short phrase repeated: many near-equal correlation peaks
        period = int(rng.integers(50, 2000))
        return np.resize(rng.standard_normal(period), n) * 0.2
    if kind == "sine":
        return 0.3 * np.sin(2 * np.pi * rng.uniform(50, 1500) / FS * np.arange(n))
    if kind == "pulses":
        x = np.zeros(n)
        x[:: int(rng.integers(80, 900))] = 0.8
        return x
    raise ValueError(kind)


def _degrade(x, rng):
    k = int(rng.integers(0, 7))
    if k == 0:
        return corpus.g711_roundtrip(x, FS, "ulaw")
    if k == 1:
        return corpus.lowpass(x, FS, float(rng.uniform(800, 3500)))
    if k == 2:
        return corpus.quantise(x, int(rng.integers(4, 10)))
    if k == 3:
        return corpus.frame_loss(x, FS, 0.1, rng)
    if k == 4:
        return corpus.clip(x, 0.3) * 2.0
    if k == 5:
        return x + 0.05 * float(np.std(x)) * rng.standard_normal(x.shape[0])
    return x.copy()


def _pair(kind, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6001, 24000))  # just above the lowered threshold, up to 4 blocks
    x = _content(kind, rng, n + 8000)
    delay = int(rng.integers(-n // 2 - 200, n // 2 + 200))  # beyond half too: lag 0
    if rng.random() < 0.3:
        delay = int(rng.integers(-40, 40))
    ref = x[4000 : 4000 + n]
    m = n + int(rng.integers(-n // 3, n // 3))
    deg = _degrade(x, rng)[max(4000 - delay, 0) : max(4000 - delay, 0) + m]
    return ref, deg


KINDS = ("music", "speech", "noise", "pink", "periodic", "sine", "pulses")


def _exact_contrast(ref, deg, noise_bound):
    """Contrast of the float64 correlation of the float32 envelopes (as the block search
    defines it): how far the true peak beats the best lag that aligns differently."""
    r = align.upper_envelope(ref, np.float32).astype(np.float64)
    d = align.upper_envelope(deg, np.float32).astype(np.float64)
    n = max(r.shape[0], d.shape[0])
    points = align.fast_length(2 * n - 1)
    c = np.fft.irfft(np.fft.rfft(r, points) * np.conj(np.fft.rfft(d, points)), points)
    peaks = long_align._Peaks(r.shape[0] / 2.0)
    peaks.add(1 - n, np.concatenate((c[points - (n - 1) :], c[:n])))
    return peaks.result(noise_bound, -np.inf, 1.0).contrast


ORDINARY = ("music", "speech", "noise")


@pytest.mark.usefixtures("small_blocks")
def test_block_search_agrees_with_the_whole_signal_lag():
    """490 pairs: no certain answer differs from the whole-signal method, every flag marks
    a true near-tie (the float64 correlation's contrast is within the noise bound), and
    ordinary content (music, speech, noise, their codec copies) is almost never flagged."""
    mismatched, unjustified, flags, total = [], [], dict.fromkeys(KINDS, 0), 0
    flagged_differing, examined = 0, []
    for kind in KINDS:
        for seed in range(70):
            ref, deg = _pair(kind, seed)
            assert max(ref.shape[0], deg.shape[0]) > align.BOUNDED_ABOVE
            found = align.envelope_peak(ref, deg)
            raw, kept = _whole(ref, deg)
            total += 1
            examined.append(found.examined)
            if not found.uncertain:
                if found.aligned != kept:
                    mismatched.append((kind, seed, found, raw))
                continue
            flags[kind] += 1
            flagged_differing += found.aligned != kept
            if _exact_contrast(ref, deg, found.noise) > 1.5 * found.noise:
                unjustified.append((kind, seed, found))
    print(f"\n{total} pairs, flagged {flags} ({flagged_differing} of them where the whole-"
          f"signal lag differs), {len(mismatched)} certain but different; share of lag "
          f"blocks computed: mean {np.mean(examined):.2f}")
    assert total == 490
    assert not mismatched
    assert not unjustified
    assert sum(flags[k] for k in ORDINARY) <= 3


def _far_apart(kind, seed):
    """A reference and a degraded piece of very different lengths (1/20 to 3 times)."""
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(6001, 12000))
    x = _content(kind, rng, 4 * n)
    start = int(rng.integers(0, 3 * n))
    if seed % 2:
        return x[:n], _degrade(x, rng)[start : start + int(rng.integers(n // 4, 3 * n))]
    return x[n : 3 * n], _degrade(x, rng)[start : start + int(rng.integers(300, n // 2))]


@pytest.mark.usefixtures("small_blocks")
def test_lengths_far_apart_agree_too():
    flagged = 0
    for kind in ORDINARY:
        for seed in range(30):
            ref, deg = _far_apart(kind, seed)
            found = align.envelope_peak(ref, deg)
            if found.uncertain:
                flagged += 1
                assert _exact_contrast(ref, deg, found.noise) <= 1.5 * found.noise
            else:
                assert found.aligned == _whole(ref, deg)[1], (kind, seed)
    assert flagged <= 15


def _piece(x):
    x32 = np.asarray(x, dtype=np.float32)

    def piece(start, stop, out):
        out[: stop - start] = 0.0
        lo, hi = max(start, 0), min(stop, x32.shape[0])
        if lo < hi:
            out[lo - start : hi - start] = x32[lo:hi]

    return piece


def _exact(r, d):
    """Every c(L) = sum_t r[t + L] d[t], L = -(n - 1)..n - 1, in float64 directly."""
    n = max(r.shape[0], d.shape[0])
    r64 = np.concatenate((np.zeros(n), r.astype(np.float64), np.zeros(n + d.shape[0])))
    return np.array([np.dot(r64[n + lag : n + lag + d.shape[0]], d) for lag in range(1 - n, n)])


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("seed", range(6))
def test_block_values_are_the_correlation(seed):
    rng = np.random.default_rng(seed)
    r = np.abs(rng.standard_normal(int(rng.integers(2000, 7000))))
    d = np.abs(rng.standard_normal(int(rng.integers(2000, 7000))))
    c = _exact(r.astype(np.float32), d.astype(np.float32))
    found = correlation_peak(_piece(r), _piece(d), r.shape[0], d.shape[0])
    n = max(r.shape[0], d.shape[0])
    assert found.lag == int(np.argmax(c)) - (n - 1)
    top, second = np.sort(c)[::-1][:2]
    kept = found.aligned
    assert kept == (found.lag if 0 < abs(found.lag) <= r.shape[0] / 2 else 0)
    if kept:  # the runner-up is any other lag; lags ruled out count at their bound
        assert found.contrast <= top - second + found.noise
        if found.examined == 1.0:
            assert found.contrast == pytest.approx(top - second, rel=1e-3)


@pytest.mark.usefixtures("small_blocks")
def test_an_exact_tie_between_two_delays_is_flagged():
    rng = np.random.default_rng(3)
    x = np.zeros(9000)
    x[3000:6000] = np.abs(rng.standard_normal(3000))
    d = np.roll(x, 700) + np.roll(x, -700)  # c(700) == c(-700) in exact arithmetic
    found = correlation_peak(_piece(x), _piece(d), 9000, 9000)
    assert abs(found.lag) == 700 and found.uncertain
    d = np.roll(x, 700) + 0.999 * np.roll(x, -700)  # a clear winner: the copy 700 late
    found = correlation_peak(_piece(x), _piece(d), 9000, 9000)
    assert found.aligned == -700 and not found.uncertain


@pytest.mark.usefixtures("small_blocks")
def test_a_tie_that_aligns_the_same_way_is_not_flagged():
    """Two peaks beyond half the reference both mean 'no shift': nothing is uncertain."""
    rng = np.random.default_rng(4)
    x = np.zeros(8000)
    x[3500:4500] = np.abs(rng.standard_normal(1000))
    d = np.zeros(30000)
    d[7700:8700] = d[8500:9500] = x[3500:4500]  # lags -4200 and -5000, both beyond 4000
    found = correlation_peak(_piece(x), _piece(d), 8000, 30000)
    assert found.lag == -5000 and found.aligned == 0 and not found.uncertain
    d[8500:9500] *= 0.5  # now a single copy at -4200 wins, alone
    found = correlation_peak(_piece(x), _piece(d), 8000, 30000)
    assert found.lag == -4200 and found.aligned == 0 and not found.uncertain


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize(("n_ref", "n_deg"), [(9000, 9000), (7000, 12000), (12000, 7000)])
def test_a_silent_degraded_signal_is_settled_at_once(n_ref, n_deg):
    ref = music(n_ref / FS, FS, 1)[:n_ref]
    found = align.envelope_peak(ref, np.zeros(n_deg))
    assert (found.lag, found.aligned) == _whole(ref, np.zeros(n_deg))
    assert not found.uncertain and found.examined == 0.0


def test_pieces_are_the_whole_envelope():
    x = np.random.default_rng(6).standard_normal(10_001)
    whole = align.upper_envelope(x, np.float32)
    piece = align._piecer(x)
    for start, stop in ((-50, 100), (0, 10_001), (333, 334), (9_990, 10_100), (12_000, 12_010)):
        out = np.full(stop - start, 9.0, dtype=np.float32)
        piece(start, stop, out)
        lo, hi = max(start, 0), min(stop, x.shape[0])
        expect = np.zeros(stop - start, dtype=np.float32)
        if lo < hi:
            expect[lo - start : hi - start] = whole[lo:hi]
        np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("lag", [0, 123, -777])
def test_shifted_signal_is_the_shifted_copy_bit_for_bit(monkeypatch, lag):
    """What long pairs read piece by piece equals what short pairs hold whole."""
    from perceptq.visqol import spectrogram
    from perceptq.visqol.config import VisqolConfig

    monkeypatch.setattr(align, "PIECE", 1000)
    monkeypatch.setattr(spectrogram, "FRAMES_PER_PIECE", 37)
    x = np.random.default_rng(7).standard_normal(3 * 16000)
    shifted = align.ShiftedSignal(x, lag)
    whole = np.concatenate((np.zeros(lag), x)) if lag >= 0 else x[-lag:]
    assert shifted.mean_square() == np.mean(whole * whole)
    assert align.mean_square(x) == np.mean(x * x)
    shifted.gain = 0.7
    np.testing.assert_array_equal(shifted[:], whole * 0.7)
    np.testing.assert_array_equal(shifted[100:250], (whole * 0.7)[100:250])
    config = VisqolConfig("speech", 16000)
    np.testing.assert_array_equal(spectrogram.gammatone_spectrogram(shifted, config),
                                  spectrogram.gammatone_spectrogram(whole * 0.7, config))


def test_similarity_rows_in_pieces_are_the_whole_table_and_path(monkeypatch):
    from perceptq.visqol import selection
    from perceptq.visqol.config import VisqolConfig

    rng = np.random.default_rng(8)
    config = VisqolConfig("speech", 16000, search_window=3)
    deg = rng.random((config.num_bands, 700)) * 40
    starts = np.arange(9, 680, 20)[rng.random(34) < 0.7]
    patches = np.ascontiguousarray(rng.random((starts.shape[0], config.num_bands, 20)) * 40)
    rows = []
    real = selection._dp_rows_kernel

    def spy(sim, first, *args):
        rows.append(sim.copy())
        real(sim, first, *args)

    monkeypatch.setattr(selection, "_dp_rows_kernel", spy)
    monkeypatch.setattr(selection, "PATCHES_PER_PIECE", 3)
    pieces = selection.match_patches(patches, starts, deg, config)
    # the whole table in one call on the whole padded spectrogram, as before the pieces
    lo = np.maximum(starts - 60, 0).astype(np.int64)
    hi = np.minimum(starts + 61, 700).astype(np.int64)
    width = int(np.max(hi - lo))
    padded = np.zeros((config.num_bands, 720))
    padded[:, :700] = deg
    whole = np.zeros((starts.shape[0], width))
    _dp_similarity_kernel(patches, padded, lo, width, whole)
    np.testing.assert_array_equal(np.concatenate(rows), whole)
    offsets, _ = _dp_path_kernel(whole, lo, hi)  # the path from the whole table
    assert [m.deg_start_s for m in pieces if not m.lost] == [
        o * config.frame_duration_s for o, m in zip(offsets, pieces, strict=True) if not m.lost]


def test_vad_in_pieces_keeps_the_same_patches(monkeypatch):
    from perceptq.visqol import patches

    rng = np.random.default_rng(9)
    x = rng.standard_normal(200_000) * np.repeat(rng.random(20) < 0.5, 10_000) * 0.3
    hop, size = 320, 20
    n_frames = 1 + (x.shape[0] - 1280) // hop
    # the whole-signal computation, as ViSQOL describes it
    first = size // 2 - 1
    n_patches = (n_frames - first) // size
    seg = (x / np.max(x))[first : first + n_patches * size * hop] * 32768.0
    pcm = np.trunc(np.clip(seg, -32768.0, 32767.0))
    active = patches.voice_activity(pcm[: pcm.shape[0] // hop * hop].reshape(-1, hop))
    expect = [first + size * i for i in range(n_patches)
              if active[i * size : (i + 1) * size].sum() >= 1.0]
    monkeypatch.setattr(patches, "VAD_CHUNKS_PER_PIECE", 7)
    got = patches.vad_patch_starts(x, n_frames, size, hop)
    assert got.tolist() == expect
    assert 0 < len(expect) < n_patches
