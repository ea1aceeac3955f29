"""Diagnostics: measured figures that say *why* a score is low, each with a hint.

Measured on the signals at the model rate after time alignment (the degraded signal is
shifted utterance by utterance onto the reference). Levels, noise and dropouts use the
300-3400 Hz band of both signals, so that a narrowband path does not look like a
level loss or a dropout; bandwidth uses the full band. Long calls are measured window by
window into one :class:`Measures` and summarised once.

``Score.diagnostics`` maps a name to a dict with the figure(s), their unit and ``hint``:
a plain-language sentence when the figure is out of the normal range, else ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from perceptq.audio import filters
from perceptq.audio.quantile import percentile
from perceptq.audio.reductions import mean_square_blocks
from perceptq.recording import match as reference_match
from perceptq.result import Utterance

#: Block length (ms) of the level / dropout analysis.
BLOCK_MS = 5
#: Reference blocks within this many dB of its loud level are speech; below PAUSE_DB, pause.
SPEECH_DB, PAUSE_DB, DROPOUT_REF_DB = 30.0, 45.0, 25.0
#: A dropout block is at least this many dB below what the reference predicts.
DROPOUT_DEPTH_DB = 30.0
#: Normal ranges: beyond these a hint is given.
LEVEL_DIFF_DB, MIN_SNR_DB, BANDWIDTH_RATIO = 6.0, 25.0, 0.75
CLIPPING_FRACTION, DELAY_RANGE_MS, DELAY_JUMP_MS = 1e-3, 10.0, 4.0
PAUSE_SHARE, DROPOUT_SHARE = 0.5, 0.3
#: Below this RMS frame disturbance the share hint stays quiet (nothing much to explain).
AUDIBLE_RMS = 2.0
#: Bandwidth: highest frequency whose long-term level is within this many dB of the peak.
BANDWIDTH_DB = 50.0


@dataclass
class Measures:
    """Sums accumulated over one or more segments (windows, occurrences)."""

    fs: int
    ref_speech: float = 0.0
    deg_speech: float = 0.0
    n_speech: int = 0
    deg_pause: float = 0.0
    n_pause: int = 0
    ref_ltas: NDArray[np.float64] | None = None
    deg_ltas: NDArray[np.float64] | None = None
    dropouts: list[tuple[float, float]] = field(default_factory=list)
    delays_ms: list[float] = field(default_factory=list)
    share: dict[str, float] = field(default_factory=lambda: {"speech": 0.0, "pauses": 0.0,
                                                              "dropouts": 0.0})
    worst: list[tuple[float, float]] = field(default_factory=list)
    n_frames: int = 0
    #: sums of the reference match (see :mod:`perceptq.recording.match`)
    match: NDArray[np.float64] = field(default_factory=reference_match.empty)


def aligned_degraded(n: int, deg: NDArray[np.float64], utterances: tuple[Utterance, ...],
                     fs: int) -> NDArray[np.float64]:
    """The degraded signal moved onto the reference's time axis (length ``n``), each
    utterance by its own delay; zeros where the degraded signal has no sample."""
    out = np.zeros(n)
    if not utterances:
        m = min(n, deg.shape[0])
        out[:m] = deg[:m]
        return out
    edges = [0] + [round(u.start_s * fs) for u in utterances[1:]] + [n]
    for u, a, b in zip(utterances, edges[:-1], edges[1:], strict=True):
        a, b = max(a, 0), min(b, n)
        if b <= a:
            continue
        shift = round(u.delay_ms * fs / 1000.0)
        lo, hi = max(a, -shift), min(b, deg.shape[0] - shift)  # where the source exists
        if hi > lo:
            out[lo:hi] = deg[lo + shift : hi + shift]
    return out


def _band(x: NDArray[np.float64], y: NDArray[np.float64], fs: int
          ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Both signals in the 300-3400 Hz band (one kernel pass)."""
    return filters.sosfilt_pair(filters.butter_sos("telephone_band", fs), x, y)[:2]


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(),
                    strict=True))


def measure(m: Measures, ref: NDArray[np.float64], deg: NDArray[np.float64],
            utterances: tuple[Utterance, ...], frame_times_s: NDArray[np.float64],
            fd: NDArray[np.float64], *, time_offset_s: float = 0.0,
            delays_ms: list[float] | None = None) -> None:
    """Add one scored segment to ``m``: ``ref`` and ``deg`` on the same clock, the model's
    utterances (local times) and weighted frame disturbances (``fd`` at ``frame_times_s``).
    ``delays_ms`` overrides the utterance delays used for the delay variation."""
    fs = m.fs
    bs = fs * BLOCK_MS // 1000
    al = aligned_degraded(ref.shape[0], deg, utterances, fs)
    r_band, d_band = _band(ref, al, fs)
    r, d = mean_square_blocks(r_band, bs), mean_square_blocks(d_band, bs)
    r_db = 10 * np.log10(r + 1e-20)
    d_db = 10 * np.log10(d + 1e-20)
    loud = percentile(r_db, 99) if r_db.size else 0.0
    speech = r_db > loud - SPEECH_DB
    pause = r_db < loud - PAUSE_DB
    r_speech, d_speech = float(r[speech].sum()), float(d[speech].sum())
    m.ref_speech += r_speech
    m.deg_speech += d_speech
    m.n_speech += int(np.count_nonzero(speech))
    m.deg_pause += float(d[pause].sum())
    m.n_pause += int(np.count_nonzero(pause))
    # Dropouts: loud reference blocks that are far below the level the degraded path gives.
    gain_db = 10 * np.log10((d_speech + 1e-20) / (r_speech + 1e-20))
    hole = (r_db > loud - DROPOUT_REF_DB) & (d_db < r_db + gain_db - DROPOUT_DEPTH_DB)
    drop = np.zeros(r.shape[0], dtype=bool)
    for a, b in _runs(hole):
        if b - a >= 2:
            drop[a:b] = True
            m.dropouts.append((time_offset_s + a * BLOCK_MS / 1000.0, (b - a) * BLOCK_MS))
    # Bandwidth: long-term spectra over speech frames (every other frame of the reference
    # match, whose transforms give both), and the reference match itself.
    nfft, hop = reference_match.frame_grid(fs)
    starts = np.arange(0, ref.shape[0] - nfft, nfft)
    centre = np.minimum((starts + nfft // 2) // bs, speech.shape[0] - 1)
    frames = starts[speech[centre]] if speech.size else starts[:0]
    r_levels, lr = reference_match.band_levels(ref, fs, frames // hop)
    d_levels, ld = reference_match.band_levels(al, fs, frames // hop)
    m.match += reference_match.sums_of_levels(r_levels, d_levels)
    m.ref_ltas = lr if m.ref_ltas is None else m.ref_ltas + lr
    m.deg_ltas = ld if m.deg_ltas is None else m.deg_ltas + ld
    # Which frames carry the disturbance.
    if fd.size and r.size:
        idx = np.clip(((frame_times_s + 0.016) * 1000 / BLOCK_MS).astype(int), 0, r.size - 1)
        w = fd**2
        # within 3 blocks of a dropout block: dropout blocks in [idx - 3, idx + 3]
        count = np.concatenate(([0], np.cumsum(drop)))
        in_drop = count[np.minimum(idx + 4, r.size)] > count[np.maximum(idx - 3, 0)]
        m.n_frames += int(fd.size)
        m.share["dropouts"] += float(w[in_drop].sum())
        m.share["speech"] += float(w[~in_drop & speech[idx]].sum())
        m.share["pauses"] += float(w[~in_drop & ~speech[idx]].sum())
        top = np.argsort(fd)[-5:]
        m.worst.extend((float(fd[i]), time_offset_s + float(frame_times_s[i])) for i in top)
    m.delays_ms.extend(delays_ms if delays_ms is not None else [u.delay_ms for u in utterances])


def _db(x: float) -> float:
    return 10.0 * math.log10(x) if x > 0 else -math.inf


def _bandwidth(ltas: NDArray[np.float64] | None, fs: int) -> float:
    if ltas is None or not np.any(ltas > 0):
        return math.nan
    db = 10 * np.log10(ltas + 1e-30)
    db = np.convolve(db, np.ones(5) / 5, mode="same")
    above = np.flatnonzero(db[1:] >= db[1:].max() - BANDWIDTH_DB) + 1
    return float(above[-1] * fs / (2.0 * (ltas.shape[0] - 1)))


def summarise(m: Measures, *, clipping_fraction: float, drift_ppm: float,
              drift_compensated: bool) -> dict[str, Any]:
    """The diagnostics dict from accumulated measures and the whole-signal figures."""
    out: dict[str, Any] = {}
    diff = _db(m.deg_speech) - _db(m.ref_speech) if m.ref_speech > 0 else math.nan
    out["level_difference"] = {
        "value": diff, "unit": "dB",
        "hint": (f"degraded speech is {abs(diff):.1f} dB {'louder' if diff > 0 else 'quieter'} "
                 "than the reference: check gain, AGC or volume settings")
        if abs(diff) > LEVEL_DIFF_DB else None,
    }
    speech = m.deg_speech / m.n_speech if m.n_speech else 0.0
    noise = m.deg_pause / m.n_pause if m.n_pause else math.nan
    snr = _db(speech) - _db(noise) if m.n_pause and speech > 0 else math.nan
    out["noise"] = {
        "snr_db": snr, "noise_dbfs": _db(noise) if m.n_pause else math.nan,
        "unit": "dB",
        "hint": (f"background noise in the pauses is only {snr:.1f} dB below the speech: "
                 "noise on the line, at the far end or added by the recording")
        if snr < MIN_SNR_DB else None,
    }
    if not m.n_pause:
        out["noise"]["note"] = "no pauses in the reference to measure noise in"
    ref_bw, deg_bw = _bandwidth(m.ref_ltas, m.fs), _bandwidth(m.deg_ltas, m.fs)
    out["bandwidth"] = {
        "reference_hz": ref_bw, "degraded_hz": deg_bw, "unit": "Hz",
        "hint": (f"the degraded signal stops at about {deg_bw / 1000:.1f} kHz while the reference "
                 f"reaches {ref_bw / 1000:.1f} kHz: a band-limited (e.g. narrowband) path")
        if deg_bw < BANDWIDTH_RATIO * ref_bw else None,
    }
    out["clipping"] = {
        "value": clipping_fraction, "unit": "fraction of samples",
        "hint": (f"{100 * clipping_fraction:.2f} % of the degraded samples sit at the signal's "
                 "ceiling: the level is clipped (input gain too high or limiter)")
        if clipping_fraction > CLIPPING_FRACTION else None,
    }
    total_ms = float(sum(ms for _, ms in m.dropouts))
    out["dropouts"] = {
        "count": len(m.dropouts), "total_ms": total_ms,
        "times_s": [round(t, 3) for t, _ in m.dropouts[:50]],
        "hint": (f"{len(m.dropouts)} dropout(s), {total_ms:.0f} ms in total, where the degraded "
                 "signal is silent while the reference speaks: packet loss or jitter-buffer "
                 "underruns") if m.dropouts else None,
    }
    dl = np.asarray(m.delays_ms, dtype=float)
    rng_ms = float(np.ptp(dl)) if dl.size else math.nan
    jumps = int(np.count_nonzero(np.abs(np.diff(dl)) >= DELAY_JUMP_MS)) if dl.size > 1 else 0
    out["delay_variation"] = {
        "range_ms": rng_ms, "jumps": jumps, "unit": "ms",
        "hint": (f"the delay varies by {rng_ms:.1f} ms with {jumps} jump(s): an adaptive jitter "
                 "buffer or time-scaling in the path")
        if rng_ms > DELAY_RANGE_MS or jumps > 0 else None,
    }
    out["drift"] = {
        "value": drift_ppm, "unit": "ppm", "compensated": drift_compensated,
        "hint": (f"the degraded clock runs {abs(drift_ppm):.0f} ppm "
                 f"{'fast' if drift_ppm > 0 else 'slow'} against the reference (sample-rate "
                 "mismatch between playback and recording devices)")
        if abs(drift_ppm) > 100 else None,
    }
    total = sum(m.share.values())
    shares = {k: (v / total if total > 0 else 0.0) for k, v in m.share.items()}
    worst = sorted(m.worst, reverse=True)[:5]
    rms = math.sqrt(total / m.n_frames) if m.n_frames else 0.0
    hint = None
    if rms < AUDIBLE_RMS:
        pass  # too little disturbance for its distribution to matter
    elif shares["dropouts"] > DROPOUT_SHARE:
        hint = f"{100 * shares['dropouts']:.0f} % of the disturbance comes from dropouts"
    elif shares["pauses"] > PAUSE_SHARE:
        hint = (f"{100 * shares['pauses']:.0f} % of the disturbance is in the reference's pauses:"
                " noise or artefacts where nobody speaks")
    out["disturbance"] = {
        "speech_share": shares["speech"], "pause_share": shares["pauses"],
        "dropout_share": shares["dropouts"], "rms": rms,
        "worst_frames_s": [round(t, 3) for _, t in worst],
        "hint": hint,
    }
    value, floor = reference_match.value(m.match), reference_match.MIN_MATCH
    out["reference_match"] = {
        "value": value, "unit": "correlation of the band envelopes after alignment (0..1)",
        "hint": (f"the degraded signal does not follow the reference (match {value:.2f}, "
                 f"below {floor:.2f}): the degraded file does not seem to contain this "
                 "reference (wrong reference file?); the score says nothing about quality")
        if value < floor else None,
    }
    return out


def hints(diagnostics: dict[str, Any]) -> list[str]:
    """The hints that fired, in a fixed order."""
    return [v["hint"] for v in diagnostics.values() if isinstance(v, dict) and v.get("hint")]


#: (label, diagnostic, figure text) of each line of :func:`format_lines`, in order.
_LINES = (
    ("level diff", "level_difference", lambda d: f"{d['value']:+.1f} dB"),
    ("SNR (pauses)", "noise",
     lambda d: f"{d['snr_db']:.1f} dB (noise {d['noise_dbfs']:.1f} dBFS in 300-3400 Hz)"),
    ("bandwidth", "bandwidth",
     lambda d: f"ref {d['reference_hz']:.0f} Hz, deg {d['degraded_hz']:.0f} Hz"),
    ("clipping", "clipping", lambda d: f"{100 * d['value']:.3f} % of samples"),
    ("dropouts", "dropouts", lambda d: f"{d['count']} ({d['total_ms']:.0f} ms)"),
    ("delay variation", "delay_variation",
     lambda d: f"{d['range_ms']:.1f} ms range, {d['jumps']} jump(s)"),
    ("clock drift", "drift",
     lambda d: f"{d['value']:+.0f} ppm" + (", compensated" if d["compensated"] else "")),
    ("reference match", "reference_match", lambda d: f"{d['value']:.2f} (0..1)"),
    ("disturbance in", "disturbance",
     lambda d: f"speech {100 * d['speech_share']:.0f} %, pauses {100 * d['pause_share']:.0f} %,"
               f" dropouts {100 * d['dropout_share']:.0f} %"),
    # ViSQOL (perceptq.recording.visqol_scoring)
    ("lost patches", "lost_patches", lambda d: f"{d['count']} of {d['of']}"),
    ("band similarity", "band_similarity",
     lambda d: f"lowest {d['lowest_value']:.3f} at {d['lowest_band_hz']:.0f} Hz"),
)


#: Diagnostics printed only when out of the normal range.
_ONLY_WITH_HINT = frozenset({"reference_match"})


def format_lines(diagnostics: dict[str, Any]) -> list[str]:
    """One line per diagnostic: figure(s), then the hint when there is one."""
    lines = []
    for label, key, text in _LINES:
        d = diagnostics.get(key)
        if d and (d.get("hint") or key not in _ONLY_WITH_HINT):
            hint = d.get("hint")
            lines.append(f"{label:<17}{text(d)}" + (f"  <- {hint}" if hint else ""))
    return lines


def columns(diagnostics: dict[str, Any]) -> dict[str, float]:
    """Flat ``diag_*`` columns for result tables."""
    g = diagnostics.get
    if not diagnostics:
        return {}
    return {
        "diag_level_diff_db": g("level_difference", {}).get("value", math.nan),
        "diag_snr_db": g("noise", {}).get("snr_db", math.nan),
        "diag_ref_bandwidth_hz": g("bandwidth", {}).get("reference_hz", math.nan),
        "diag_deg_bandwidth_hz": g("bandwidth", {}).get("degraded_hz", math.nan),
        "diag_clipping_fraction": g("clipping", {}).get("value", math.nan),
        "diag_dropouts": g("dropouts", {}).get("count", 0),
        "diag_dropout_ms": g("dropouts", {}).get("total_ms", 0.0),
        "diag_delay_range_ms": g("delay_variation", {}).get("range_ms", math.nan),
        "diag_drift_ppm": g("drift", {}).get("value", math.nan),
        "diag_reference_match": g("reference_match", {}).get("value", math.nan),
    }
