"""Summaries of result tables: counts, MOS statistics and quality categories, per group.

A result table has one row per scored pair (see ``perceptq batch``). Rows count as ``ok``
when their ``status`` column says so (or, without a ``status`` column, when the MOS is a
finite number); every other row counts as an error. MOS statistics use the ok rows only.

Scores of different metrics (the ``metric`` column: P.862 and ViSQOL) are not comparable:
a table holding several is always summarised per metric, and the summary says so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from perceptq.result import CATEGORIES, CATEGORY_BOUNDS

#: Label of the row that covers the whole table in :func:`format_summary`.
ALL_LABEL = "all"
#: Shown for a missing group value (an empty manifest cell).
MISSING_LABEL = "(none)"


def _mos_values(df: pd.DataFrame, mos_column: str) -> NDArray[np.float64] | None:
    if mos_column not in df:
        return None
    return pd.to_numeric(df[mos_column], errors="coerce").to_numpy(dtype=float)


def _ok_mask(df: pd.DataFrame, mos_column: str) -> pd.Series:
    mos = _mos_values(df, mos_column)
    finite = np.zeros(len(df), dtype=bool) if mos is None else np.isfinite(mos)
    finite = pd.Series(finite, index=df.index)
    if "status" in df:
        return (df["status"].astype(str) == "ok") & finite
    return finite


def _category_index(mos: NDArray[np.float64]) -> NDArray[np.intp]:
    """Position in CATEGORIES of each (finite) MOS value, as :func:`category_of` labels it."""
    bounds = np.array([b for b, _ in CATEGORY_BOUNDS], dtype=float)  # best first, descending
    # a value gets the first label whose bound it reaches (mos >= bound, i.e. -bound >= -mos)
    return np.searchsorted(-bounds, -mos, side="left")


def _stats_by_code(
    codes: NDArray[np.intp], ok: NDArray[np.bool_], mos: NDArray[np.float64], n_groups: int
) -> tuple[list[dict[str, Any]], NDArray[np.intp]]:
    """Statistics of each group ``0 … n_groups−1`` and the position of its first row.

    ``codes`` gives the group of each row.
    """
    count = np.bincount(codes, minlength=n_groups)
    order = np.argsort(codes, kind="stable")  # rows by group, in table order within each
    starts = np.cumsum(count) - count
    first = order[starts] if order.size else starts  # an empty table has no first row
    by_group = order[ok[order]]  # ok rows only: each group's values in the order its mean sums
    n_ok = np.bincount(codes[by_group], minlength=n_groups)
    parts = np.split(mos[by_group], np.cumsum(n_ok)[:-1])
    n_cat = len(CATEGORIES)
    flat = codes[by_group] * n_cat + _category_index(mos[by_group])
    cats = np.bincount(flat, minlength=n_groups * n_cat).reshape(n_groups, n_cat)
    out = []
    for g in range(n_groups):
        values, k = parts[g], int(n_ok[g])
        stats: dict[str, Any] = {"count": int(count[g]), "ok": k, "errors": int(count[g]) - k}
        if k:
            stats.update(
                mean=float(np.mean(values)),
                median=float(np.median(values)),
                p5=float(np.percentile(values, 5)),
                min=float(np.min(values)),
            )
        else:
            stats.update(mean=math.nan, median=math.nan, p5=math.nan, min=math.nan)
        stats["categories"] = dict(zip(CATEGORIES, map(int, cats[g]), strict=True))
        out.append(stats)
    return out, first


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


def metrics_in(df: pd.DataFrame) -> list[str]:
    """The distinct values of the ``metric`` column (empty cells left out), sorted."""
    if "metric" not in df:
        return []
    return sorted({str(m) for m in df["metric"].dropna() if str(m) not in ("", "nan")})


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
        ``metrics`` lists the table's metrics; with more than one, ``metric`` is put first
        in ``group_by`` (the overall line then mixes metrics and says so).

    Raises
    ------
    KeyError
        If a ``group_by`` column is not in ``df``.
    """
    group_by = list(group_by or [])
    metrics = metrics_in(df)
    if len(metrics) > 1 and "metric" not in group_by:
        group_by = ["metric", *group_by]
    missing = [c for c in group_by if c not in df.columns]
    if missing:
        available = ", ".join(map(str, df.columns))
        raise KeyError(
            f"group-by column(s) {', '.join(map(repr, missing))} not in the results "
            f"(available: {available})"
        )
    ok = _ok_mask(df, mos_column).to_numpy()
    mos = _mos_values(df, mos_column)
    if mos is None:
        raise KeyError(mos_column)
    summary: dict[str, Any] = {
        "mos_column": mos_column,
        "metrics": metrics,
        "group_by": group_by,
        "overall": _stats_by_code(np.zeros(len(df), dtype=np.intp), ok, mos, 1)[0][0],
        "groups": [],
    }
    if not group_by or df.empty:
        return summary
    keys = pd.DataFrame({c: df[c].map(_group_value) for c in group_by}, index=df.index)
    codes = keys.groupby(group_by, sort=False, dropna=False).ngroup().to_numpy()
    n_groups = int(codes.max()) + 1
    stats, first = _stats_by_code(codes, ok, mos, n_groups)
    groups = []
    for code in np.argsort(first):  # order of first appearance; the sort below keeps it for ties
        entry = {"key": {c: _group_value(keys[c].iat[first[code]]) for c in group_by}}
        entry.update(stats[code])
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
    metrics = list(summary.get("metrics") or [])
    title = summary.get("mos_column", "mos")
    if metrics and metrics != ["p862"]:
        title += ", " + " and ".join(metrics)
    out = [f"MOS summary ({title})", line(header), rule]
    out += [line(r) for r in rows[:-1]]
    if len(rows) > 1:
        out.append(rule)
    out.append(line(rows[-1]))
    if len(metrics) > 1:
        out.append(f"note: the table mixes {len(metrics)} metrics ({', '.join(metrics)}); their "
                   f"MOS values are not comparable and the '{ALL_LABEL}' line mixes them")
    return "\n".join(out)


def below(df: pd.DataFrame, threshold: float, mos_column: str = "mos") -> pd.DataFrame:
    """Return the ok rows whose MOS is below ``threshold``, lowest MOS first."""
    ok = _ok_mask(df, mos_column)
    mos = pd.to_numeric(df[mos_column], errors="coerce") if mos_column in df else None
    if mos is None:
        return df.iloc[0:0]
    hit = df[ok & (mos < threshold)]
    return hit.sort_values(mos_column, kind="stable")
