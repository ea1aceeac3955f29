"""Long recordings: scoring window by window with drift compensation, bounded memory.

A pair longer than the single-piece limit is cut into windows on the reference's pauses,
each holding about ``window_s`` seconds of speech (whole utterances only). The delay line
(:mod:`perceptq.recording.drift`) says where each window plays in the degraded recording; when the
clocks differ by :data:`perceptq.recording.drift.COMPENSATE_PPM` or more, the degraded stretch is
resampled onto the reference clock before scoring. Every window is scored by
:func:`perceptq.p862.model.evaluate` on its own, so memory depends on the window, not the call.
The call's MOS is the mean of the window MOS values (ITU-T P.862.3 advises averaging
per-file scores rather than scoring very long files in one piece).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from perceptq.audio.quantile import percentile
from perceptq.audio.source import Source
from perceptq.errors import AlignmentError, InvalidAudioError, NoSpeechError
from perceptq.recording import diagnostics, drift, timeline
from perceptq.result import Utterance, category_of

#: Default amount of speech per window, in seconds.
WINDOW_S = 10.0
#: Pairs up to this many window lengths long are scored in one piece.
SINGLE_PIECE_WINDOWS = 2.0
#: Pauses of at least this long (s) may separate windows; silence kept around speech (s).
MIN_PAUSE_S, MARGIN_S = 0.2, 0.5
#: Delay jumps: each window's ends are matched within LOCAL_REACH_S of the delay line on
#: LOCAL_SPAN_S of envelope; departures of LOCAL_MIN_SHIFT_S or more move the window.
LOCAL_REACH_S, LOCAL_SPAN_S, LOCAL_MIN_SHIFT_S = 1.0, 3.0, 0.02
#: Reference envelope blocks within this many dB of the loud level count as speech.
SPEECH_RANGE_DB = 40.0


@dataclass(frozen=True)
class Segment:
    """One scored piece: its place in both signals and the model's output.

    Degraded sample ``j`` of the piece is original degraded position
    ``deg_start + j (1 + k)``; reference sample ``i`` is ``ref_start + i``.
    """

    index: int
    ref_start: int
    ref_stop: int
    deg_start: float
    k: float
    out: Any  # perceptq.p862.model.ModelOutput


def _speech_runs(energy: NDArray[np.float64], fs: int) -> list[list[int]]:
    """Speech runs [start, end) of the reference envelope, in 4 ms blocks."""
    db = drift.log_envelope(energy)
    if db.size == 0:
        return []
    speech = db > percentile(db, 99) - SPEECH_RANGE_DB
    d = np.diff(np.concatenate(([0], speech.astype(np.int8), [0])))
    runs = [[int(s), int(e)] for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1),
                                              strict=True)]
    gap = int(MIN_PAUSE_S * 1000 / drift.ENV_MS)
    merged: list[list[int]] = []
    for r in runs:
        if merged and r[0] - merged[-1][1] < gap:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    return [r for r in merged if r[1] - r[0] >= 5]


def _split_long(runs: list[list[int]], energy: NDArray[np.float64], limit: int) -> list[list[int]]:
    """Cut runs longer than ``limit`` blocks at their quietest block near each limit."""
    out = []
    for s, e in runs:
        while e - s > limit:
            lo, hi = s + limit // 2, s + limit
            cut = lo + int(np.argmin(energy[lo:hi]))
            out.append([s, cut])
            s = cut
        out.append([s, e])
    return out


def plan_windows(energy: NDArray[np.float64], fs: int, n: int,
                 window_s: float = WINDOW_S) -> list[tuple[int, int]]:
    """Windows [start, stop) in reference samples, cut in pauses, ~``window_s`` s of speech."""
    bs = drift.block_size(fs)
    target = int(window_s * 1000 / drift.ENV_MS)
    runs = _split_long(_speech_runs(energy, fs), energy, 2 * target)
    if not runs:
        return [(0, n)]
    groups: list[list[int]] = []
    i = 0
    while i < len(runs):
        j, acc = i, 0
        while j < len(runs):
            acc += runs[j][1] - runs[j][0]
            if acc >= target:
                break
            j += 1
        j = min(j, len(runs) - 1)
        groups.append([i, j, acc])
        i = j + 1
    if len(groups) > 1 and groups[-1][2] < target // 2:
        last = groups.pop()
        groups[-1][1] = last[1]
    margin = int(MARGIN_S * 1000 / drift.ENV_MS)
    out = []
    for i, j, _ in groups:
        lo = (runs[i - 1][1] + runs[i][0]) // 2 if i > 0 else 0
        hi = (runs[j][1] + runs[j + 1][0]) // 2 if j + 1 < len(runs) else n // bs
        out.append((max(lo, runs[i][0] - margin) * bs, min(hi, runs[j][1] + margin) * bs))
    return out


def _local_shift(ref_db: NDArray[np.float64], deg_db: NDArray[np.float64], b0: int, b1: int,
                 predicted: float) -> int:
    """Samples to add to the delay line's prediction for reference blocks [b0, b1): the
    envelope match within LOCAL_REACH_S, used when it departs by LOCAL_MIN_SHIFT_S or more
    (a delay jump); 0 otherwise."""
    fs_blocks = 1000 // drift.ENV_MS
    t = ref_db[b0:b1]
    if t.size < fs_blocks // 2 or np.ptp(t) < 10.0:
        return 0
    reach = int(LOCAL_REACH_S * fs_blocks)
    centre = round(predicted)
    lo = max(b0 + centre - reach, 0)
    hi = min(b1 + centre + reach, deg_db.shape[0])
    c = drift.normalised_correlation(t, deg_db[lo:hi])
    if c.size == 0 or c.max() < drift.MIN_ANCHOR_CORRELATION:
        return 0
    shift = lo + int(np.argmax(c)) - b0 - predicted
    return round(shift) if abs(shift) >= LOCAL_MIN_SHIFT_S * fs_blocks else 0


def degraded_piece(deg: Source, line: drift.DelayModel, a: int, b: int, compensate: bool,
                   shifts: tuple[int, int] = (0, 0)) -> tuple[NDArray[np.float64], float, float]:
    """(samples, deg_start, k): the degraded stretch that plays reference [a, b) (the delay
    line's prediction moved by ``shifts`` samples at each end), on the reference clock when
    ``compensate``."""
    p0 = line.deg_position(a) + shifts[0]
    p1 = line.deg_position(b) + shifts[1]
    if not compensate:
        s0 = round(p0)
        return deg.read(s0, max(round(p1), s0 + 1)), float(s0), 0.0
    k = line.k
    length = max(round((p1 - p0) / (1.0 + k)), 1)
    return drift.on_reference_clock(deg, 0.5 * (p0 + p1), length, k), p0, k


def score_windows(ref: Source, deg: Source, mode: str, *, window_s: float = WINDOW_S,
                  alignment: str = "reference",
                  ) -> tuple[list[Segment], drift.DelayModel, diagnostics.Measures, list[str]]:
    """Score a long pair window by window; returns the scored segments, the delay line,
    the accumulated diagnostic measures and warnings. ``alignment`` as in
    :func:`perceptq.score`."""
    from perceptq.p862 import model as engine

    fs = ref.fs
    ref_energy, deg_energy = drift.envelope(ref), drift.envelope(deg)
    if not np.any(ref_energy > 0):
        raise NoSpeechError(f"{ref.name}: the reference is silent (all samples zero)")
    warnings: list[str] = []
    try:
        line = drift.estimate(ref, deg, ref_energy, deg_energy)
    except AlignmentError:
        lag = drift.global_lag(ref_energy, deg_energy) * drift.block_size(fs)
        line = drift.DelayModel(float(lag), 0.0, np.zeros(0), np.zeros(0))
        warnings.append(f"{deg.name}: no stretch of the reference matches the degraded signal;"
                        f" the windows were scored at a constant delay of {1000 * lag / fs:.0f} ms")
    compensate = abs(line.ppm) >= drift.COMPENSATE_PPM
    windows = plan_windows(ref_energy, fs, ref.n, window_s)
    ref_db, deg_db = drift.log_envelope(ref_energy), drift.log_envelope(deg_energy)
    del ref_energy, deg_energy
    bs = drift.block_size(fs)
    span = int(LOCAL_SPAN_S * 1000 / drift.ENV_MS)
    meas = diagnostics.Measures(fs)
    segments: list[Segment] = []
    skipped = []
    for idx, (a, b) in enumerate(windows):
        x = ref.read(a, b)
        ba, bb = a // bs, b // bs
        shifts = (_local_shift(ref_db, deg_db, ba, min(ba + span, bb), line.delay(a) / bs) * bs,
                  _local_shift(ref_db, deg_db, max(bb - span, ba), bb, line.delay(b) / bs) * bs)
        y, d_start, k = degraded_piece(deg, line, a, b, compensate, shifts)
        if d_start + (b - a) <= 0 or d_start >= deg.n:
            skipped.append(f"{idx} (outside the degraded recording)")
            continue
        try:
            out = engine.evaluate(x, y, fs, mode, ref_name=f"{ref.name} window {idx}",
                                  deg_name=f"{deg.name} window {idx}", alignment=alignment)
        except (NoSpeechError, InvalidAudioError) as exc:
            skipped.append(f"{idx} ({exc})")
            continue
        seg = Segment(idx, a, b, d_start, k, out)
        segments.append(seg)
        diagnostics.measure(meas, x, y, out.utterances, out.frame_times_s, out.frame_disturbance,
                            time_offset_s=a / fs,
                            delays_ms=[u.delay_ms - 1000 * line.k * u.start_s
                                       for u in global_utterances(seg, fs)])
    if not segments:
        raise NoSpeechError(f"{ref.name}: no window of the reference could be scored")
    warnings.insert(0,
        f"scored in {len(segments)} windows of about {window_s:g} s of speech; the MOS is the "
        "mean of the window scores"
    )
    if skipped:
        warnings.append(f"{len(skipped)} window(s) without scorable speech were dropped: "
                        + "; ".join(skipped[:5]))
    if compensate:
        warnings.append(f"clock drift of {line.ppm:+.0f} ppm between the recordings was "
                        "compensated before scoring")
    return segments, line, meas, warnings


def global_utterances(seg: Segment, fs: int, *, reference_time: bool = True
                      ) -> tuple[Utterance, ...]:
    """The segment's utterances with times on the reference (or, when ``reference_time`` is
    false, the reference signal's own) axis and delays in original degraded samples."""
    out = []
    for u in seg.out.utterances:
        rs = u.start_s * fs
        dl = u.delay_ms * fs / 1000.0
        deg_pos = seg.deg_start + (rs + dl) * (1.0 + seg.k)
        shift = seg.ref_start if reference_time else 0
        delay = deg_pos - (shift + rs)
        out.append(Utterance((shift + rs) / fs, (shift + u.end_s * fs) / fs,
                             1000.0 * delay / fs))
    return tuple(out)


def combine(segments: list[Segment], fs: int, mode: str, kind: str, *,
            frame_offsets_s: list[float] | None = None, reference_time: bool = True
            ) -> dict[str, Any]:
    """Score fields of a multi-segment result: mean MOS, utterances, frames, timeline."""
    utts: list[Utterance] = []
    rows: list[dict[str, Any]] = []
    seg_rows: list[dict[str, Any]] = []
    times, fds, fas = [], [], []
    for n, seg in enumerate(segments):
        o = seg.out
        g = global_utterances(seg, fs, reference_time=reference_time)
        local = timeline.utterance_rows(o.utterances, o.frame_times_s, o.frame_disturbance,
                                        o.frame_asymmetric_disturbance, mode,
                                        first_index=len(utts), **{kind: seg.index})
        for r, u in zip(local, g, strict=True):
            r.update(start_s=u.start_s, end_s=u.end_s, delay_ms=u.delay_ms)
        utts.extend(g)
        off = frame_offsets_s[n] if frame_offsets_s is not None else seg.ref_start / fs
        times.append(o.frame_times_s + off)
        fds.append(o.frame_disturbance)
        fas.append(o.frame_asymmetric_disturbance)
        if reference_time:
            t0, t1 = seg.ref_start / fs, seg.ref_stop / fs
        else:  # on the recording's axis
            t0 = seg.deg_start / fs
            t1 = t0 + (seg.ref_stop - seg.ref_start) * (1.0 + seg.k) / fs
        seg_rows.append(timeline.segment_row(kind, seg.index, t0, t1, o.mos, g, raw=o.raw))
        rows.append(seg_rows[-1])
        rows.extend(local)
    mos = float(np.mean([s.out.mos for s in segments]))
    return {
        "mos": mos,
        "raw": float(np.mean([s.out.raw for s in segments])),
        "mode": mode,
        "sample_rate": fs,
        "category": category_of(mos),
        "utterances": tuple(utts),
        "frame_times_s": np.concatenate(times),
        "frame_disturbance": np.concatenate(fds),
        "frame_asymmetric_disturbance": np.concatenate(fas),
        "disturbance_d": float(np.mean([s.out.d for s in segments])),
        "disturbance_a": float(np.mean([s.out.a for s in segments])),
        "timeline": tuple(rows),
        "segments": tuple(seg_rows),
    }


def nan_if_unreliable(line: drift.DelayModel) -> float:
    """The drift in ppm, or NaN when it rests on fewer than two anchors."""
    return line.ppm if line.reliable else math.nan
