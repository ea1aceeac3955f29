"""Summaries of result tables: counts, MOS statistics and quality categories, per group.

A result table has one row per scored pair (see ``perceptq batch``). Rows count as ``ok``
when their ``status`` column says so (or, without a ``status`` column, when the MOS is a
finite number); every other row counts as an error. MOS statistics use the ok rows only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from perceptq.result import CATEGORIES, category_of

#: Label of the row that covers the whole table in :func:`format_summary`.
ALL_LABEL = "all"
#: Shown for a missing group value (an empty manifest cell).
MISSING_LABEL = "(none)"


def _ok_mask(df: pd.DataFrame, mos_column: str) -> pd.Series:
    mos = pd.to_numeric(df[mos_column], errors="coerce") if mos_column in df else None
    if mos is None:
        finite = pd.Series(False, index=df.index)
    else:
        finite = pd.Series(np.isfinite(mos.to_numpy(dtype=float)), index=df.index)
    if "status" in df:
        return (df["status"].astype(str) == "ok") & finite
    return finite


def _stats(df: pd.DataFrame, ok: pd.Series, mos_column: str) -> dict[str, Any]:
    n_ok = int(ok.sum())
    mos = pd.to_numeric(df.loc[ok, mos_column], errors="coerce").to_numpy(dtype=float)
    out: dict[str, Any] = {"count": len(df), "ok": n_ok, "errors": len(df) - n_ok}
    if n_ok:
        out.update(
            mean=float(np.mean(mos)),
            median=float(np.median(mos)),
            p5=float(np.percentile(mos, 5)),
            min=float(np.min(mos)),
        )
    else:
        out.update(mean=math.nan, median=math.nan, p5=math.nan, min=math.nan)
    counts = dict.fromkeys(CATEGORIES, 0)
    for value in mos:
        counts[category_of(float(value))] += 1
    out["categories"] = counts
    return out


def _group_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_LABEL
    if isinstance(value, np.generic):
        return value.item()
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    # numbers in numeric order, then text, then the missing-value label
    if value == MISSING_LABEL:
        return (2, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def summarise(
    df: pd.DataFrame, *, group_by: list[str] | None = None, mos_column: str = "mos"
) -> dict[str, Any]:
    """Summarise a result table overall and per group.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per pair, with a MOS column and optionally ``status`` ("ok"/"error").
    group_by : list of str, optional
        Columns whose combinations of values form the groups.
    mos_column : str
        Name of the MOS column.

    Returns
    -------
    dict
        ``{"mos_column", "group_by", "overall", "groups"}``. ``overall`` and each entry of
        ``groups`` hold ``count``, ``ok``, ``errors``, ``mean``, ``median``, ``p5`` (5th
        percentile), ``min`` (NaN without ok rows) and ``categories`` (label -> count, in
        the order Excellent, Good, Fair, Poor, Bad). Each group also has ``key``: a dict
        column -> value. Groups are sorted by their key (numbers numerically, missing values last).

    Raises
    ------
    KeyError
        If a ``group_by`` column is not in ``df``.
    """
    group_by = list(group_by or [])
    missing = [c for c in group_by if c not in df.columns]
    if missing:
        available = ", ".join(map(str, df.columns))
        raise KeyError(
            f"group-by column(s) {', '.join(map(repr, missing))} not in the results "
            f"(available: {available})"
        )
    ok = _ok_mask(df, mos_column)
    summary: dict[str, Any] = {
        "mos_column": mos_column,
        "group_by": group_by,
        "overall": _stats(df, ok, mos_column),
        "groups": [],
    }
    if not group_by or df.empty:
        return summary
    keys = pd.DataFrame({c: df[c].map(_group_value) for c in group_by}, index=df.index)
    groups = []
    for key, part in keys.groupby(group_by, sort=False, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        entry = {"key": {c: _group_value(v) for c, v in zip(group_by, values, strict=True)}}
        entry.update(_stats(df.loc[part.index], ok.loc[part.index], mos_column))
        groups.append(entry)
    groups.sort(key=lambda g: tuple(_sort_key(g["key"][c]) for c in group_by))
    summary["groups"] = groups
    return summary


def _fmt(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.2f}"


def _row(labels: list[str], stats: dict[str, Any]) -> list[str]:
    cells = [*labels, str(stats["ok"]), str(stats["errors"])]
    cells += [_fmt(stats[k]) for k in ("mean", "median", "p5", "min")]
    cells += [str(stats["categories"][c]) for c in CATEGORIES]
    return cells


def format_summary(summary: dict[str, Any]) -> str:
    """Render a :func:`summarise` result as a plain-text table (no trailing newline).

    One line per group (when grouped) and a final line for the whole table.
    """
    group_by = list(summary.get("group_by") or [])
    label_cols = group_by or ["group"]
    header = [*label_cols, "ok", "errors", "mean", "median", "p5", "min", *CATEGORIES]
    rows = [_row([str(g["key"][c]) for c in group_by], g) for g in summary.get("groups", [])]
    overall_labels = [ALL_LABEL] + [""] * (len(label_cols) - 1)
    rows.append(_row(overall_labels, summary["overall"]))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    n_labels = len(label_cols)

    def line(cells: list[str]) -> str:
        parts = [
            c.ljust(w) if i < n_labels else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(header))
    out = [f"MOS summary ({summary.get('mos_column', 'mos')})", line(header), rule]
    out += [line(r) for r in rows[:-1]]
    if len(rows) > 1:
        out.append(rule)
    out.append(line(rows[-1]))
    return "\n".join(out)


def below(df: pd.DataFrame, threshold: float, mos_column: str = "mos") -> pd.DataFrame:
    """Return the ok rows whose MOS is below ``threshold``, lowest MOS first."""
    ok = _ok_mask(df, mos_column)
    mos = pd.to_numeric(df[mos_column], errors="coerce") if mos_column in df else None
    if mos is None:
        return df.iloc[0:0]
    hit = df[ok & (mos < threshold)]
    return hit.sort_values(mos_column, kind="stable")
