"""Stage: time alignment (design note §5-§9.1).

VAD, whole-file (crude) delay, utterance detection, per-utterance crude and fine delay, and
the fine-delay window of the break-point search as the reference leaves it
(:func:`effective_window`); the splitting itself is in :mod:`perceptq.p862.split`. All
positions are in padded coordinates: blocks of ``ds`` samples and samples of the padded
buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
import scipy.fft
from numpy import fft  # double precision: the pocketfft of scipy.fft, bit-identical
from numpy.typing import NDArray

from perceptq.p862 import tables
from perceptq.p862._kernels import (
    _delay_histogram_kernel,
    _first_peaks_kernel,
    _vad_kernel,
    _window_peaks_kernel,
    _xcorr_rows_kernel,
)
from perceptq.p862.config import (
    JOIN_SPEECH_BLOCKS,
    MIN_SPEECH_BLOCKS,
    MIN_UTTERANCE_BLOCKS,
    SEARCH_BLOCKS,
    ModelConfig,
)
from perceptq.p862.level import cascade_pair


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


@dataclass
class WindowPeaks:
    """What each fine-delay window of one pair and one window shape adds to a delay
    histogram (:func:`perceptq.p862._kernels._window_peaks_kernel`), kept by window
    position so that a window the alignment visits again is transformed only once.

    The break-point searches go over windows that the utterance's fine delay already
    used, and search an utterance again after each split: about a quarter of all windows
    are visits again. ``keys`` (sorted) are ``startr * 2**32 + startd``; ``rows[i]`` is
    the peak row of ``keys[i]`` in ``offsets, lags, inc``.
    """

    keys: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    rows: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    offsets: NDArray[np.int64] = field(default_factory=lambda: np.zeros(1, np.int64))
    lags: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    inc: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    def find(self, keys: NDArray[np.int64]) -> NDArray[np.int64]:
        """Peak row of each key, -1 where not yet known."""
        if self.keys.shape[0] == 0:
            return np.full(keys.shape[0], -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), self.keys.shape[0] - 1)
        return np.where(self.keys[at] == keys, self.rows[at], -1)

    def add(self, keys: NDArray[np.int64], offsets: NDArray[np.int64],
            lags: NDArray[np.int64], inc: NDArray[np.float64]) -> NDArray[np.int64]:
        """Store the peaks of new windows ``keys``; returns their rows."""
        first = self.inc.shape[0]
        new_rows = np.arange(first, first + keys.shape[0])
        self.offsets = np.concatenate((self.offsets, offsets[1:] + self.offsets[-1]))
        self.lags = np.concatenate((self.lags, lags))
        self.inc = np.concatenate((self.inc, inc))
        keys = np.concatenate((self.keys, keys))
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.rows = np.concatenate((self.rows, new_rows))[order]
        return new_rows


@dataclass(frozen=True)
class Signal:
    """An alignment signal: pre-filtered padded buffer with its VAD.

    ``peaks``: on the degraded signal of a pair, the fine-delay windows computed against
    the pair's reference so far, per window shape (:class:`WindowPeaks`)."""

    x: NDArray[np.float64]
    n_padded: int
    vad: NDArray[np.float64]
    log_vad: NDArray[np.float64]
    peaks: dict[bytes, WindowPeaks] = field(default_factory=dict, compare=False, repr=False)


def _prepared(buf: NDArray[np.float64], n_signal: int, cfg: ModelConfig) -> NDArray[np.float64]:
    """DC removal and edge fades of the alignment pre-filter (§5). Returns a new buffer."""
    out = buf.copy()
    s0, ds = cfg.sb, cfg.ds
    seg = out[s0 : s0 + n_signal]
    seg -= seg.sum() / (n_signal + 2 * cfg.sb)
    fade = (0.5 + np.arange(ds)) / ds
    seg[:ds] *= fade
    seg[n_signal - ds :][::-1] *= fade
    return out


def analyse_pair(ref_buf: NDArray[np.float64], n_ref: int, deg_buf: NDArray[np.float64],
                 n_deg: int, cfg: ModelConfig) -> tuple[Signal, Signal]:
    """Pre-filter two level-normalised buffers (DC removal, edge fades and the alignment
    band-pass, §5) and run the VAD on each (§6): the two signals' :class:`Signal`."""
    xs = cascade_pair(_prepared(ref_buf, n_ref, cfg), _prepared(deg_buf, n_deg, cfg),
                      tables.align_sos(cfg.fs))
    out = []
    for x, n_signal in zip(xs, (n_ref, n_deg), strict=True):
        n_padded = n_signal + 2 * cfg.sb
        vad, log_vad = _vad_kernel(x[: n_padded // cfg.ds * cfg.ds], cfg.ds, MIN_SPEECH_BLOCKS,
                                   JOIN_SPEECH_BLOCKS)
        out.append(Signal(x, n_padded, vad, log_vad))
    return out[0], out[1]


@dataclass(frozen=True)
class Pieces:
    """(reference, degraded) envelope pieces whose cross-correlations are taken (§7-§9.2):
    piece ``i`` is ``ref[startr[i] : startr[i] + nr[i]]`` against ``deg[startd[i] :
    startd[i] + nd[i]]``. A piece with a side of one sample or less is skipped (the
    reference skips it). Pieces are ranges of two envelopes, not copies of them."""

    ref: NDArray[np.float64]
    deg: NDArray[np.float64]
    startr: NDArray[np.int64]
    nr: NDArray[np.int64]
    startd: NDArray[np.int64]
    nd: NDArray[np.int64]

    @classmethod
    def of(cls, pairs: list[tuple[NDArray, NDArray]]) -> Pieces:
        """Pieces from a list of (reference, degraded) arrays (laid end to end)."""
        nr = np.array([r.shape[0] for r, _ in pairs], dtype=np.int64)
        nd = np.array([d.shape[0] for _, d in pairs], dtype=np.int64)

        def joined(arrays):
            return np.concatenate([np.asarray(a, dtype=np.float64) for a in arrays] or [[]])

        return cls(joined([r for r, _ in pairs]), joined([d for _, d in pairs]),
                   np.cumsum(nr) - nr, nr, np.cumsum(nd) - nd, nd)

    def __len__(self) -> int:
        return self.nr.shape[0]

    def __getitem__(self, i: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Piece ``i`` as two arrays (views)."""
        a, b = int(self.startr[i]), int(self.startd[i])
        return self.ref[a : a + int(self.nr[i])], self.deg[b : b + int(self.nd[i])]

    def take(self, index: NDArray[np.int64]) -> Pieces:
        """The pieces ``index``, in that order."""
        return Pieces(self.ref, self.deg, self.startr[index], self.nr[index],
                      self.startd[index], self.nd[index])

    def on(self, ref: NDArray[np.float64], deg: NDArray[np.float64]) -> Pieces:
        """The same ranges of two other envelopes (of the same lengths)."""
        return Pieces(ref, deg, self.startr, self.nr, self.startd, self.nd)


def _xcorr_groups(pieces: Pieces, single: bool = False
                  ) -> list[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]]:
    """The cross-correlations of :func:`envelope_xcorr` as rows of circular transforms.

    Each piece is transformed over the power-of-two length of its own correlation (``nr +
    nd - 1`` rounded up), as the reference transforms it; pieces sharing that length go in
    one batch (a row's transform does not depend on the other rows). Returns, per batch:
    (the pieces of its rows, the rows, their valid lengths). ``single``: in single
    precision, as the reference computes them.
    """
    lengths = pieces.nr + pieces.nd - 1
    ok = np.flatnonzero((pieces.nr > 1) & (pieces.nd > 1))
    # 1 << (lengths - 1).bit_length(): frexp's exponent is the bit length (lengths >= 3)
    sizes = np.left_shift(1, np.frexp((lengths[ok] - 1).astype(np.float64))[1].astype(np.int64))
    out = []
    dtype, lib = (np.float32, scipy.fft) if single else (np.float64, fft)
    for size in np.unique(sizes).tolist():
        todo = ok[sizes == size]
        rows = np.zeros((2, todo.shape[0], size), dtype)  # reversed reference; degraded
        _xcorr_rows_kernel(pieces.ref, pieces.deg, pieces.startr, pieces.nr, pieces.startd,
                           pieces.nd, todo, rows[0], rows[1])
        spec = lib.rfft(rows, axis=2)
        spec[1] *= spec[0]
        out.append((todo, lib.irfft(spec[1], size, axis=1), lengths[todo]))
    return out


def envelope_xcorr(pieces: Pieces) -> list[NDArray[np.float64]]:
    """Full linear cross-correlation of each (reference, degraded) envelope piece (§7):
    ``y[c] = sum_n r[n] * d[n + c - (nr - 1)]``, c = 0 ... nr + nd - 2, i.e. index nr - 1 is
    lag 0 and higher indices are the degraded signal later. A piece with a side of one
    sample or less gives an empty array (the reference skips it)."""
    out = [np.zeros(0)] * len(pieces)
    for todo, y, lengths in _xcorr_groups(pieces):
        for row, i in enumerate(todo.tolist()):
            out[i] = y[row, : lengths[row]]
    return out


def _envelope_lags(pieces: Pieces) -> NDArray[np.int64]:
    """Lags (blocks, positive = degraded late) of the first strict maximum of the linear
    cross-correlation of each (reference, degraded) envelope piece; zero lag when nothing
    correlates.

    Values below 1e-9 x the largest magnitude (at least 1) count as zero, so the lag is the
    first maximum when that maximum is positive and not below this floor. The envelopes
    are never negative, so a piece has either a positive maximum or none at all (exact
    zeros in any precision): the correlations run in single precision, as in the
    reference (on the test corpora's 1087 outputs no delay changed against double
    precision).
    """
    lags = np.zeros(len(pieces), dtype=np.int64)
    for todo, y, lengths in _xcorr_groups(pieces, single=True):
        best = np.zeros(todo.shape[0], dtype=np.int64)
        found = np.zeros(todo.shape[0], dtype=np.bool_)
        _first_peaks_kernel(y, lengths, best, found)
        hit = todo[found]
        lags[hit] = best[found] - (pieces.nr[hit] - 1)
    return lags


def crude_delay(ref: Signal, deg: Signal, cfg: ModelConfig) -> int:
    """Whole-file delay in samples from the log-VAD envelopes (§7)."""
    whole = Pieces(ref.log_vad, deg.log_vad, np.zeros(1, np.int64),
                   np.array([ref.log_vad.shape[0]]), np.zeros(1, np.int64),
                   np.array([deg.log_vad.shape[0]]))
    return int(_envelope_lags(whole)[0]) * cfg.ds


def segment_pieces(ref: Signal, deg: Signal, segments: NDArray[np.int64], est: int,
                   cfg: ModelConfig) -> Pieces:
    """The (reference, degraded) log-VAD envelope pieces that the crude alignment of each
    reference block range [b0, b1) (rows of ``segments``) around the estimate ``est``
    correlates (§8.2); empty pieces where the range is too short."""
    cd = tdiv(est, cfg.ds)
    b0, b1 = segments[:, 0], segments[:, 1]
    startr, startd = b0.copy(), b0 + cd
    before = startd < 0
    startr[before], startd[before] = -cd, 0
    nr = b1 - startr
    nd = np.minimum(nr, deg.n_padded // cfg.ds - startd)
    empty = (nr <= 1) | (nd <= 1)
    # Each range as slicing the envelope would give it (clipped at the envelope's end).
    nr = np.where(empty, 0, np.clip(nr, 0, ref.log_vad.shape[0] - startr))
    nd = np.where(empty, 0, np.clip(nd, 0, deg.log_vad.shape[0] - startd))
    return Pieces(ref.log_vad, deg.log_vad, np.where(empty, 0, startr), nr,
                  np.where(empty, 0, startd), nd)


def piece_delays(pieces: Pieces, est: int, cfg: ModelConfig) -> list[int]:
    """Envelope delay (samples) of each piece of :func:`segment_pieces` around ``est``."""
    return (_envelope_lags(pieces) * cfg.ds + est).tolist()


def _accepted_runs(vad: NDArray[np.float64], lo: int, hi: int) -> list[tuple[int, int]]:
    """Speech runs (start, end) of the reference VAD accepted as utterances (§8.1).

    A run starts at a block with ``vad > 0`` and ends at the next block whose value is
    exactly 0 (negative values do not end it) or at the last block; the next run starts
    after that end. Runs are walked end to end (a few per file), not block by block.
    """
    w = vad.shape[0]
    if w == 0:
        return []
    speech = np.flatnonzero(vad > 0)
    ends = np.append(np.flatnonzero(vad == 0), w - 1)
    runs = []
    i = 0
    while i < speech.shape[0]:
        start = int(speech[i])
        end = int(ends[np.searchsorted(ends, start)])  # never a zero at `start` itself
        if end - start >= MIN_UTTERANCE_BLOCKS and start < hi and end > lo:
            runs.append((start, end))
        i = int(np.searchsorted(speech, end, side="right"))
    return runs


def _correlation_windows(
    ref_x: NDArray[np.float64], deg_x: NDArray[np.float64], startr: NDArray, startd: NDArray,
    win: NDArray[np.float64],
) -> NDArray[np.float64]:
    """|circular cross-correlation| of NA-sample windows weighted by ``win``, one row each,
    for window starts advancing (or, reversed, receding) in equal steps: both window
    sets are strided views. Rows come in ascending start order.

    In single precision, as the reference computes them (and half the time of double
    precision): only each window's peak lags are used, and on the test corpora (1087
    pairs and modes) no delay, split or flag changed against double precision.
    """
    if startr.shape[0] > 1 and startr[1] < startr[0]:
        startr, startd = startr[::-1], startd[::-1]
    na = win.shape[0]
    step = int(startr[1] - startr[0]) if startr.shape[0] > 1 else na
    n = startr.shape[0]

    frames = np.empty((2, n, na), np.float32)  # windowed reference and degraded frames
    for side, x, s0 in ((0, ref_x, int(startr[0])), (1, deg_x, int(startd[0]))):
        frames[side] = np.lib.stride_tricks.as_strided(
            x[s0:], shape=(n, na), strides=(step * x.strides[0], x.strides[0]), writeable=False)
    frames *= win.astype(np.float32)
    spec = scipy.fft.rfft(frames, axis=2, overwrite_x=True, workers=1)
    np.conjugate(spec[0], out=spec[0])  # in place: no temporaries
    spec[0] *= spec[1]
    y = scipy.fft.irfft(spec[0], na, axis=1, overwrite_x=True, workers=1)
    return np.abs(y, out=y)


def _runs(index: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    """``index`` (ascending) cut into runs of consecutive values."""
    return np.split(index, np.flatnonzero(np.diff(index) != 1) + 1)


def window_peaks(ref: Signal, deg: Signal, startr: NDArray, startd: NDArray,
                 win: NDArray[np.float64]) -> tuple[WindowPeaks, NDArray[np.int64]]:
    """The peaks of the windows at ``startr``/``startd`` (equal steps), transforming only
    those not seen before with this window shape: (the pair's :class:`WindowPeaks` for
    ``win``, the row of each window)."""
    memo = deg.peaks.setdefault(win.tobytes(), WindowPeaks())
    keys = startr.astype(np.int64) * (1 << 32) + startd
    rows = memo.find(keys)
    missing = np.flatnonzero(rows < 0)
    if missing.shape[0]:
        backward = startr.shape[0] > 1 and startr[1] < startr[0]
        for run in _runs(missing):
            corr = _correlation_windows(ref.x, deg.x, startr[run], startd[run], win)
            rows[run] = memo.add(keys[run], *_window_peaks_kernel(corr, backward))
    return memo, rows


@cache
def hann(n: int) -> NDArray[np.float64]:
    """Periodic Hann window of length ``n`` (read-only): the fine-delay window (§8.3) and
    the window of the perceptual model's frames (§11.2)."""
    w = 0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(n) / n))
    w.setflags(write=False)
    return w


def window_offset(na: int) -> int:
    """Where the reference keeps the break-point search's window in the scratch buffer that
    also receives every envelope cross-correlation of the search: ``3 * na + 6``."""
    return 3 * na + 6


@dataclass(frozen=True)
class BreakWindow:
    """The fine-delay window of one break-point search (§9.2), as the reference uses it.

    Attributes
    ----------
    values : ndarray (na,)
        The window; samples overwritten by a correlation hold its exact value.
    written : ndarray of bool (na,)
        Samples overwritten by an envelope cross-correlation (the head of the window).
    noise : ndarray of bool (na,)
        Written samples whose exact value is 0 (no overlapping speech at that lag): the
        reference computes them with a float32 FFT, so it holds rounding noise there.
    scale : float
        Largest |value| of the correlations written (the size of their rounding noise is
        about float32 epsilon times this).
    """

    values: NDArray[np.float64]
    written: NDArray[np.bool_]
    noise: NDArray[np.bool_]
    scale: float


def effective_window(pieces: Pieces, na: int) -> BreakWindow:
    """The Hann window of a break-point search as the reference leaves it (§9.2).

    The reference keeps the window at offset ``window_offset(na)`` of a scratch buffer and
    then writes, candidate by candidate, the full envelope cross-correlation of the part
    before and then of the part after the break point (:func:`envelope_xcorr`, ``nr + nd
    - 1`` values) to the start of the same buffer. Window sample ``i`` thus becomes value
    ``window_offset(na) + i`` of the last correlation long enough to reach it; samples no
    correlation reaches keep the Hann value. ``pieces`` are the envelope pieces of
    :func:`segment_pieces` in that order (first, second, first, second, ...). Pure.
    """
    off = window_offset(na)
    chosen: list[tuple[int, int, int]] = []  # (first sample, end, piece), last writer wins
    reach = 0
    for i in range(len(pieces) - 1, -1, -1):
        nr, nd = int(pieces.nr[i]), int(pieces.nd[i])
        if nr > 1 and nd > 1:
            n = min(na, nr + nd - 1 - off)
            if n > reach:
                chosen.append((reach, n, i))
                reach = n
    values = hann(na).copy()
    written = np.zeros(na, dtype=bool)
    noise = np.zeros(na, dtype=bool)
    if not chosen:
        return BreakWindow(values, written, noise, 0.0)
    used = pieces.take(np.array([i for _, _, i in chosen], dtype=np.int64))
    ys = envelope_xcorr(used)
    support = envelope_xcorr(used.on((used.ref > 0).astype(np.float64),
                                     (used.deg > 0).astype(np.float64)))
    scale = max(float(np.abs(y).max()) for y in ys)
    for k, (lo, hi, _) in enumerate(chosen):
        values[lo:hi] = ys[k][off + lo : off + hi]
        noise[lo:hi] = support[k][off + lo : off + hi] < 0.5  # no speech overlaps
    written[:reach] = True
    values[noise] = 0.0
    return BreakWindow(values, written, noise, scale)


def window_delays(ref: Signal, deg: Signal, startr: NDArray, startd: NDArray,
                  counts: list[int], cfg: ModelConfig,
                  win: NDArray[np.float64] | None = None) -> list[tuple[int, float]]:
    """(lag, confidence) of the delay histogram after each of ``counts`` (ascending) windows
    at the sample starts ``startr``/``startd``, weighted by ``win`` (default: Hann).

    Lags at or beyond na/2 are negative; an empty histogram gives (0, 0.0).
    """
    if startr.shape[0] == 0:
        return [(0, 0.0)] * len(counts)
    memo, rows = window_peaks(ref, deg, startr, startd, hann(cfg.na) if win is None else win)
    na = cfg.na
    ks, shares = _delay_histogram_kernel(rows, memo.offsets, memo.lags, memo.inc, na, na // 64,
                                         np.asarray(counts, dtype=np.int64))
    return [(int(k) - na if k >= na // 2 else int(k), float(c))
            for k, c in zip(ks, shares, strict=True)]


def forward_windows(b_start: int, est: int, limit: int, n_deg: int, cfg: ModelConfig):
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
    sr, sd = forward_windows(utt.search_start[u], est, utt.search_end[u] * cfg.ds,
                              deg.n_padded, cfg)
    lag, conf = window_delays(ref, deg, sr, sd, [sr.shape[0]], cfg)[0]
    utt.delay[u] = est + lag
    utt.conf[u] = conf


def find_utterances(ref: Signal, deg: Signal, cfg: ModelConfig,
                    crude: int | None = None) -> Utterances:
    """Locate utterances in the reference and estimate each one's delay (§7-§9.1).

    ``crude``: the :func:`crude_delay` of the pair, when already computed."""
    ds = cfg.ds
    if crude is None:
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
    if len(utt):
        searched = np.column_stack((utt.search_start, utt.search_end)).astype(np.int64)
        utt.delay_est = piece_delays(segment_pieces(ref, deg, searched, crude, cfg), crude, cfg)
    for u in range(len(utt)):
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
