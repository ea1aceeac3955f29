"""HTML sections of the quality report (see :mod:`perceptq.report.html`).

Each ``*_section`` function takes the prepared result table (helper columns ``_ok``,
``_time``, ``_label``, ``_group``, ``_source``) and returns an HTML fragment. Text from
the tables is always escaped; figures come inline from :mod:`perceptq.report.figures`.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from perceptq.batch.summary import MISSING_LABEL, below, summarise
from perceptq.report import figures as figs
from perceptq.report.alerts import Alert
from perceptq.result import CATEGORIES, category_of

MOS = "mos"
PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")
MAX_TABLE_ROWS = 200
_MAX_PLOT_GROUPS = 40
_MAX_GROUP_LINES = 6


# ----------------------------------------------------------------------------- helpers


def group_labels(df: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One text label per row naming its group (values joined by " / ")."""
    if not columns:
        return pd.Series("all", index=df.index)
    parts = [_group_text(df[c]) for c in columns]
    label = parts[0]
    for part in parts[1:]:
        label = label + " / " + part
    return label


def _group_text(column: pd.Series) -> pd.Series:
    # same text as str() of the values perceptq.batch.summary puts in its group keys
    return column.astype("string").fillna(MISSING_LABEL)


def summary_frame(df: pd.DataFrame, columns: Sequence[str] = ()) -> pd.DataFrame:
    """The columns :func:`perceptq.batch.summary.summarise` needs, group columns as categoricals.

    Same summary as the full table; categoricals let it label each distinct value once.
    """
    slim = df[[MOS, "status", *columns]].copy()
    for c in columns:
        slim[c] = slim[c].astype("category")
    return slim


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _pct(part: int, whole: int) -> str:
    return "–" if not whole else f"{100.0 * part / whole:.1f}%"


def mos_chip(value: float) -> str:
    """MOS value on a background of its category colour."""
    if value is None or not math.isfinite(value):
        return "–"
    label = category_of(value)
    return f'<span class="mos c-{label}" title="{label}">{value:.2f}</span>'


def catbar(categories: dict[str, int], *, height: int | None = None, labels: bool = True) -> str:
    """Horizontal bar of category shares."""
    total = sum(categories.values())
    if not total:
        return '<span class="note">no scored rows</span>'
    style = f' style="height:{height}px"' if height else ""
    cells = []
    for name in CATEGORIES:
        n = categories.get(name, 0)
        if not n:
            continue
        share = 100.0 * n / total
        text = ""
        if labels and share >= 3:
            text = f"{name} {share:.0f}%" if share >= 11 else f"{share:.0f}%"
        cells.append(
            f'<div class="c-{name}" style="width:{share:.3f}%" '
            f'title="{name}: {n} ({share:.1f}%)">{text}</div>'
        )
    return f'<div class="catbar"{style}>{"".join(cells)}</div>'


def table(header: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """Sortable table; ``header`` holds (title, numeric), ``rows`` pre-escaped cells."""
    head = "".join(f'<th class="num">{_e(t)}</th>' if n else f"<th>{_e(t)}</th>" for t, n in header)
    body = []
    for row in rows:
        cells = (
            f'<td class="num">{c}</td>' if header[i][1] else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="sortable {cls}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _when(value: Any) -> str:
    """A time as an unbreakable table cell."""
    return f'<span class="nowrap">{_e(_time_text(value))}</span>'


def _time_text(value: Any) -> str:
    if value is None or pd.isna(value):
        return "–"
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def _more(shown: int, total: int, what: str) -> str:
    if total <= shown:
        return ""
    return f'<p class="note">Showing {shown} of {total} {what}.</p>'


# ----------------------------------------------------------------------------- sections


def alerts_section(
    alerts: list[Alert], *, evaluated: bool, reason: str, threshold: float, min_count: int,
    window: str,
) -> str:  # fmt: skip
    """Alert box shown at the top: red with the episodes, green when quiet."""
    rule = f"at least {min_count} calls of one group below {threshold:g} within {_e(window)}"
    if not evaluated:
        return (
            '<section class="alerts off" id="alerts"><h2>Alerts not evaluated</h2>'
            f"{_e(reason)}</section>"
        )
    if not alerts:
        return (
            f'<section class="alerts quiet" id="alerts"><h2>No alerts</h2>'
            f"No episode with {rule}.</section>"
        )
    rows = []
    for a in sorted(alerts, key=lambda a: (-a.count, a.start)):  # largest episodes first
        calls = ", ".join(a.calls[:3]) + (" …" if len(a.calls) > 3 else "")
        rows.append([
            _e(a.group_label), _when(a.start), _when(a.end),
            f"{a.count} of {a.total}", mos_chip(a.min_mos), mos_chip(a.median_mos),
            f'<span class="path">{_e(calls)}</span>',
        ])  # fmt: skip
    header = [
        ("group", False), ("from (UTC)", False), ("to (UTC)", False), ("calls below", True),
        ("min MOS", True), ("median MOS", True), ("calls", False),
    ]  # fmt: skip
    noun = "episode" if len(alerts) == 1 else "episodes"
    per_group = pd.Series([a.group_label for a in alerts]).value_counts()
    worst = ", ".join(f"{_e(g)} ({n})" for g, n in per_group.head(5).items() if n > 1)
    worst = f" Most episodes: {worst}." if worst else ""
    groups = f"{len(per_group)} group(s)" if len(per_group) > 1 else "1 group"
    return (
        f'<section class="alerts fired" id="alerts"><h2>⚠ {len(alerts)} alert {noun} '
        f'in {groups}</h2><div class="note">Rule: {rule}.{worst} '
        "Largest episodes first.</div>"
        f'<div class="scroll short">{table(header, rows[:MAX_TABLE_ROWS])}</div>'
        f"{_more(min(len(rows), MAX_TABLE_ROWS), len(rows), 'episodes')}</section>"
    )


def headline_section(summary: dict[str, Any], n_below: int, threshold: float) -> str:
    """Tiles with the headline figures and the category share bar."""
    s = summary["overall"]
    ok, errors, count = s["ok"], s["errors"], s["count"]
    mean_label = category_of(s["mean"]) if math.isfinite(s["mean"]) else ""
    tiles = [
        ("Scored", f"{ok:,}", f"of {count:,} rows", False),
        ("Mean MOS", _num(s["mean"]), mean_label, False),
        ("Median MOS", _num(s["median"]), f"5th percentile {_num(s['p5'])}", False),
        (f"Below {threshold:g}", _pct(n_below, ok), f"{n_below:,} calls", n_below > 0),
        ("Lowest MOS", _num(s["min"]), "", False),
        ("Errors", f"{errors:,}", _pct(errors, count) + " of rows", errors > 0),
    ]
    cells = "".join(
        f'<div class="tile{" warn" if warn else ""}"><div class="k">{_e(k)}</div>'
        f'<div class="v">{_e(v)}</div><div class="d">{_e(d)}</div></div>'
        for k, v, d, warn in tiles
    )
    legend = "".join(
        f'<span style="--c:var(--{c.lower()})">{c} {n:,} ({_pct(n, ok)})</span>'
        for c, n in s["categories"].items()
    )
    return (
        f'<section id="headline"><div class="tiles">{cells}</div>'
        f'{catbar(s["categories"])}<div class="legend">{legend}</div></section>'
    )


#: What each MOS scale of a result table measures (the ``_scale`` column).
SCALES = {
    "MOS-LQO": "listening quality of the audio (perceptq score / batch; ITU-T P.862)",
    "MOS-CQE": "conversational quality estimated from network figures (perceptq emodel / "
    "rtp; ITU-T G.107 E-model)",
}


def table_scale(columns: Sequence[str]) -> str:
    """Which MOS a result table's ``mos`` column holds, from its columns: MOS-LQO for
    perceptq batch (``raw``, ``mode``), MOS-CQE for perceptq emodel and rtp (``r``), else
    plain MOS."""
    cols = set(columns)
    if cols & {"raw", "mode"}:
        return "MOS-LQO"
    if "r" in cols:
        return "MOS-CQE"
    return "MOS"


def mixed_scales_note(df: pd.DataFrame) -> str:
    """A warning when the rows mix MOS scales (empty when they do not)."""
    scales = sorted(df.loc[df["_ok"], "_scale"].unique())
    if len(scales) < 2:
        return ""
    what = "; ".join(f"<b>{_e(s)}</b>: {_e(SCALES.get(s, 'MOS of unknown origin'))}"
                     for s in scales)  # fmt: skip
    return (
        f'<p class="note mixed">⚠ These results mix {len(scales)} MOS scales that measure '
        f"different things ({what}). The MOS distribution shows them apart; the headline "
        "figures, groups, trend and alerts pool every row: report them separately, or "
        "group by a column that tells them apart.</p>"
    )


def histogram_section(df: pd.DataFrame, threshold: float) -> str:
    """MOS histogram with the category bands: one per MOS scale when the rows mix them."""
    ok = df[df["_ok"]]
    if ok.empty:
        return ""
    scales = sorted(ok["_scale"].unique())
    imgs = []
    for scale in scales:
        mos = ok.loc[ok["_scale"] == scale, MOS].to_numpy(dtype=float)
        title = f"<h3>{_e(scale)}: {len(mos):,} rows</h3>" if len(scales) > 1 else ""
        fig = figs.histogram(mos, threshold, xlabel=scale)
        imgs.append(title + figs.to_img(fig, f"{scale} histogram with category bands"))
    note = mixed_scales_note(df)
    return f'<section id="distribution"><h2>MOS distribution</h2>{note}{"".join(imgs)}</section>'


def group_section(df: pd.DataFrame, columns: list[str], threshold: float, anchor: str) -> str:
    """Box plots and a table of the groups formed by ``columns``, worst first."""
    summary = summarise(summary_frame(df, columns), group_by=columns)
    keys = group_labels(df, columns)
    low = below(df, threshold)
    n_below = keys.loc[low.index].value_counts()
    ok = df["_ok"].to_numpy()
    values = {k: v.to_numpy(dtype=float) for k, v in df.loc[ok, MOS].groupby(keys[ok])}
    groups = []
    for g in summary["groups"]:
        label = " / ".join(str(g["key"][c]) for c in columns)
        groups.append((label, g))
    # worst first: groups without any scored row, then by mean and median MOS
    groups.sort(key=lambda lg: (lg[1]["ok"] > 0, _nan_last(lg[1]["mean"]),
                                _nan_last(lg[1]["median"])))  # fmt: skip
    title = " / ".join(columns)
    if not groups:
        head = f'<section id="{anchor}"><h2>By {_e(title)}</h2>'
        return f'{head}<p class="note">No rows.</p></section>'
    shown = groups[:_MAX_PLOT_GROUPS]
    fig = figs.group_boxes(
        [lab for lab, _ in shown], [values.get(lab, np.array([])) for lab, _ in shown],
        [g["ok"] for _, g in shown], threshold,
    )  # fmt: skip
    img = figs.to_img(fig, f"MOS per {title}")
    header = [(c, False) for c in columns] + [
        ("scored", True), ("errors", True), ("mean", True), ("median", True), ("p5", True),
        ("min", True), (f"below {threshold:g}", True), ("categories", False),
    ]  # fmt: skip
    rows = []
    for label, g in groups[:MAX_TABLE_ROWS]:
        nb = int(n_below.get(label, 0))
        rows.append([
            *(_e(g["key"][c]) for c in columns), str(g["ok"]), str(g["errors"]),
            mos_chip(g["mean"]), _num(g["median"]), _num(g["p5"]), _num(g["min"]),
            f"{_pct(nb, g['ok'])} ({nb})", catbar(g["categories"], height=14, labels=False),
        ])  # fmt: skip
    note = (
        f'<p class="note">Worst group first (lowest mean MOS). Boxes: quartiles; whiskers: '
        f"5th–95th percentile; ◇ mean; dots: every call in groups of ≤ 300. "
        f"{len(groups)} group(s).</p>"
    )
    more = _more(min(len(groups), _MAX_PLOT_GROUPS), len(groups), "groups in the figure")
    return (
        f'<section id="{anchor}"><h2>By {_e(title)}</h2>{note}{img}{more}'
        f"{table(header, rows, 'groups')}{_more(len(rows), len(groups), 'groups')}</section>"
    )


def _nan_last(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def trend_section(
    df: pd.DataFrame, threshold: float, time_column: str | None, alerts: list[Alert],
    *, group_by: Sequence[str],
) -> str:  # fmt: skip
    """Trend of MOS over time, per hour or per day, with the periods below the threshold."""
    head = '<section id="trend"><h2>Trend over time</h2>'
    if time_column is None:
        return f'{head}<p class="note">No time column (use --time-column); no trend.</p></section>'
    scored = df[df["_ok"] & df["_time"].notna()]
    if scored["_time"].nunique() < 2:
        return (f'{head}<p class="note">Fewer than two distinct times in {_e(time_column)!s}; '
                f"no trend.</p></section>")  # fmt: skip
    span = scored["_time"].max() - scored["_time"].min()
    freq, label, roll = ("h", "hour", 6) if span <= pd.Timedelta(days=7) else ("D", "day", 7)
    period = scored["_time"].dt.floor(freq)
    grouped = scored[MOS].groupby(period)
    bins = pd.DataFrame({
        "median": grouped.median(), "q1": grouped.quantile(0.25), "q3": grouped.quantile(0.75),
        "ok": grouped.size(),
    })  # fmt: skip
    full = pd.date_range(bins.index.min(), bins.index.max(), freq=freq)
    bins = bins.reindex(full)
    bins["ok"] = bins["ok"].fillna(0)
    errors = df[~df["_ok"] & df["_time"].notna()]
    bins["errors"] = errors["_time"].dt.floor(freq).value_counts().reindex(full).fillna(0)
    rolling = bins["median"].rolling(roll, center=True, min_periods=1).median()
    spans = _below_spans(bins, threshold, pd.Timedelta(1, unit=freq))
    alert_starts = [a.start for a in alerts]
    lines = None
    line_key = _line_groups(scored, group_by) if group_by else None
    if line_key is not None:
        medians = scored.groupby([line_key, period])[MOS].median().unstack(0)
        if 1 < medians.shape[1] <= _MAX_GROUP_LINES:
            medians = medians.reindex(full)
            lines = {str(g): medians[g] for g in medians.columns}
    fig = figs.trend(bins, rolling, threshold, freq_label=label, below_spans=[s[:2] for s in spans],
                     alert_starts=alert_starts, group_lines=lines,
                     period=pd.Timedelta(1, unit=freq))  # fmt: skip
    img = figs.to_img(fig, f"MOS per {label} over time")
    note = (
        f'<p class="note">Time from <b>{_e(time_column)}</b> (UTC), aggregated per {label}; '
        f"rolling median over {roll} {label}s; red shading: {label}s whose median MOS is below "
        f"{threshold:g}; ▼ alert episodes"
        + (f"; thin lines: median per {label} of each group" if lines else "")
        + ".</p>"
    )
    rows = [[_when(a), _when(b), str(n), mos_chip(m)] for a, b, n, m in spans]
    header = [("from (UTC)", False), ("until (UTC)", False), ("calls", True), ("median MOS", True)]
    listing = (
        f"<h3>Periods below {threshold:g} ({len(spans)})</h3>"
        f'<div class="scroll">{table(header, rows[-MAX_TABLE_ROWS:])}</div>'
        if spans else f'<p class="note">No {label} with a median below {threshold:g}.</p>'
    )  # fmt: skip
    return f"{head}{note}{img}{listing}</section>"


def _line_groups(scored: pd.DataFrame, group_by: Sequence[str]) -> pd.Series | None:
    """Group labels for per-group trend lines: all groups, else the first column's values."""
    if scored["_group"].nunique() <= _MAX_GROUP_LINES:
        return scored["_group"]
    first = group_labels(scored, group_by[:1])
    return first if first.nunique() <= _MAX_GROUP_LINES else None


def _below_spans(
    bins: pd.DataFrame, threshold: float, step: pd.Timedelta
) -> list[tuple[pd.Timestamp, pd.Timestamp, int, float]]:
    """Merged runs of consecutive periods whose median is below ``threshold``."""
    low = (bins["median"] < threshold).to_numpy()
    out: list[tuple[pd.Timestamp, pd.Timestamp, int, float]] = []
    i = 0
    while i < low.size:
        if not low[i]:
            i += 1
            continue
        j = i
        while j + 1 < low.size and low[j + 1]:
            j += 1
        part = bins.iloc[i : j + 1]
        weights = part["ok"].to_numpy()
        med = float(np.average(part["median"], weights=weights)) if weights.sum() else math.nan
        out.append((part.index[0], part.index[-1] + step, int(weights.sum()), med))
        i = j + 1
    return out


def index_plots(plots_dir: Path | None) -> dict[str, list[Path]]:
    """Map file stems, and stems cut at a dot (``call.plot.png``), to images in ``plots_dir``."""
    index: dict[str, list[Path]] = {}
    if plots_dir is None:
        return index
    for path in sorted(plots_dir.rglob("*")):
        if path.suffix.lower() not in PLOT_SUFFIXES or not path.is_file():
            continue
        stem = path.stem
        for key in {stem} | {stem[:i] for i, ch in enumerate(stem) if ch == "." and i}:
            index.setdefault(key, []).append(path)
    return index


def find_plot(degraded: str, index: dict[str, list[Path]], plots_dir: Path) -> Path | None:
    """The plot of a degraded file, or None when there is none or it is ambiguous.

    Candidates have the degraded file's stem (exact stems beat ``stem.something``). When
    several remain, the one whose folders under ``plots_dir`` share the most names with the
    degraded file's folders wins; a tie links nothing rather than the wrong picture.
    """
    deg = Path(degraded)
    candidates = index.get(deg.stem, [])
    candidates = [p for p in candidates if p.stem == deg.stem] or candidates
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    parents = {part.lower() for part in deg.parent.parts}

    def shared(p: Path) -> int:
        return len(parents & {part.lower() for part in p.relative_to(plots_dir).parent.parts})

    scores = [shared(p) for p in candidates]
    best = max(scores)
    if best == 0 or scores.count(best) > 1:
        return None
    return candidates[scores.index(best)]


def path_html(text: Any) -> str:
    """A path, escaped, that may break after its slashes only (never letter by letter)."""
    return _e(text).replace("/", "/<wbr>").replace("\\", "\\<wbr>")


def _path_cell(value: Any) -> str:
    """A path cell; an empty one (an error row without a reference) shows a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return '<span class="note" title="none">–</span>'
    if not str(value).strip():
        return '<span class="note" title="none">–</span>'
    return f'<span class="path">{path_html(value)}</span>'


def _plot_link(plot: Path | None, out_dir: Path) -> str:
    if plot is None:
        return '<span class="note">none</span>'
    href = quote(Path(os.path.relpath(plot.resolve(), out_dir.resolve())).as_posix())
    return f'<a href="{_e(href)}" title="{_e(plot.name)}">plot</a>'


def errors_section(df: pd.DataFrame) -> str:
    """The rows that failed (status not ok, or no usable MOS)."""
    bad = df[~df["_ok"]]
    if bad.empty:
        return '<section id="errors"><h2>Errors</h2><p class="note">No error rows.</p></section>'
    cols = [c for c in ("reference", "degraded") if c in df] or ["_label"]
    header = [("file", False)] + [(c.lstrip("_").replace("label", "row"), False) for c in cols]
    header += [("status", False), ("error", False)]
    rows = []
    for _, r in bad.head(MAX_TABLE_ROWS).iterrows():
        status = r["status"] if "status" in df else "no MOS"
        error = r["error"] if "error" in df and not pd.isna(r["error"]) else ""
        error = error or "MOS missing or not a number"
        rows.append([_e(r["_source"])] + [_path_cell(r[c]) for c in cols]
                    + [_e(status), f'<span class="err">{_e(error)}</span>'])  # fmt: skip
    return (
        f'<section id="errors"><h2>Errors ({len(bad)})</h2>'
        f'<div class="scroll">{table(header, rows)}</div>'
        f"{_more(len(rows), len(bad), 'error rows')}</section>"
    )


def episodes_section(episodes: pd.DataFrame) -> str:
    """The ``alerts`` table of a history database: each episode as it was notified."""
    if episodes.empty:
        body = '<div class="note">No episode recorded in the database.</div>'
    else:
        rows = [[
            _e(r.group_label), _time_text(r.opened_at), _time_text(r.last_low_at),
            _time_text(r.closed_at) if r.closed_at else "<b>open</b>",
            f"{r.calls_below} of {r.calls_total}", mos_chip(r.min_mos), mos_chip(r.median_mos),
        ] for r in episodes.itertuples()]  # fmt: skip
        header = [("group", False), ("opened (UTC)", False), ("last low call", False),
                  ("closed (UTC)", False), ("calls below", True), ("min MOS", True),
                  ("median MOS", True)]  # fmt: skip
        body = (f'<div class="scroll short">{table(header, rows[:MAX_TABLE_ROWS])}</div>'
                f"{_more(min(len(rows), MAX_TABLE_ROWS), len(rows), 'episodes')}")  # fmt: skip
    return ('<section id="episodes"><h2>Alert episodes recorded by perceptq watch</h2>'
            f"{body}</section>")  # fmt: skip
