"""Finding every occurrence of the reference inside a longer recording, and scoring each.

1. The 4 ms log-energy envelope of the reference is slid over the recording's envelope
   (normalised cross-correlation); peaks at or above :data:`MIN_CORRELATION`, at least
   80 % of the reference's length apart, are candidate occurrences.
2. Each candidate is aligned on the waveform at two points (the loudest stretch of each
   half of the reference), first with short stretches, then with longer ones on the
   reference clock. The two delays give the occurrence's offset (recording time of the
   reference's first sample) and its clock drift.
3. The occurrence is cut from the recording (resampled onto the reference clock when the
   drift is :data:`perceptq.recording.drift.COMPENSATE_PPM` or more) and scored on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from perceptq.audio.source import Source
from perceptq.errors import AlignmentError, InvalidAudioError, NoSpeechError
from perceptq.recording import diagnostics, drift
from perceptq.recording.longcall import Segment
from perceptq.result import category_of

#: Envelope correlation an occurrence must reach.
MIN_CORRELATION = 0.6
#: Occurrences are at least this fraction of the reference's length apart.
MIN_SEPARATION = 0.8


@dataclass(frozen=True)
class Occurrence:
    """Where one copy of the reference plays in the recording."""

    offset: float  # recording sample of the reference's first sample
    k: float  # clock drift ratio of this copy
    correlation: float  # envelope correlation of the match


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
        lag, _ = drift.fine_lag(seg, drift.on_reference_clock(rec, centre, seg.shape[0]
                                                               + 2 * margin, k), margin)
        pos.append(mid)
        dly.append(centre - mid + lag * (1.0 + k))
    if len(pos) < 2 or pos[1] - pos[0] < fs:
        return (dly[0] - pos[0] * k if dly else offset), k
    k_new = float(np.clip((dly[1] - dly[0]) / (pos[1] - pos[0]), -drift.MAX_DRIFT,
                          drift.MAX_DRIFT))
    return dly[0] - pos[0] * k_new, k_new


def find(ref: NDArray[np.float64], rec: Source, *, ref_name: str = "reference",
         min_correlation: float = MIN_CORRELATION) -> list[Occurrence]:
    """Every occurrence of ``ref`` (model-rate samples) in ``rec``, in recording order.

    Raises
    ------
    AlignmentError
        If the reference is not found (no envelope match of at least ``min_correlation``).
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
    out = []
    for p in peaks:
        offset, k = _two_points(ref, rec, ref_energy, float(p * bs), 0.0, 0.5)
        offset, k = _two_points(ref, rec, ref_energy, offset, k, 1.5)
        out.append(Occurrence(offset, k, float(c[p])))
    return out


def score_occurrences(ref: Source, rec: Source, mode: str, *,
                      min_correlation: float = MIN_CORRELATION):
    """Find and score every occurrence; returns (segments, occurrence rows, measures,
    warnings)."""
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
                                  deg_name=f"{rec.name} at {occ.offset / fs:.2f} s")
        except (NoSpeechError, InvalidAudioError) as exc:
            warnings.append(f"occurrence at {occ.offset / fs:.2f} s could not be scored ({exc})")
            continue
        segments.append(Segment(i, 0, x.shape[0], start, k, out))
        diagnostics.measure(meas, x, y, out.utterances, out.frame_times_s, out.frame_disturbance,
                            time_offset_s=start / fs)
        rows.append({
            "index": i, "offset_s": occ.offset / fs,
            "end_s": (occ.offset + x.shape[0] * (1 + occ.k)) / fs,
            "correlation": occ.correlation, "drift_ppm": occ.k * 1e6, "mos": out.mos,
            "raw": out.raw, "category": category_of(out.mos), "drift_compensated": compensate,
        })
    if not segments:
        raise NoSpeechError(f"{rec.name}: no occurrence of {ref.name} could be scored")
    warnings.insert(0, f"reference found {len(segments)} time(s) in the recording; the MOS is the "
                       "mean of the occurrences' scores")
    drifting = [r["drift_ppm"] for r in rows if r["drift_compensated"]]
    if drifting:
        warnings.append(f"clock drift of {np.median(drifting):+.0f} ppm compensated in "
                        f"{len(drifting)} occurrence(s) before scoring")
    return segments, rows, meas, warnings
