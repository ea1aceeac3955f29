"""One-page picture of a score: what was compared, where it went wrong, and why.

Panels, top to bottom, on one time axis (the reference's; the recording's for located
results): both waveforms (the degraded one moved onto the reference by each utterance's
delay), the spectrograms of both, the per-frame disturbance with dropouts marked, and the
MOS of each utterance (bars coloured by quality category) with the delay. The diagnostics'
hints are printed under the panels.

Signals are read column by column, so even an hour-long call is drawn in bounded memory.
"""

from __future__ import annotations

import math
import os
import textwrap

import numpy as np
from numpy.typing import NDArray

from perceptq.audio.io import AudioInput, load
from perceptq.audio.source import ArraySource, Source, open_file
from perceptq.recording import diagnostics
from perceptq.result import CATEGORY_BOUNDS, Score

#: Colour of each quality category.
CATEGORY_COLOURS = {"Excellent": "#1a9850", "Good": "#91cf60", "Fair": "#fee08b",
                    "Poor": "#fc8d59", "Bad": "#d73027"}
COLUMNS = 1200
SPEC_COLUMNS = 700


def _open(x: AudioInput, fs: int, sample_rate: int | None, role: str) -> Source:
    if isinstance(x, (str, os.PathLike)):
        return open_file(x, fs)
    return ArraySource.from_audio(load(x, sample_rate, role=role, max_duration_s=math.inf), fs)


def _delay_steps(score: Score, located: bool) -> tuple[NDArray, NDArray]:
    """(utterance start times, delays in samples-free seconds) for the deg-to-ref map."""
    if located or not score.utterances:
        return np.array([0.0]), np.array([0.0])
    starts = np.array([u.start_s for u in score.utterances])
    starts[0] = -np.inf
    return starts, np.array([u.delay_ms / 1000.0 for u in score.utterances])


def _minmax(src: Source, t: NDArray, shift: NDArray) -> tuple[NDArray, NDArray]:
    """Min and max of ``src`` in each column [t[i], t[i+1]) + shift[i] (seconds)."""
    lo, hi = np.zeros(t.size - 1), np.zeros(t.size - 1)
    for i in range(t.size - 1):
        a = round((t[i] + shift[i]) * src.fs)
        x = src.read(a, max(a + round((t[i + 1] - t[i]) * src.fs), a + 1))
        lo[i], hi[i] = x.min(), x.max()
    return lo, hi


def _spectrogram(src: Source, t: NDArray, shift: NDArray) -> NDArray:
    """dB power spectra (freq, column) of 32 ms frames averaged across each column."""
    nfft = src.fs * 32 // 1000
    win = np.hanning(nfft)
    out = np.zeros((nfft // 2 + 1, t.size - 1))
    for i in range(t.size - 1):
        span = (t[i + 1] - t[i]) * src.fs
        k = int(np.clip(span // nfft, 1, 6))
        acc = np.zeros(nfft // 2 + 1)
        for j in range(k):
            a = round((t[i] + shift[i]) * src.fs + j * span / k)
            acc += np.abs(np.fft.rfft(src.read(a, a + nfft) * win)) ** 2
        out[:, i] = acc / k
    return 10 * np.log10(out + 1e-12)


def plot_score(score: Score, reference: AudioInput, degraded: AudioInput, path: str | os.PathLike,
               *, sample_rate: int | None = None) -> None:
    """Draw ``score`` (from ``perceptq.score(reference, degraded, ...)``) into ``path`` (PNG,
    SVG or PDF by extension)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fs = score.sample_rate
    ref = _open(reference, fs, sample_rate, "reference")
    deg = _open(degraded, fs, sample_rate, "degraded")
    located = bool(score.occurrences)
    main = deg if located else ref
    dur = main.n / fs
    t = np.linspace(0.0, dur, COLUMNS + 1)
    ts = np.linspace(0.0, dur, SPEC_COLUMNS + 1)
    starts, delays = _delay_steps(score, located)

    def shift_of(x: NDArray) -> NDArray:
        return delays[np.searchsorted(starts, x[:-1], side="right") - 1]

    ratios = [1.1, 1, 1, 1.2] if located else [1.1, 1, 1, 1, 1.2]
    fig, axes = plt.subplots(len(ratios), 1, figsize=(13, 2.2 * len(ratios)), sharex=True,
                             gridspec_kw={"height_ratios": ratios})
    if located:
        ax_w, ax_sr, ax_d, ax_m = axes
        ax_sd = None
    else:
        ax_w, ax_sr, ax_sd, ax_d, ax_m = axes
    centres = 0.5 * (t[:-1] + t[1:])
    if located:
        lo, hi = _minmax(deg, t, np.zeros(COLUMNS))
        ax_w.fill_between(centres, lo, hi, color="#e6550d", lw=0, label="recording")
        for occ in score.occurrences:
            ax_w.axvspan(occ["offset_s"], occ["end_s"], color="#3182bd", alpha=0.15)
        ax_w.set_title("Recording (blue bands: where the reference was found)", loc="left",
                       fontsize=10)
    else:
        lo, hi = _minmax(ref, t, np.zeros(COLUMNS))
        dlo, dhi = _minmax(deg, t, shift_of(t))
        ax_w.fill_between(centres, dlo, dhi, color="#e6550d", lw=0, label="degraded (aligned)")
        ax_w.fill_between(centres, lo, hi, color="#3182bd", lw=0, alpha=0.55, label="reference")
        ax_w.set_title("Waveforms (degraded moved onto the reference by each utterance's delay)",
                       loc="left", fontsize=10)
    ax_w.legend(loc="upper right", fontsize=8)
    ax_w.set_ylabel("amplitude")
    extent = (0.0, dur, 0.0, fs / 2000.0)
    spec_r = _spectrogram(deg if located else ref, ts,
                          np.zeros(SPEC_COLUMNS))
    top = float(np.percentile(spec_r, 99.5))
    ax_sr.imshow(spec_r, origin="lower", aspect="auto", extent=extent, cmap="magma",
                 vmin=top - 80, vmax=top)
    ax_sr.set_title("Recording spectrogram" if located else "Reference spectrogram", loc="left",
                    fontsize=10)
    if ax_sd is not None:
        spec_d = _spectrogram(deg, ts, shift_of(ts))
        ax_sd.imshow(spec_d, origin="lower", aspect="auto", extent=extent, cmap="magma",
                     vmin=top - 80, vmax=top)
        ax_sd.set_title("Degraded spectrogram (aligned)", loc="left", fontsize=10)
    for ax in (ax_sr, ax_sd):
        if ax is not None:
            ax.set_ylabel("kHz")
    if score.metric == "visqol":
        _similarity_panel(ax_d, score)
    else:
        _disturbance_panel(ax_d, score, t)
    _mos_panel(ax_m, score, located)
    ax_m.set_xlabel("recording time (s)" if located else "reference time (s)")
    ax_m.set_xlim(0.0, dur)
    n_utt = len(score.utterances)
    drift = "" if math.isnan(score.drift_ppm) else f"  ·  drift {round(score.drift_ppm):+d} ppm"
    what = (f"ViSQOL {score.mode} mode @ {fs} Hz  ·  {len(score.timeline)} patch(es)"
            if score.metric == "visqol" else f"{score.mode} @ {fs} Hz  ·  {n_utt} utterance(s)")
    fig.suptitle(f"MOS-LQO {score.mos:.2f} ({score.category})  ·  {what}{drift}", fontsize=14,
                 fontweight="bold", x=0.01, ha="left")
    lines = diagnostics.format_lines(score.diagnostics)
    hint_lines = [ln for ln in lines if "<-" in ln] or ["diagnostics: all in the normal range"]
    wrapped = [w for ln in hint_lines[:6]
               for w in textwrap.wrap(ln, 150, subsequent_indent=" " * 17)]
    fig.text(0.01, 0.005, "\n".join(wrapped), fontsize=8.5, family="monospace",
             va="bottom", ha="left")
    fig.tight_layout(rect=(0, 0.02 + 0.016 * len(wrapped), 1, 0.97))
    fig.savefig(os.fspath(path), dpi=110)
    plt.close(fig)


def _similarity_panel(ax_d, score: Score) -> None:
    """ViSQOL: the similarity of each reference patch (frame arrays hold patch starts and
    1 - similarity)."""
    rows = [r for r in score.timeline if r["kind"] == "patch"]
    for r in rows:
        ax_d.hlines(r["similarity"], r["start_s"], r["end_s"], color="#54278f", lw=1.5)
    ax_d.set_ylim(min([0.0, *(r["similarity"] for r in rows)]), 1.05)
    ax_d.set_ylabel("NSIM")
    ax_d.set_title("Patch similarity (NSIM, 1 = identical)", loc="left", fontsize=10)


def _disturbance_panel(ax_d, score: Score, t: NDArray) -> None:
    """P.862: per-frame (or binned) disturbances and the dropouts."""
    ft, fd, fa = _with_gaps(score) if score.frame_times_s.size <= 4 * COLUMNS \
        else _binned(score, t)
    ax_d.plot(ft, fd, color="#54278f", lw=0.7, label="symmetric")
    ax_d.plot(ft, fa, color="#9e9ac8", lw=0.6, alpha=0.8, label="asymmetric")
    if score.frame_times_s.size > 4 * COLUMNS:
        ax_d.set_title(f"Disturbance, mean per {t[1] - t[0]:.2g} s (0 = inaudible difference)",
                       loc="left", fontsize=10)
    else:
        ax_d.set_title("Per-frame disturbance (0 = inaudible difference)", loc="left",
                       fontsize=10)
    for i, ts_drop in enumerate(score.diagnostics.get("dropouts", {}).get("times_s", [])):
        ax_d.axvline(ts_drop, color="#d73027", lw=1.0, alpha=0.7,
                     label="dropout" if i == 0 else None)
    ax_d.set_ylabel("disturbance")
    ax_d.legend(loc="upper right", fontsize=8)


def _with_gaps(score: Score) -> tuple[NDArray, NDArray, NDArray]:
    """Frame times and disturbances with NaN between frames more than 0.1 s apart, so that
    separate windows or occurrences are not joined by lines."""
    t = score.frame_times_s
    cut = np.flatnonzero(np.diff(t) > 0.1) + 1
    return (np.insert(t, cut, np.nan), np.insert(score.frame_disturbance, cut, np.nan),
            np.insert(score.frame_asymmetric_disturbance, cut, np.nan))


def _binned(score: Score, edges: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """Mean disturbances per column (NaN where a column has no frame)."""
    idx = np.clip(np.searchsorted(edges, score.frame_times_s, side="right") - 1, 0,
                  edges.size - 2)
    n = np.bincount(idx, minlength=edges.size - 1).astype(float)
    with np.errstate(invalid="ignore"):
        fd = np.bincount(idx, score.frame_disturbance, edges.size - 1) / n
        fa = np.bincount(idx, score.frame_asymmetric_disturbance, edges.size - 1) / n
    return 0.5 * (edges[:-1] + edges[1:]), fd, fa


def _mos_panel(ax, score: Score, located: bool) -> None:
    kind = "occurrence" if located else ("patch" if score.metric == "visqol" else "utterance")
    rows = [r for r in score.timeline if r["kind"] == kind and r["mos"] == r["mos"]]
    for r in rows:
        ax.fill_between([r["start_s"], r["end_s"]], 1.0, r["mos"],
                        color=CATEGORY_COLOURS[r["category"]], edgecolor="black",
                        lw=0.5 if len(rows) <= 60 else 0.0)
        if (r["end_s"] - r["start_s"]) > 0.04 * (ax.get_xlim()[1] or 1):
            ax.text(0.5 * (r["start_s"] + r["end_s"]), r["mos"] + 0.05, f"{r['mos']:.2f}",
                    ha="center", va="bottom", fontsize=8)
    for r in score.timeline:
        if r["kind"] == "window":
            ax.hlines(r["mos"], r["start_s"], r["end_s"], color="black", lw=1.5)
    for bound, _label in CATEGORY_BOUNDS[:-1]:
        ax.axhline(bound, color="grey", lw=0.4, ls=":")
    ax.axhline(score.mos, color="black", lw=0.8, ls="--")
    ax.set_ylim(1.0, 5.6)
    ax.set_ylabel("MOS-LQO")
    handles = [matplotlib_patch(c, label) for label, c in CATEGORY_COLOURS.items()]
    ax.legend(handles=handles, loc="upper right", fontsize=7, ncol=5)
    ax.set_title(f"MOS per {kind} (dashed: overall; bold lines: windows)" if kind == "utterance"
                 else f"MOS per {kind} (dashed: overall)", loc="left", fontsize=10)
    if not located and score.utterances:
        ax2 = ax.twinx()
        x, y = [], []
        for u in score.utterances:
            x += [u.start_s, u.end_s]
            y += [u.delay_ms, u.delay_ms]
        ax2.plot(x, y, color="#08519c", lw=1.2)
        ax2.set_ylabel("delay (ms)", color="#08519c")
        lo, hi = min(y), max(y)
        pad = max(5.0, 0.2 * (hi - lo))
        ax2.set_ylim(lo - pad, hi + pad)


def matplotlib_patch(colour: str, label: str):
    """A legend patch."""
    from matplotlib.patches import Patch

    return Patch(facecolor=colour, edgecolor="black", lw=0.5, label=label)
