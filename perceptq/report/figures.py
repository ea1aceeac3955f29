"""Matplotlib figures of the HTML report (Agg canvas), returned as inline ``data:`` PNG images.

Every figure draws aggregated data (histogram counts, box statistics, per-period
medians), so its size does not grow with the number of result rows.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from perceptq.result import CATEGORY_BOUNDS

#: Colour of each quality category (red = Bad ... green = Excellent).
CATEGORY_COLOURS: dict[str, str] = {
    "Excellent": "#1a9850",
    "Good": "#91cf60",
    "Fair": "#f2c94c",
    "Poor": "#fc8d59",
    "Bad": "#d73027",
}
MOS_RANGE = (1.0, 5.0)
_DPI = 96


def _figure(figsize: tuple[float, float]) -> Figure:
    """A figure drawn by the Agg canvas directly: no pyplot state, no GUI backend."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def category_bands() -> list[tuple[float, float, str]]:
    """(low, high, label) MOS ranges of the categories, clipped to :data:`MOS_RANGE`."""
    bands = []
    upper = MOS_RANGE[1]
    for bound, label in CATEGORY_BOUNDS:
        low = max(bound, MOS_RANGE[0])
        bands.append((low, upper, label))
        upper = low
    return bands


def _draw_bands(ax, *, vertical: bool, alpha: float = 0.12) -> None:
    for low, high, label in category_bands():
        span = ax.axvspan if vertical else ax.axhspan
        span(low, high, color=CATEGORY_COLOURS[label], alpha=alpha, lw=0, zorder=0)


def to_img(fig: Figure, alt: str) -> str:
    """Render ``fig`` as an inline ``<img>`` tag (base64 PNG) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="fig" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def histogram(mos: np.ndarray, threshold: float, *, xlabel: str = "MOS") -> Figure:
    """MOS histogram (0.05-wide bins) with bars and background in category colours; the
    count axis has whole-number ticks."""
    fig = _figure(figsize=(11, 3.6))
    ax = fig.subplots()
    lo, hi = MOS_RANGE
    edges = np.round(np.arange(lo, hi + 1e-9, 0.05), 2)
    counts, _ = np.histogram(np.clip(mos, lo, hi - 1e-9), bins=edges)
    labels = [label_of(e) for e in edges[:-1]]
    ax.bar(
        edges[:-1], counts, width=0.05, align="edge",
        color=[CATEGORY_COLOURS[lab] for lab in labels], edgecolor="white", linewidth=0.4,
    )  # fmt: skip
    _draw_bands(ax, vertical=True)
    top = max(int(counts.max()) if counts.size else 0, 1)
    for low, high, label in category_bands():
        ax.text((low + high) / 2, top * 1.08, label, ha="center", va="bottom", fontsize=10,
                color="#333")  # fmt: skip
    ax.axvline(threshold, color="#b00020", ls="--", lw=1.5)
    ax.text(threshold, top * 0.95, f" threshold {threshold:g}", color="#b00020", fontsize=9,
            ha="left", va="top")  # fmt: skip
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, top * 1.22)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("calls / pairs")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def label_of(mos: float) -> str:
    """Category of a histogram bin edge (edges on a bound belong to the upper category)."""
    for bound, label in CATEGORY_BOUNDS:
        if mos >= bound - 1e-9:
            return label
    return "Bad"


def group_boxes(
    labels: Sequence[str],
    values: Sequence[np.ndarray],
    counts: Sequence[int],
    threshold: float,
    *,
    strip_max: int = 300,
) -> Figure:
    """Horizontal box plots, one per group, first label on top.

    Boxes span the quartiles, whiskers the 5th to 95th percentiles, the diamond marks
    the mean. Groups with at most ``strip_max`` values also show every value as a dot.
    """
    n = len(labels)
    fig = _figure(figsize=(11, max(2.2, 0.42 * n + 1.2)))
    ax = fig.subplots()
    stats = []
    for label, v in zip(labels, values, strict=True):
        if v.size == 0:
            v = np.array([math.nan])
        q = np.nanpercentile(v, [5, 25, 50, 75, 95]) if np.isfinite(v).any() else [math.nan] * 5
        stats.append(dict(label=label, whislo=q[0], q1=q[1], med=q[2], q3=q[3], whishi=q[4],
                          mean=float(np.nanmean(v)) if np.isfinite(v).any() else math.nan,
                          fliers=[]))  # fmt: skip
    positions = np.arange(n, 0, -1)
    _draw_bands(ax, vertical=True)
    bp = ax.bxp(stats, positions=positions, orientation="horizontal", showmeans=True,
                patch_artist=True, widths=0.6,
                meanprops=dict(marker="D", markerfacecolor="white", markeredgecolor="#222",
                               markersize=5),
                medianprops=dict(color="#222", lw=1.8))  # fmt: skip
    for box, s in zip(bp["boxes"], stats, strict=True):
        med = s["med"]
        colour = CATEGORY_COLOURS[label_of(med)] if math.isfinite(med) else "#ccc"
        box.set_facecolor(colour)
        box.set_alpha(0.85)
    rng = np.random.default_rng(0)  # fixed jitter: the same data gives the same picture
    for pos, v in zip(positions, values, strict=True):
        if 0 < v.size <= strip_max:
            y = pos + rng.uniform(-0.22, 0.22, v.size)
            ax.scatter(v, y, s=12, color="#222", alpha=0.55, lw=0, zorder=3)
    ax.axvline(threshold, color="#b00020", ls="--", lw=1.5)
    ax.set_yticks(positions, [f"{lab}  (n={c})" for lab, c in zip(labels, counts, strict=True)])
    ax.set_xlim(*MOS_RANGE)
    ax.set_ylim(0.4, n + 0.6)
    ax.set_xlabel("MOS")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def trend(
    bins: pd.DataFrame,
    rolling: pd.Series,
    threshold: float,
    *,
    freq_label: str,
    below_spans: Sequence[tuple[pd.Timestamp, pd.Timestamp]],
    alert_starts: Sequence[pd.Timestamp],
    group_lines: dict[str, pd.Series] | None = None,
    period: pd.Timedelta | None = None,
) -> Figure:
    """Per-period median (dots) and interquartile band, rolling median, threshold line.

    ``bins`` is indexed by period start with columns ``median``, ``q1``, ``q3``, ``ok``,
    ``errors``. Periods in ``below_spans`` are shaded red; ``alert_starts`` are marked by
    red triangles along the top edge. ``group_lines`` adds one line of per-period medians
    per group.
    """
    fig = _figure(figsize=(11, 5.2))
    ax, axn = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    _draw_bands(ax, vertical=False, alpha=0.08)
    strip = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for start, end in below_spans:  # a few merged runs of periods
        ax.fill_between([start, end], 0, 1, transform=strip, color="#d73027", alpha=0.18, lw=0)
    half = (period or pd.Timedelta(0)) / 2
    x = bins.index + half  # draw each period at its middle
    ax.fill_between(x, bins["q1"], bins["q3"], color="#4a6fa5", alpha=0.15, lw=0,
                    label="interquartile range")  # fmt: skip
    ax.plot(x, bins["median"], "o", ms=3, color="#4a6fa5", label=f"median per {freq_label}")
    ax.plot(rolling.index + half, rolling.to_numpy(), color="#1b2a41", lw=2.2,
            label="rolling median")  # fmt: skip
    for i, (name, line) in enumerate((group_lines or {}).items()):
        ax.plot(line.index + half, line.to_numpy(), lw=1.1, marker=".", ms=3, alpha=0.9,
                color=matplotlib.colormaps["tab10"](i % 10), label=name)  # fmt: skip
    ax.axhline(threshold, color="#b00020", ls="--", lw=1.5, label=f"threshold {threshold:g}")
    if len(alert_starts):
        ax.plot(alert_starts, np.full(len(alert_starts), 0.97), "v", ms=7, color="#b00020",
                transform=strip, label="alert episode", clip_on=False)  # fmt: skip
    ax.set_ylim(*_trend_ylim(bins, threshold, group_lines or {}))
    ax.set_ylabel("MOS")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), fontsize=8, ncols=6, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    # each bar spans 90 % of its own period, centred on it (also when there is one period)
    width = 0.9 * period / pd.Timedelta(days=1) if period else _bar_width(x)
    axn.bar(x, bins["ok"], width=width, color="#8da0b6", label="scored")
    axn.bar(x, bins["errors"], width=width, bottom=bins["ok"], color="#d73027", label="errors")
    axn.set_ylabel("calls")
    axn.yaxis.set_major_locator(MaxNLocator(integer=True))
    axn.set_ylim(0, max(float((bins["ok"] + bins["errors"]).max()), 1.0) * 1.5)
    axn.legend(loc="upper left", fontsize=8, ncols=2, frameon=False)
    axn.spines[["top", "right"]].set_visible(False)
    if period:  # show every period whole, with half a period of margin
        axn.set_xlim(bins.index.min() - half, bins.index.max() + period + half)
    fig.autofmt_xdate()
    return fig


def _bar_width(index: pd.Index) -> float:
    if len(index) < 2:
        return 0.03
    step = (index[1:] - index[:-1]).min()
    return max(step / pd.Timedelta(days=1) * 0.9, 1e-4)  # matplotlib dates are in days


def _trend_ylim(
    bins: pd.DataFrame, threshold: float, lines: dict[str, pd.Series]
) -> tuple[float, float]:
    lows = [bins["q1"].min(), bins["median"].min(), threshold, *(v.min() for v in lines.values())]
    highs = [bins["q3"].max(), bins["median"].max(), threshold, *(v.max() for v in lines.values())]
    low, high = np.nanmin(lows), np.nanmax(highs)
    return max(MOS_RANGE[0], low - 0.3), min(MOS_RANGE[1], high + 0.3)
