"""Stage: disturbance per frame and its aggregation (design note §11.5-§15)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy import fft  # double precision: the pocketfft of scipy.fft, bit-identical
from numpy.typing import NDArray

from perceptq.p862 import perceptual
from perceptq.p862._kernels import _frame_disturbance_kernel, _lpq_kernel
from perceptq.p862.align import Utterances, tdiv
from perceptq.p862.config import (
    BAD_FRAME_THRESHOLD,
    BAD_INTERVAL_SEARCH_FRAMES,
    MIN_BAD_INTERVAL_FRAMES,
    SEARCH_BLOCKS,
    ModelConfig,
)
from perceptq.p862.tables import BarkTable

FRAME_CLIP = 45.0


def frame_disturbance(ppd_ref, ppd_deg, bark: BarkTable, cfg: ModelConfig, *, g_prev=1.0,
                      smooth_first=False):
    """(symmetric, asymmetric, reference audible power) per frame (§11.5-§11.6)."""
    return _frame_disturbance_kernel(
        np.ascontiguousarray(ppd_ref), np.ascontiguousarray(ppd_deg), bark.abs_thresh,
        bark.centre_bark, bark.width_bark, cfg.sl, g_prev, smooth_first,
    )


def utterance_of(positions: NDArray[np.int64], utt: Utterances, cfg: ModelConfig) -> NDArray:
    """Index of the utterance governing each padded sample position (§11.2)."""
    starts = np.asarray(utt.start, dtype=np.int64) * cfg.ds
    return np.maximum(np.searchsorted(starts, positions, side="right") - 1, 0)


def skip_repeated_frames(fd, fa, utt: Utterances, stop_frame: int, cfg: ModelConfig) -> None:
    """Zero the frames the degraded signal repeats where the delay drops (§12), in place."""
    ds, hop, sb = cfg.ds, cfg.hop, SEARCH_BLOCKS
    for u in range(1, len(utt)):
        f1 = tdiv((utt.start[u] - sb) * ds + utt.delay[u], hop)
        j = tdiv((utt.end[u - 1] - sb) * ds + utt.delay[u - 1], hop)
        f1 = max(min(f1, j), 0)
        jump = utt.delay[u] - utt.delay[u - 1]
        if jump < -hop:
            f2 = tdiv((utt.start[u] - sb) * ds + abs(jump), hop) + 1
            hi = min(f2, stop_frame - 1)
            if hi >= f1:
                fd[f1 : hi + 1] = 0.0
                fa[f1 : hi + 1] = 0.0


def bad_intervals(fd: NDArray[np.float64], stop_frame: int) -> list[tuple[int, int]]:
    """Runs [first, end) of smeared bad frames worth re-aligning (§13.2-§13.3).

    Frame f (2 <= f < stop_frame - 2) is smeared when a bad frame lies among f-2..f and
    among f..f+2 (frame 0 never counts as bad); runs of at least MIN_BAD_INTERVAL_FRAMES
    smeared frames that end before ``stop_frame`` are kept.
    """
    bad = fd[: stop_frame + 1] > BAD_FRAME_THRESHOLD
    bad[0] = False
    smeared = np.zeros(stop_frame + 1, dtype=bool)
    if stop_frame - 2 > 2:
        f = slice(2, stop_frame - 2)
        before = bad[0 : stop_frame - 4] | bad[1 : stop_frame - 3] | bad[f]
        after = bad[f] | bad[3 : stop_frame - 1] | bad[4:stop_frame]
        smeared[f] = before & after
    edges = np.diff(smeared.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    firsts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(firsts, ends, strict=True)
            if b <= stop_frame and b - a >= MIN_BAD_INTERVAL_FRAMES]


def _interval_delay(
    r: NDArray[np.float64], d: NDArray[np.float64], search: int
) -> tuple[int, float]:
    """Delay of |d| against |r| (normalised correlation), lags -search..search-1 (§13.4)."""
    n = r.shape[0]
    size = 1 << int(np.ceil(np.log2(2 * n)))
    p1 = float(np.sum(r * r)) / size
    p2 = float(np.sum(d * d)) / size
    if p1 <= 1e-6 or p2 <= 1e-6:
        return 0, 0.0
    spec_r = fft.rfft(np.abs(r), size)
    y = fft.irfft(np.conj(spec_r) * fft.rfft(np.abs(d), size), size)
    h = np.abs(y) / np.sqrt(p1 * p2) / size
    cand = np.concatenate((h[size - search :], h[:search]))
    k = int(np.argmax(cand))
    if cand[k] <= 0:
        return 0, 0.0
    return k - search, float(cand[k])


@dataclass
class FrameModel:
    """Per-frame model state needed by the bad-interval re-alignment."""

    ppd_ref: NDArray[np.float64]
    ref_model: NDArray[np.float64]
    deg_model: NDArray[np.float64]
    max_padded: int
    stop_frame: int


def realign_bad_intervals(fd, fa, m: FrameModel, utt: Utterances, bark: BarkTable,
                          cfg: ModelConfig) -> int:
    """Re-align bad intervals and keep the smaller disturbance per frame (§13), in place.

    Returns the number of intervals examined.
    """
    sb, hop, nf = cfg.sb, cfg.hop, cfg.nf
    n_total = m.max_padded + cfg.pad
    delays = np.asarray(utt.delay, dtype=np.int64)

    def aligned(pos: NDArray[np.int64]) -> NDArray[np.float64]:
        """The degraded signal moved onto the reference's time axis utterance by utterance,
        at padded positions ``pos``; zero outside [sb, n_total - sb)."""
        src = np.clip(pos + delays[utterance_of(pos, utt, cfg)], sb, n_total - sb - 1)
        return np.where((pos >= sb) & (pos < n_total - sb), m.deg_model[src], 0.0)

    intervals = bad_intervals(fd, m.stop_frame)
    search = BAD_INTERVAL_SEARCH_FRAMES * nf
    hi = m.max_padded - sb + cfg.pad - 1
    for first, end in intervals:
        s_smp = first * hop + sb
        e_smp = end * hop + nf + sb
        end = min(end, m.stop_frame)
        r = np.concatenate((np.zeros(search), m.ref_model[s_smp:e_smp], np.zeros(search)))
        d = aligned(np.clip(np.arange(s_smp - search, s_smp - search + r.shape[0]), sb, hi))
        delay, corr = _interval_delay(r, d, search)
        if corr < 0.5:
            delay = 0
        # The interval's frames lie inside [s_smp, e_smp): only that stretch is shifted.
        shifted = aligned(np.clip(np.arange(s_smp, e_smp) + delay, 0, m.max_padded - 1))
        starts = np.arange(end - first) * hop
        ppd_deg = perceptual.pitch_power_density(shifted, starts, np.ones(starts.size, bool),
                                                 bark, cfg)
        nfd, nfa, _ = frame_disturbance(m.ppd_ref[first:end], ppd_deg, bark, cfg,
                                        g_prev=1.0, smooth_first=True)
        fd[first:end] = np.minimum(fd[first:end], nfd)
        fa[first:end] = np.minimum(fa[first:end], nfa)
    return len(intervals)


def weight_frames(fd, fa, ref_power) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Loudness weighting and clipping of the frame disturbances (§14.1)."""
    h = ((ref_power + 1e5) / 1e7) ** 0.04
    return np.minimum(fd / h, FRAME_CLIP), np.minimum(fa / h, FRAME_CLIP)


def time_weights(start_frame: int, stop_frame: int, max_padded: int, cfg: ModelConfig):
    """Weights that favour later frames in long files (§14.2)."""
    tw = np.ones(stop_frame + 1)
    if stop_frame + 1 > 1000:
        n = tdiv(max_padded - 2 * cfg.sb, cfg.hop) - 1
        t = min((n - 1000) / 5500.0, 0.5)
        tw = (1.0 - t) + t * np.arange(stop_frame + 1) / n
    return tw


def aggregate(x, start_frame: int, stop_frame: int, tw, p: float = 6.0, q: float = 2.0) -> float:
    """Split-second Lp, then time Lq aggregation (§15)."""
    return float(_lpq_kernel(np.ascontiguousarray(x), start_frame, stop_frame, p, q,
                             np.ascontiguousarray(tw)))
