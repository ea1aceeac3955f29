"""Finding every occurrence of the reference inside a longer recording, and scoring each.

1. The 4 ms log-energy envelope of the reference is slid over the recording's envelope
   (normalised cross-correlation); peaks at or above :data:`MIN_CORRELATION`, at least
   80 % of the reference's length apart, are candidate occurrences.
2. Each candidate is aligned on the waveform at two points (the loudest stretch of each
   half of the reference), first with short stretches, then with longer ones on the
   reference clock. The two delays give the occurrence's offset (recording time of the
   reference's first sample) and its clock drift.
3. The candidate is checked on the waveform: the reference's speech is cut into parts and
   the loudest :data:`CHECK_S` of each is aligned on its own near where the occurrence's
   line puts it. In a real copy the fine alignment holds across the reference (the parts
   land within :data:`CHECK_TOLERANCE_MS` of the line, through codecs, loss and noise); a
   different sentence of the same voice can match the envelope's rhythm, but its parts land
   anywhere. Candidates where fewer than :data:`MIN_HOLD` of the parts hold are dropped.
4. The occurrence is cut from the recording (resampled onto the reference clock when the
   drift is :data:`perceptq.recording.drift.COMPENSATE_PPM` or more) and scored on its own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from perceptq.audio.quantile import percentile
from perceptq.audio.source import Source
from perceptq.errors import AlignmentError, InvalidAudioError, NoSpeechError
from perceptq.recording import diagnostics, drift
from perceptq.recording.longcall import Segment
from perceptq.result import category_of

#: Envelope correlation an occurrence must reach.
MIN_CORRELATION = 0.6
#: Occurrences are at least this fraction of the reference's length apart.
MIN_SEPARATION = 0.8
#: Fine-alignment check: stretches of CHECK_S seconds, one per CHECK_PART_S of the
#: reference's speech (CHECK_PARTS at least and at most), searched CHECK_MARGIN_S around
#: the occurrence's line; a stretch holds within CHECK_TOLERANCE_MS; MIN_HOLD of them must.
CHECK_S, CHECK_PART_S, CHECK_PARTS = 0.4, 0.6, (4, 12)
CHECK_MARGIN_S, CHECK_TOLERANCE_MS, MIN_HOLD = 0.05, 2.0, 0.6
#: Lags within this many ms of the search's edge are no match (the peak lies outside).
CHECK_EDGE_MS = 5.0
#: Reference blocks within this many dB of its loud level are speech (for the check).
CHECK_SPEECH_DB = 30.0


@dataclass(frozen=True)
class Occurrence:
    """Where one copy of the reference plays in the recording."""

    offset: float  # recording sample of the reference's first sample
    k: float  # clock drift ratio of this copy
    correlation: float  # envelope correlation of the match
    hold: float = 1.0  # share of the reference's parts whose fine alignment holds


def _peaks(c: NDArray[np.float64], threshold: float, exclusion: int) -> list[int]:
    c = c.copy()
    out = []
    while c.size:
        k = int(np.argmax(c))
        if c[k] < threshold:
            break
        out.append(k)
        c[max(k - exclusion, 0) : k + exclusion + 1] = -np.inf
    return sorted(out)


def _two_points(ref: NDArray[np.float64], rec: Source, ref_energy: NDArray[np.float64],
                offset: float, k: float, seg_s: float) -> tuple[float, float]:
    """Refined (offset, k) from waveform delays at the loudest stretch of each half."""
    fs = rec.fs
    bs = drift.block_size(fs)
    length = int(seg_s * 1000 / drift.ENV_MS)
    half = ref_energy.shape[0] // 2
    margin = int(0.02 * fs) + int(drift.MAX_DRIFT * seg_s * fs)
    pos, dly = [], []
    for b0, b1 in ((0, half), (half, ref_energy.shape[0])):
        if b1 - b0 < 2:
            continue
        n = min(length, b1 - b0)
        f0 = drift._loudest(ref_energy, b0, b1, n) * bs
        seg = ref[f0 : f0 + n * bs]
        mid = f0 + seg.shape[0] / 2.0
        centre = offset + mid * (1.0 + k)
        lag = drift.fine_lag(seg, drift.on_reference_clock(rec, centre, seg.shape[0]
                                                               + 2 * margin, k), margin)
        pos.append(mid)
        dly.append(centre - mid + lag * (1.0 + k))
    if len(pos) < 2 or pos[1] - pos[0] < fs:
        return (dly[0] - pos[0] * k if dly else offset), k
    k_new = float(np.clip((dly[1] - dly[0]) / (pos[1] - pos[0]), -drift.MAX_DRIFT,
                          drift.MAX_DRIFT))
    return dly[0] - pos[0] * k_new, k_new


def _smooth_envelope(x: NDArray[np.float64], fs: int) -> NDArray[np.float64]:
    """Amplitude envelope (1 ms moving RMS), mean removed: phase-blind, so that codecs
    that keep the envelope but not the waveform still align on it."""
    n = max(fs // 1000, 1)
    c = np.concatenate(([0.0], np.cumsum(x * x)))
    e = np.sqrt(np.maximum(c[n:] - c[:-n], 0.0) / n)
    return e - e.mean()


def alignment_hold(ref: NDArray[np.float64], rec: Source, ref_energy: NDArray[np.float64],
                   offset: float, k: float) -> tuple[float, float, float]:
    """How well the fine alignment of an occurrence holds across the reference.

    Each part's loudest stretch is aligned on its own (on the waveform, and on the
    amplitude envelope) within CHECK_MARGIN_S of the occurrence's line ``offset + p (1 + k)``;
    lags at the edge of that search are no match. Returns ``(hold, offset, k)``: the share
    (0..1) of the parts that land within CHECK_TOLERANCE_MS of one straight delay line (the
    line most parts agree on), and the occurrence's line refitted on those parts.
    """
    fs = rec.fs
    bs = drift.block_size(fs)
    db = drift.log_envelope(ref_energy)
    active = np.flatnonzero(db > percentile(db, 99) - CHECK_SPEECH_DB) if db.size else db
    if active.size == 0:
        return 0.0, offset, k
    speech = np.zeros(db.shape[0], dtype=bool)
    speech[active] = True
    first, last = int(active[0]), int(active[-1]) + 1
    n_blocks = int(CHECK_S * 1000 / drift.ENV_MS)
    parts = int(np.clip(round((last - first) * drift.ENV_MS / 1000 / CHECK_PART_S),
                        *CHECK_PARTS))
    edges = np.linspace(first, last, parts + 1).astype(int)
    margin = int(CHECK_MARGIN_S * fs) + int(drift.MAX_DRIFT * CHECK_S * fs)
    pos, lags = [], []
    for b0, b1 in itertools.pairwise(edges):
        n = min(n_blocks, b1 - b0)
        f0 = drift._loudest(ref_energy, b0, b1, n)
        if n < 2 or not speech[f0 : f0 + n].any():
            continue
        seg = ref[f0 * bs : (f0 + n) * bs]
        mid = f0 * bs + seg.shape[0] / 2.0
        y = drift.on_reference_clock(rec, offset + mid * (1.0 + k), seg.shape[0] + 2 * margin, k)
        wave = drift.fine_lag(seg, y, margin)
        env = drift.fine_lag(_smooth_envelope(seg, fs), _smooth_envelope(y, fs), margin)
        pos.append(mid)
        lags.append((wave, env))
    if not pos:
        return 0.0, offset, k
    p = np.asarray(pos) / fs
    lag = np.asarray(lags) * 1000.0 / fs  # ms, (parts, 2)
    lag[np.abs(lag) > 1000.0 * margin / fs - CHECK_EDGE_MS] = np.inf  # no peak inside
    tol, max_slope = CHECK_TOLERANCE_MS, 1000.0 * drift.MAX_DRIFT
    best, best_line = 0, (0.0, 0.0)
    # the line (through one or two parts' lags, by either method) most parts hold to
    for i in range(p.size):
        for j in range(i, p.size):
            for a in lag[i][np.isfinite(lag[i])]:
                for b in lag[j][np.isfinite(lag[j])] if j != i else [a]:
                    slope = 0.0 if j == i else (b - a) / (p[j] - p[i])
                    if abs(slope) > max_slope:
                        continue
                    line = a + slope * (p - p[i])
                    held = int((np.min(np.abs(lag - line[:, None]), axis=1) <= tol).sum())
                    if held > best:
                        best, best_line = held, (a - slope * p[i], slope)
    if best < 2:
        return best / p.size, offset, k
    # refit the occurrence's line on the parts that hold (each by its nearer lag)
    line = best_line[0] + best_line[1] * p
    near = np.argmin(np.abs(lag - line[:, None]), axis=1)
    got = lag[np.arange(p.size), near]
    ok = np.abs(got - line) <= tol
    slope, icpt = np.polyfit(p[ok], got[ok], 1) if np.ptp(p[ok]) > 0 else (0.0, got[ok].mean())
    slope = float(np.clip(slope, -max_slope, max_slope))
    # lag(t) ms at reference time t s: recording position = offset + t fs (1 + k) + lag fs
    k_new = float(np.clip(k + slope / 1000.0, -drift.MAX_DRIFT, drift.MAX_DRIFT))
    return best / p.size, offset + icpt * fs / 1000.0, k_new


def find(ref: NDArray[np.float64], rec: Source, *, ref_name: str = "reference",
         min_correlation: float = MIN_CORRELATION) -> list[Occurrence]:
    """Every occurrence of ``ref`` (model-rate samples) in ``rec``, in recording order.

    Raises
    ------
    AlignmentError
        If the reference is not found (no envelope match of at least ``min_correlation``
        whose fine alignment holds across the reference, see :func:`alignment_hold`).
    """
    fs = rec.fs
    bs = drift.block_size(fs)
    if rec.n < ref.shape[0]:
        raise AlignmentError(
            f"{rec.name}: recording ({rec.n / fs:.2f} s) is shorter than the reference "
            f"{ref_name} ({ref.shape[0] / fs:.2f} s); nothing to locate"
        )
    ref_energy = (ref[: ref.shape[0] // bs * bs].reshape(-1, bs) ** 2).mean(axis=1)
    c = drift.normalised_correlation(drift.log_envelope(ref_energy),
                                     drift.log_envelope(drift.envelope(rec)))
    peaks = _peaks(c, min_correlation, int(MIN_SEPARATION * ref_energy.shape[0]))
    if not peaks:
        best = int(np.argmax(c)) if c.size else 0
        raise AlignmentError(
            f"{rec.name}: the reference ({ref_name}) was not found in the recording (best "
            f"envelope match {c[best] if c.size else 0.0:.2f} at {best * bs / fs:.2f} s; "
            f"at least {min_correlation:.2f} is needed)"
        )
    out, rejected = [], []
    for p in peaks:
        offset, k = _two_points(ref, rec, ref_energy, float(p * bs), 0.0, 0.5)
        offset, k = _two_points(ref, rec, ref_energy, offset, k, 1.5)
        hold, offset, k = alignment_hold(ref, rec, ref_energy, offset, k)
        (out if hold >= MIN_HOLD else rejected).append(Occurrence(offset, k, float(c[p]), hold))
    if not out:
        best = max(rejected, key=lambda o: o.hold)
        raise AlignmentError(
            f"{rec.name}: the reference ({ref_name}) was not found in the recording: "
            f"{len(rejected)} stretch(es) follow its rhythm (envelope match up to "
            f"{max(o.correlation for o in rejected):.2f}) but their fine alignment does not "
            f"hold across the reference (at most {100 * best.hold:.0f} % of its parts, at "
            f"least {100 * MIN_HOLD:.0f} % are needed): a different utterance, not this one"
        )
    return out


def median_drift_ppm(rows: list[dict]) -> float:
    """Drift of a located recording: the median of its occurrences' drifts (ppm)."""
    return float(np.median([r["drift_ppm"] for r in rows]))


def score_occurrences(ref: Source, rec: Source, mode: str, *,
                      min_correlation: float = MIN_CORRELATION, alignment: str = "reference"):
    """Find and score every occurrence; returns (segments, occurrence rows, measures,
    warnings). ``alignment`` as in :func:`perceptq.score`."""
    from perceptq.p862 import model as engine

    fs = rec.fs
    x = ref.read(0, ref.n)
    found = find(x, rec, ref_name=ref.name, min_correlation=min_correlation)
    meas = diagnostics.Measures(fs)
    segments, rows, warnings = [], [], []
    for i, occ in enumerate(found):
        compensate = abs(occ.k) * 1e6 >= drift.COMPENSATE_PPM
        k = occ.k if compensate else 0.0
        if compensate:
            y = drift.on_reference_clock(rec, occ.offset + x.shape[0] * (1 + k) / 2,
                                         x.shape[0], k)
            start = occ.offset
        else:
            start = float(round(occ.offset))
            y = rec.read(int(start), int(start) + x.shape[0])
        try:
            out = engine.evaluate(x, y, fs, mode, ref_name=ref.name,
                                  deg_name=f"{rec.name} at {occ.offset / fs:.2f} s",
                                  alignment=alignment)
        except (NoSpeechError, InvalidAudioError) as exc:
            warnings.append(f"occurrence at {occ.offset / fs:.2f} s could not be scored ({exc})")
            continue
        segments.append(Segment(i, 0, x.shape[0], start, k, out))
        diagnostics.measure(meas, x, y, out.utterances, out.frame_times_s, out.frame_disturbance,
                            time_offset_s=start / fs)
        rows.append({
            "index": i, "offset_s": occ.offset / fs,
            "end_s": (occ.offset + x.shape[0] * (1 + occ.k)) / fs,
            "correlation": occ.correlation, "alignment_hold": occ.hold,
            "drift_ppm": occ.k * 1e6, "mos": out.mos,
            "raw": out.raw, "category": category_of(out.mos), "drift_compensated": compensate,
        })
    if not segments:
        raise NoSpeechError(f"{rec.name}: no occurrence of {ref.name} could be scored")
    warnings.insert(0, f"reference found {len(segments)} time(s) in the recording; the MOS is the "
                       "mean of the occurrences' scores")
    drifting = [r["drift_ppm"] for r in rows if r["drift_compensated"]]
    if drifting:  # the same figure as Score.drift_ppm: the median over the occurrences
        warnings.append(f"clock drift of {median_drift_ppm(rows):+.0f} ppm compensated in "
                        f"{len(drifting)} occurrence(s) before scoring")
    return segments, rows, meas, warnings
