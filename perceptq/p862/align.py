"""Stage: time alignment (design note §5-§9).

VAD, whole-file (crude) delay, utterance detection, per-utterance crude and fine delay,
utterance splitting at delay changes. All positions are in padded coordinates: blocks of
``ds`` samples and samples of the padded buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
from numpy import fft  # the pocketfft of scipy.fft (bit-identical), without its import cost
from numpy.typing import NDArray

from perceptq.p862 import tables
from perceptq.p862._kernels import (
    _biquad_cascade_kernel,
    _delay_histogram_kernel,
    _first_argmax_kernel,
    _vad_kernel,
)
from perceptq.p862.config import (
    JOIN_SPEECH_BLOCKS,
    MIN_SPEECH_BLOCKS,
    MIN_SPLIT_BLOCKS,
    MIN_UTTERANCE_BLOCKS,
    SEARCH_BLOCKS,
    ModelConfig,
)


def tdiv(a: float, b: float) -> int:
    """Integer division truncating toward zero."""
    return int(a / b)


@dataclass
class Utterances:
    """Utterances of the reference with their delays (blocks / samples, padded coords)."""

    search_start: list[int] = field(default_factory=list)
    search_end: list[int] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    delay_est: list[int] = field(default_factory=list)
    delay: list[int] = field(default_factory=list)
    conf: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.start)


@dataclass(frozen=True)
class Signal:
    """An alignment signal: pre-filtered padded buffer with its VAD."""

    x: NDArray[np.float64]
    n_padded: int
    vad: NDArray[np.float64]
    log_vad: NDArray[np.float64]


def prefilter(buf: NDArray[np.float64], n_signal: int, cfg: ModelConfig) -> NDArray[np.float64]:
    """DC removal, edge fades and the alignment band-pass (§5). Returns a new buffer."""
    out = buf.copy()
    s0, ds = cfg.sb, cfg.ds
    seg = out[s0 : s0 + n_signal]
    seg -= seg.sum() / (n_signal + 2 * cfg.sb)
    fade = (0.5 + np.arange(ds)) / ds
    seg[:ds] *= fade
    seg[n_signal - ds :][::-1] *= fade
    return _biquad_cascade_kernel(out, tables.align_sos(cfg.fs))


def analyse(buf: NDArray[np.float64], n_signal: int, cfg: ModelConfig) -> Signal:
    """Pre-filter a level-normalised buffer and run the VAD on it (§5-§6)."""
    x = prefilter(buf, n_signal, cfg)
    n_padded = n_signal + 2 * cfg.sb
    vad, log_vad = _vad_kernel(x[: n_padded // cfg.ds * cfg.ds], cfg.ds, MIN_SPEECH_BLOCKS,
                               JOIN_SPEECH_BLOCKS)
    return Signal(x, n_padded, vad, log_vad)


def _envelope_lags(pairs: list[tuple[NDArray, NDArray]]) -> list[int]:
    """Lags (blocks, positive = degraded late) of the first strict maximum of the linear
    cross-correlation of each (reference, degraded) envelope pair; zero lag when nothing
    correlates. All pairs are transformed in one batch."""
    lags = [0] * len(pairs)
    todo = [i for i, (r, d) in enumerate(pairs) if r.shape[0] > 1 and d.shape[0] > 1]
    if not todo:
        return lags
    size = 1 << int(np.ceil(np.log2(max(pairs[i][0].shape[0] + pairs[i][1].shape[0] - 1
                                        for i in todo))))
    rev = np.zeros((len(todo), size))
    deg = np.zeros((len(todo), size))
    for row, i in enumerate(todo):
        r, d = pairs[i]
        rev[row, : r.shape[0]] = r[::-1]
        deg[row, : d.shape[0]] = d
    y = fft.irfft(fft.rfft(deg, axis=1) * fft.rfft(rev, axis=1), size, axis=1)
    for row, i in enumerate(todo):
        nr, nd = pairs[i][0].shape[0], pairs[i][1].shape[0]
        yi = y[row, : nr + nd - 1].copy()
        yi[np.abs(yi) < 1e-9 * max(1.0, float(np.abs(yi).max()))] = 0.0
        lags[i] = _first_argmax_kernel(yi) - (nr - 1) if np.any(yi > 0) else 0
    return lags


def crude_delay(ref: Signal, deg: Signal, cfg: ModelConfig) -> int:
    """Whole-file delay in samples from the log-VAD envelopes (§7)."""
    return _envelope_lags([(ref.log_vad, deg.log_vad)])[0] * cfg.ds


def _crude_segments(ref: Signal, deg: Signal, segments: list[tuple[int, int]], est: int,
                    cfg: ModelConfig) -> list[int]:
    """Envelope delay (samples) of each reference block range [b0, b1) around the
    estimate ``est`` (§8.2)."""
    cd = tdiv(est, cfg.ds)
    n_deg_blocks = deg.n_padded // cfg.ds
    pairs = []
    for b0, b1 in segments:
        startr, startd = b0, b0 + cd
        if startd < 0:
            startr, startd = -cd, 0
        nr = b1 - startr
        nd = min(nr, n_deg_blocks - startd)
        if nr <= 1 or nd <= 1:
            pairs.append((np.zeros(0), np.zeros(0)))
        else:
            pairs.append((ref.log_vad[startr : startr + nr], deg.log_vad[startd : startd + nd]))
    return [lag * cfg.ds + est for lag in _envelope_lags(pairs)]


def _accepted_runs(vad: NDArray[np.float64], lo: int, hi: int) -> list[tuple[int, int]]:
    """Speech runs (start, end) of the reference VAD accepted as utterances (§8.1)."""
    runs = []
    w = vad.shape[0]
    in_speech = False
    this_start = 0
    for b in range(w):
        v = vad[b]
        if v > 0 and not in_speech:
            in_speech = True
            this_start = b
        if (v == 0 or b == w - 1) and in_speech:
            in_speech = False
            if b - this_start >= MIN_UTTERANCE_BLOCKS and this_start < hi and b > lo:
                runs.append((this_start, b))
    return runs


def _correlation_windows(
    ref_x: NDArray[np.float64], deg_x: NDArray[np.float64], startr: NDArray, startd: NDArray,
    na: int,
) -> NDArray[np.float64]:
    """|circular cross-correlation| of Hann-windowed NA-sample windows, one row each.

    Window starts advance in equal steps, so both window sets are strided views.
    """
    if startr.shape[0] > 1 and startr[1] < startr[0]:  # backward sequence: compute forwards
        return _correlation_windows(ref_x, deg_x, startr[::-1], startd[::-1], na)[::-1]
    win = _hann(na)
    step = int(startr[1] - startr[0]) if startr.shape[0] > 1 else na
    n = startr.shape[0]

    def frames(x, s0):
        view = np.lib.stride_tricks.as_strided(
            x[s0:], shape=(n, na), strides=(step * x.strides[0], x.strides[0]), writeable=False
        )
        return fft.rfft(view * win, axis=1)

    xr = frames(ref_x, int(startr[0]))
    xd = frames(deg_x, int(startd[0]))
    return np.abs(fft.irfft(np.conj(xr) * xd, na, axis=1))


@cache
def _hann(n: int) -> NDArray[np.float64]:
    w = 0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(n) / n))
    w.setflags(write=False)
    return w


def _window_delays(ref: Signal, deg: Signal, startr: NDArray, startd: NDArray,
                   counts: list[int], cfg: ModelConfig) -> list[tuple[int, float]]:
    """(lag, confidence) of the delay histogram after each of ``counts`` (ascending) windows.

    Lags at or beyond na/2 are negative; an empty histogram gives (0, 0.0).
    """
    if startr.shape[0] == 0:
        return [(0, 0.0)] * len(counts)
    corr = _correlation_windows(ref.x, deg.x, startr, startd, cfg.na)
    ks, shares = _delay_histogram_kernel(corr, cfg.na // 64, np.asarray(counts, dtype=np.int64))
    na = cfg.na
    return [(int(k) - na if k >= na // 2 else int(k), float(c))
            for k, c in zip(ks, shares, strict=True)]


def _forward_windows(b_start: int, est: int, limit: int, n_deg: int, cfg: ModelConfig):
    """Window starts from reference sample b_start*ds forward while inside ``limit``."""
    startr = b_start * cfg.ds
    startd = startr + est
    if startd < 0:
        startr, startd = -est, 0
    step = cfg.na // 4
    count = max(0, min((limit - cfg.na - startr) // step, (n_deg - cfg.na - startd) // step) + 1)
    if startr + cfg.na > limit or startd + cfg.na > n_deg:
        count = 0
    k = np.arange(count)
    return startr + k * step, startd + k * step


def fine_delay(ref: Signal, deg: Signal, utt: Utterances, u: int, cfg: ModelConfig) -> None:
    """Per-utterance fine delay from a histogram of correlation peaks (§8.3)."""
    est = utt.delay_est[u]
    sr, sd = _forward_windows(utt.search_start[u], est, utt.search_end[u] * cfg.ds,
                              deg.n_padded, cfg)
    lag, conf = _window_delays(ref, deg, sr, sd, [sr.shape[0]], cfg)[0]
    utt.delay[u] = est + lag
    utt.conf[u] = conf


def find_utterances(ref: Signal, deg: Signal, cfg: ModelConfig) -> Utterances:
    """Locate utterances in the reference and estimate each one's delay (§7-§9.1)."""
    ds = cfg.ds
    crude = crude_delay(ref, deg, cfg)
    cd = tdiv(crude, ds)
    w = ref.n_padded // ds
    lo = MIN_UTTERANCE_BLOCKS - cd
    hi = tdiv(deg.n_padded - crude, ds) - MIN_UTTERANCE_BLOCKS
    runs = _accepted_runs(ref.vad, lo, hi)
    utt = Utterances()
    for s, e in runs:
        utt.search_start.append(max(s - SEARCH_BLOCKS, 0))
        utt.search_end.append(min(e + SEARCH_BLOCKS, w - 1))
        utt.start.append(s)
        utt.end.append(e)
        utt.delay_est.append(crude)
        utt.delay.append(crude)
        utt.conf.append(0.0)
    for u in range(len(utt)):
        utt.delay_est[u] = _crude_segments(
            ref, deg, [(utt.search_start[u], utt.search_end[u])], crude, cfg
        )[0]
        fine_delay(ref, deg, utt, u, cfg)
    if len(utt):
        _set_boundaries(utt, w, deg.n_padded, cfg)
    return utt


def _set_boundaries(utt: Utterances, w: int, n_deg: int, cfg: ModelConfig) -> None:
    """Utterance boundaries halfway between speech runs, kept inside the signals (§9.1)."""
    ds, sb = cfg.ds, SEARCH_BLOCKS
    n = len(utt)
    utt.start[0] = sb
    utt.end[n - 1] = w - sb
    for u in range(1, n):
        m = tdiv(utt.start[u] + utt.end[u - 1], 2)
        utt.start[u] = utt.end[u - 1] = m
    if utt.start[0] * ds + utt.delay[0] < sb * ds:
        utt.start[0] = sb + tdiv(ds - 1 - utt.delay[0], ds)
    last = n - 1
    if utt.end[last] * ds + utt.delay[last] > n_deg - sb * ds:
        utt.end[last] = tdiv(n_deg - utt.delay[last], ds) - sb
    for u in range(1, n):
        s = utt.start[u] * ds + utt.delay[u]
        e = utt.end[u - 1] * ds + utt.delay[u - 1]
        if s < e:
            m = tdiv(s + e, 2)
            utt.start[u] = tdiv(ds - 1 + m - utt.delay[u], ds)
            utt.end[u - 1] = tdiv(m - utt.delay[u - 1], ds)


def _backward_windows(b_end: int, est: int, limit: int, n_deg: int, cfg: ModelConfig):
    """Window starts from reference sample b_end*ds - na backwards while >= ``limit``."""
    startr = b_end * cfg.ds - cfg.na
    startd = startr + est
    if startd + cfg.na > n_deg:
        startd = n_deg - cfg.na
        startr = startd - est
    step = cfg.na // 4
    count = 0 if startd < 0 or startr < limit else min(startd // step, (startr - limit) // step) + 1
    k = np.arange(count)
    return startr - k * step, startd - k * step


def _part_delays(ref, deg, estimates, limits, forward, b_edge, cfg):
    """Fine delay and confidence of one side of every break-point candidate (§9.2.5-6).

    Candidates sharing an estimate share the window sequence: the histogram of a
    candidate is a prefix sum of the per-window contributions.
    """
    out: dict[int, tuple[int, float]] = {}
    for est in sorted(set(estimates[b] for b in limits)):
        members = [b for b in limits if estimates[b] == est]
        if forward:
            far = max(limits[b] for b in members)
            sr, sd = _forward_windows(b_edge, est, far, deg.n_padded, cfg)
        else:
            far = min(limits[b] for b in members)
            sr, sd = _backward_windows(b_edge, est, far, deg.n_padded, cfg)
        counts = {}
        for b in members:
            if forward:
                counts[b] = int(np.count_nonzero(sr + cfg.na <= limits[b]))
            else:
                counts[b] = int(np.count_nonzero(sr >= limits[b]))
        order = sorted(members, key=counts.get)
        found = _window_delays(ref, deg, sr, sd, [counts[b] for b in order], cfg)
        for b, (lag, conf) in zip(order, found, strict=True):
            out[b] = (est + lag, conf)
    return out


def split_utterances(ref: Signal, deg: Signal, utt: Utterances, cfg: ModelConfig) -> None:
    """Split utterances where the delay changes inside them (§9.2), in place."""
    ds, sb = cfg.ds, SEARCH_BLOCKS
    delta = cfg.na // (4 * ds)
    u = 0
    while u < len(utt):
        s0, e0 = utt.start[u], utt.end[u]
        speech = np.flatnonzero(ref.vad[s0 : e0 + 1] > 0)
        if speech.size == 0:
            u += 1
            continue
        sp_start = s0 + int(speech[0])
        sp_end = s0 + int(speech[-1]) + 1
        length = sp_end - sp_start
        if length < MIN_SPLIT_BLOCKS:
            u += 1
            continue
        step = tdiv(0.801 * length + 40 * delta - 1, 40 * delta) * delta
        pad = max(tdiv(length, 10), SEARCH_BLOCKS)
        bps = [sp_start + pad]
        while bps[-1] + step <= sp_end - pad and len(bps) < 40:
            bps.append(bps[-1] + step)
        est = utt.delay_est[u]
        ed1 = _crude_segments(ref, deg, [(s0, bp) for bp in bps], est, cfg)
        ed2 = _crude_segments(ref, deg, [(bp, e0) for bp in bps], est, cfg)
        first = _part_delays(ref, deg, ed1, {b: bps[b] * ds for b in range(len(bps))},
                             True, s0, cfg)
        conf_u = utt.conf[u]
        second_set = {b: bps[b] * ds for b in range(len(bps)) if first[b][1] > conf_u}
        second = _part_delays(ref, deg, ed2, second_set, False, e0, cfg) if second_set else {}
        best, best_sum = -1, 0.0
        for b in sorted(second):  # candidate order decides ties
            d1, c1 = first[b]
            d2, c2 = second[b]
            if abs(d2 - d1) >= ds and c1 > conf_u and c2 > conf_u and c1 + c2 > best_sum:
                best, best_sum = b, c1 + c2
        if best < 0:
            u += 1
            continue
        bp = bps[best]
        (d1, c1), (d2, c2) = first[best], second[best]
        utt.search_start.insert(u + 1, utt.search_start[u])
        utt.search_end.insert(u + 1, utt.search_end[u])
        utt.delay_est[u] = ed1[best]
        utt.delay_est.insert(u + 1, ed2[best])
        utt.delay[u] = d1
        utt.delay.insert(u + 1, d2)
        utt.conf[u] = c1
        utt.conf.insert(u + 1, c2)
        if d2 < d1:
            utt.end[u] = bp
            utt.start.insert(u + 1, bp)
        else:
            half = tdiv(d2 - d1, 2 * ds)
            utt.end[u] = bp + half
            utt.start.insert(u + 1, bp - half)
        utt.end.insert(u + 1, e0)
        if (utt.start[u] - sb) * ds + d1 < 0:
            utt.start[u] = sb + tdiv(ds - 1 - d1, ds)
        if utt.end[u + 1] * ds + d2 > deg.n_padded - sb * ds:
            utt.end[u + 1] = tdiv(deg.n_padded - d2, ds) - sb
