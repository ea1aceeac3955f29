"""Trends from the history database: per period and group, the calls and their MOS.

For each period (hour, day or ISO week, UTC, by call time) and group (``--group-by``
columns): ``calls`` (rows), ``scored`` (ok rows with a MOS), ``errors`` (rows whose status
is not ok), ``mean``, ``median`` and ``p5`` of the MOS (as :func:`numpy.median` and
:func:`numpy.percentile` (linear) compute them, i.e. as ``perceptq batch``'s summary does)
and ``below``, the share of scored calls with a MOS under the threshold. Capture streams
without a perceptual score are calls that are neither scored nor errors. A database that
holds scores of two metrics (P.862 and ViSQOL) is always grouped by ``metric`` first.

Speed: the rows are read through a covering index on (group columns, ``call_ts``,
``status``, ``mos``), created the first time a grouping is asked for, in index order, so
rows of one group and period arrive together; SQLite joins each column into one text
that numpy parses, and the statistics are computed with numpy on whole arrays.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from perceptq.batch.sqlite_table import quote, table_columns

#: Seconds per period, and the offset that makes weeks start on Monday (1970-01-01 was a
#: Thursday).
PERIODS = {"hour": (3600, 0), "day": (86400, 0), "week": (604800, 3 * 86400)}
#: How the MOS text marks a row: an error row, and an ok row without a MOS.
_ERROR, _UNSCORED = -1.0, "'nan'"


class HistoryQueryError(ValueError):
    """A history query that cannot be answered (unknown column or period)."""


@dataclass(frozen=True)
class Query:
    """What ``perceptq history`` asks for."""

    group_by: tuple[str, ...] = ()
    every: str = "day"
    since: float | None = None  # Unix seconds, inclusive
    until: float | None = None  # Unix seconds, exclusive
    threshold: float = 3.5


def index_for(con: sqlite3.Connection, group_by: tuple[str, ...]) -> str:
    """Name of the covering index for ``group_by`` (created when missing)."""
    name = "results_history" + "".join(f"_{c.lower()}" for c in group_by)
    cols = ", ".join([*(quote(c) for c in group_by), "call_ts", "status", "mos"])
    try:
        con.execute(f"CREATE INDEX IF NOT EXISTS {quote(name)} ON results ({cols})")
    except sqlite3.OperationalError:  # a read-only database: answer without it (slower)
        return ""
    return name


def _period_label(start: float, every: str) -> str:
    stamp = datetime.fromtimestamp(start, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:00Z" if every == "hour" else "%Y-%m-%d")


def history(con: sqlite3.Connection, query: Query) -> list[dict[str, Any]]:
    """Rows of the history table, by group then period (both ascending).

    Raises
    ------
    HistoryQueryError
        A ``group_by`` column not in the database, or an unknown period.
    """
    if query.every not in PERIODS:
        raise HistoryQueryError(f"--every {query.every!r}: expected hour, day or week")
    have = {c.lower(): c for c in table_columns(con)}
    missing = [c for c in query.group_by if c.lower() not in have]
    if missing:
        raise HistoryQueryError(
            f"group-by column(s) {', '.join(missing)} not in the database "
            f"(columns: {', '.join(c for c in have.values() if c != 'id')})"
        )
    group_by = tuple(have[c.lower()] for c in query.group_by)
    if "metric" in have and "metric" not in group_by:  # scores of two metrics never mix
        low, high = con.execute("SELECT min(metric), max(metric) FROM results "
                                "WHERE metric <> ''").fetchone()  # fmt: skip
        if low != high:
            group_by = ("metric", *group_by)
    index = index_for(con, group_by)
    where, params = ["call_ts IS NOT NULL"], []
    if query.since is not None:
        where.append("call_ts >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append("call_ts < ?")
        params.append(query.until)
    source = f"results INDEXED BY {quote(index)}" if index else "results"
    cols = ", ".join(quote(c) for c in group_by)
    order = f"ORDER BY {cols}, call_ts" if group_by else "ORDER BY call_ts"
    body = f"FROM {source} WHERE {' AND '.join(where)}"
    seconds, offset = PERIODS[query.every]
    period_sql = f"CAST((call_ts + {offset}) / {seconds} AS INTEGER)"
    mos_sql = (f"CASE WHEN status = 'ok' THEN coalesce(mos, {_UNSCORED}) "
               f"ELSE {_ERROR} END")  # fmt: skip
    con.execute("BEGIN")  # one snapshot for the reads below (WAL: writers go on)
    try:
        texts = con.execute(
            f"SELECT (SELECT group_concat(p, ' ') FROM (SELECT {period_sql} AS p {body} "
            f"{order})), (SELECT group_concat(m, ' ') FROM (SELECT {mos_sql} AS m {body} "
            f"{order}))", params * 2,
        ).fetchone()  # fmt: skip
        counted = []
        if group_by and texts[0]:
            counted = con.execute(
                f"SELECT {cols}, count(*) {body} GROUP BY {cols} ORDER BY {cols}", params
            ).fetchall()
    finally:
        con.execute("COMMIT")
    if not texts[0]:
        return []
    period = np.fromstring(texts[0], dtype=np.int64, sep=" ")
    mos = np.fromstring(texts[1], dtype=float, sep=" ")
    keys: list[tuple] = [()]
    code = np.zeros(period.size, dtype=np.int64)
    if group_by:
        keys = [tuple(r[:-1]) for r in counted]
        code = np.repeat(np.arange(len(keys)), [r[-1] for r in counted])
    if not code.size == period.size == mos.size:
        raise HistoryQueryError("the database changed shape while it was read; try again")
    return _aggregate(code, period, mos, keys, group_by, query, seconds, offset)


def _aggregate(code, period, mos, keys, group_by, query, seconds, offset) -> list[dict]:
    change = np.flatnonzero((np.diff(code) != 0) | (np.diff(period) != 0)) + 1
    starts = np.concatenate([[0], change])
    run = np.repeat(np.arange(starts.size), np.diff(np.concatenate([starts, [code.size]])))
    n_runs = starts.size
    calls = np.bincount(run, minlength=n_runs)
    errors = np.bincount(run, weights=mos == _ERROR, minlength=n_runs).astype(int)
    scored_mask = np.isfinite(mos) & (mos != _ERROR)
    values, owners = mos[scored_mask], run[scored_mask]
    scored = np.bincount(owners, minlength=n_runs)
    total = np.bincount(owners, weights=values, minlength=n_runs)
    below = np.bincount(owners, weights=values < query.threshold, minlength=n_runs)
    # runs are contiguous and values lie in [0, 5]: one float key sorts by run, then value
    ordered = values[np.argsort(owners * 8.0 + values, kind="stable")]
    first = np.cumsum(scored) - scored
    median = _quantile(ordered, first, scored, 0.5)
    p5 = _quantile(ordered, first, scored, 0.05)
    labels = {p: _period_label(p * seconds - offset, query.every) for p in np.unique(period)}
    out = []
    for r in range(n_runs):
        i = starts[r]
        k = int(scored[r])
        row: dict[str, Any] = {"period": labels[period[i]]}
        row.update(zip(group_by, keys[code[i]], strict=True))
        row.update(calls=int(calls[r]), scored=k, errors=int(errors[r]),
                   mean=float(total[r] / k) if k else math.nan,
                   median=float(median[r]), p5=float(p5[r]),
                   below=float(below[r] / k) if k else math.nan)  # fmt: skip
        out.append(row)
    return out


def _quantile(ordered, first, count, q: float) -> np.ndarray:
    """Per run, the ``q`` quantile of its sorted values (numpy's linear method)."""
    out = np.full(count.size, math.nan)
    has = count > 0
    h = (count[has] - 1) * q
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, count[has] - 1)
    base = first[has]
    a, b = ordered[base + lo], ordered[base + hi]
    out[has] = a + (h - lo) * (b - a)
    return out
