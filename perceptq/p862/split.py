"""Stage: utterance splitting at delay changes (design note §9.2).

Each utterance of at least 0.8 s of speech is tried at up to 40 break points; a break point
splits it when the fine delays before and after it differ and both are more confident than
the utterance's own. The fine delays come from histograms of windowed correlations, and the
window is where the two alignments differ:

* ``alignment="reference"`` (default) uses the window as the ITU reference leaves it
  (:func:`perceptq.p862.align.effective_window`): its head overwritten by the envelope
  cross-correlations of the candidates once these are long enough (utterance pieces
  beyond about 3.1 s at 8 kHz, 6.2 s at 16 kHz). Where that head holds the reference's
  float32 rounding noise instead of values (lags at which no speech overlaps) and that
  noise weighs in (:func:`noise_dominated`), the reference's decision is made by its
  rounding; :func:`split_utterances` then tries several realisations of the noise and
  reports the pair as unstable when the decisions differ.
* ``alignment="stable"`` uses the intact Hann window, as the standard's text describes,
  and is independent of rounding.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from perceptq.p862.align import (
    BreakWindow,
    Signal,
    Utterances,
    effective_window,
    forward_windows,
    hann,
    piece_delays,
    segment_pieces,
    tdiv,
    window_delays,
)
from perceptq.p862.config import MIN_SPLIT_BLOCKS, SEARCH_BLOCKS, ModelConfig

ALIGNMENTS = ("reference", "stable")
#: Unit of the reference's rounding noise in the written window samples, relative to the
#: largest |value| of the correlations written: float32 epsilon.
NOISE_UNIT = 2.0**-23
#: Realisations of that noise tried, as (offset, standard deviation) in units of
#: NOISE_UNIT * scale; the first gives the result. Measured on the reference's windows
#: (62 of them): offset 0-0.64 units (median 0.12, positive in 97 %), deviation 0.07-0.34
#: units (median 0.17), neighbouring samples correlated (0.05-0.8).
NOISE_VARIANTS = ((0.15, 0.17), (0.5, 0.17), (0.03, 0.3), (0.3, 0.1), (0.05, 0.2),
                  (0.1, 0.1), (0.25, 0.25), (0.6, 0.3))
#: The window counts as dominated by noise when the energy of its other samples is below
#: NOISE_MARGIN**2 times the energy of the noise.
NOISE_MARGIN = 1e3
NOISE_SEED = 862
#: Warning attached to a score whose pair makes the reference's result rounding-dependent.
UNSTABLE_WARNING = (
    "the ITU reference's own score of this pair depends on float32 rounding noise in its "
    "utterance splitting (reference_unstable), so it may differ from this score by any "
    "amount; alignment='stable' gives a score that does not depend on rounding"
)


def check_alignment(alignment: str) -> str:
    """``alignment`` if it is one of :data:`ALIGNMENTS`, else ValueError."""
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment {alignment!r} must be 'reference' or 'stable'")
    return alignment


def noise_dominated(bw: BreakWindow) -> bool:
    """Whether the rounding noise in ``bw`` can weigh in the histograms: the samples that
    are not noise hold less than NOISE_MARGIN**2 times the energy of the noise."""
    n = int(np.count_nonzero(bw.noise))
    if n == 0:
        return False
    useful = float(np.sum(bw.values[~bw.noise] ** 2))
    return useful < NOISE_MARGIN**2 * n * (NOISE_UNIT * bw.scale) ** 2


def window_variants(bw: BreakWindow, seed: int) -> list[NDArray[np.float64]]:
    """The windows a break-point search is run with in ``reference`` mode.

    The window itself (noise samples at their exact value 0) unless it is
    :func:`noise_dominated`; then one window per realisation in :data:`NOISE_VARIANTS` of
    the reference's rounding noise on the noise samples: an offset plus noise whose
    neighbouring samples correlate by 0.5, in units of ``NOISE_UNIT * bw.scale``.
    """
    if not noise_dominated(bw):
        return [bw.values]
    unit = NOISE_UNIT * bw.scale
    rng = np.random.default_rng(seed)
    out = []
    for offset, sd in NOISE_VARIANTS:
        g = rng.standard_normal(bw.values.shape[0] + 1)
        w = bw.values.copy()
        w[bw.noise] = unit * (offset + sd * ((g[1:] + g[:-1]) / np.sqrt(2.0))[bw.noise])
        out.append(w)
    return out


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


def _part_delays(ref, deg, estimates, limits, forward, b_edge, cfg, win):
    """Fine delay and confidence of one side of every break-point candidate (§9.2.5-6).

    Candidates sharing an estimate share the window sequence: the histogram of a
    candidate is a prefix sum of the per-window contributions.
    """
    out: dict[int, tuple[int, float]] = {}
    for est in sorted(set(estimates[b] for b in limits)):
        members = [b for b in limits if estimates[b] == est]
        ends = np.array([limits[b] for b in members], dtype=np.int64)
        if forward:  # window starts ascend: count those whose window ends inside the limit
            sr, sd = forward_windows(b_edge, est, int(ends.max()), deg.n_padded, cfg)
            counts = np.searchsorted(sr + cfg.na, ends, side="right")
        else:  # window starts descend: count those starting at or after the limit
            sr, sd = _backward_windows(b_edge, est, int(ends.min()), deg.n_padded, cfg)
            counts = np.searchsorted(-sr, -ends, side="right")
        order = np.argsort(counts, kind="stable")
        found = window_delays(ref, deg, sr, sd, counts[order].tolist(), cfg, win)
        for i, (lag, conf) in zip(order.tolist(), found, strict=True):
            out[members[i]] = (est + lag, conf)
    return out


def _best_split(ref, deg, s0, e0, bps, ed1, ed2, conf_u, cfg, win):
    """(best candidate or -1, (d1, c1), (d2, c2)) of one break-point search (§9.2.5-7)."""
    ds = cfg.ds
    first = _part_delays(ref, deg, ed1, {b: bps[b] * ds for b in range(len(bps))},
                         True, s0, cfg, win)
    second_set = {b: bps[b] * ds for b in range(len(bps)) if first[b][1] > conf_u}
    second = _part_delays(ref, deg, ed2, second_set, False, e0, cfg, win) if second_set else {}
    best, best_sum = -1, 0.0
    for b in sorted(second):  # candidate order decides ties
        d1, c1 = first[b]
        d2, c2 = second[b]
        if abs(d2 - d1) >= ds and c1 > conf_u and c2 > conf_u and c1 + c2 > best_sum:
            best, best_sum = b, c1 + c2
    if best < 0:
        return -1, (0, 0.0), (0, 0.0)
    return best, first[best], second[best]


def _break_points(ref: Signal, s0: int, e0: int, cfg: ModelConfig) -> list[int]:
    """Candidate break points (blocks) of the utterance [s0, e0]; none when its speech is
    shorter than 0.8 s (§9.2.1-3)."""
    speech = np.flatnonzero(ref.vad[s0 : e0 + 1] > 0)
    if speech.size == 0:
        return []
    sp_start = s0 + int(speech[0])
    sp_end = s0 + int(speech[-1]) + 1
    length = sp_end - sp_start
    if length < MIN_SPLIT_BLOCKS:
        return []
    delta = cfg.na // (4 * cfg.ds)
    step = tdiv(0.801 * length + 40 * delta - 1, 40 * delta) * delta
    pad = max(tdiv(length, 10), SEARCH_BLOCKS)
    bps = [sp_start + pad]
    while bps[-1] + step <= sp_end - pad and len(bps) < 40:
        bps.append(bps[-1] + step)
    return bps


def split_utterances(ref: Signal, deg: Signal, utt: Utterances, cfg: ModelConfig,
                     alignment: str = "reference") -> bool:
    """Split utterances where the delay changes inside them (§9.2), in place.

    Returns True when, with ``alignment="reference"``, a split decision changed between
    realisations of the reference's rounding noise (the reference's own result then
    depends on its rounding); always False with ``"stable"``.
    """
    check_alignment(alignment)
    ds, sb = cfg.ds, SEARCH_BLOCKS
    unstable = False
    searches = 0
    u = 0
    while u < len(utt):
        s0, e0 = utt.start[u], utt.end[u]
        bps = _break_points(ref, s0, e0, cfg)
        if not bps:
            u += 1
            continue
        est = utt.delay_est[u]
        # The parts before and after each candidate, in the reference's order:
        # (s0, bp0), (bp0, e0), (s0, bp1), (bp1, e0), ...
        segments = np.empty((2 * len(bps), 2), dtype=np.int64)
        segments[0::2, 0], segments[0::2, 1] = s0, bps
        segments[1::2, 0], segments[1::2, 1] = bps, e0
        pieces = segment_pieces(ref, deg, segments, est, cfg)
        delays = piece_delays(pieces, est, cfg)
        ed1, ed2 = delays[0::2], delays[1::2]
        if alignment == "stable":
            windows = [hann(cfg.na)]
        else:
            windows = window_variants(effective_window(pieces, cfg.na),
                                      NOISE_SEED + searches)
        searches += 1
        args = (ref, deg, s0, e0, bps, ed1, ed2, utt.conf[u], cfg)
        found = _best_split(*args, windows[0])
        key = (found[0], found[1][0], found[2][0])
        for win in windows[1:]:
            other = _best_split(*args, win)
            if (other[0], other[1][0], other[2][0]) != key:
                unstable = True
                break
        best, (d1, c1), (d2, c2) = found
        if best < 0:
            u += 1
            continue
        bp = bps[best]
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
    return unstable
