"""Alert episodes in real time, with the report's rule, recorded once in the database.

The rule is :func:`perceptq.report.alerts.find_alerts`: an episode of a group holds at
least ``min_count`` calls with MOS below ``threshold`` inside one window, and bursts that
share a call merge. Applied as rows arrive:

* an episode **opens** when the rule first finds it among the group's calls;
* it **closes** once no later call can extend it: when the clock (the wall clock, or the
  group's latest call time if that is later) has passed the time of its last low call
  plus the window (a burst sharing that call could still merge until then; with
  ``min_count`` 1, at once); ``closed_at`` is that moment;
* calls scored after a group's episode closed never reopen it: a later burst is a new
  episode.

Each opening and closing is written, in the same transaction as the episode, to the
``notifications`` outbox (delivered by :mod:`perceptq.monitor.notify`), so it is notified
once, including across restarts. How far the rule has read ``results`` is kept in
``meta`` per rule, so rows committed just before a ``kill -9`` are still evaluated.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from perceptq.batch.sqlite_table import iso_utc, quote, table_columns, transaction
from perceptq.monitor.store import get_meta, set_meta
from perceptq.report.alerts import find_alerts

#: Calls listed in an event (the episode's first ones).
MAX_CALLS = 50
#: Margin on the time bounds of the rows read (times are compared as float seconds).
_MARGIN_S = 1e-3
CHANNELS = ("jsonl", "webhook", "command")


@dataclass(frozen=True)
class Rule:
    """``--alert-below``, ``--alert-min-count``, ``--alert-window`` and ``--group-by``."""

    threshold: float = 3.5
    min_count: int = 3
    window_s: float = 3600.0
    group_by: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Identifies the rule: episodes of another rule are kept apart."""
        return json.dumps([self.threshold, self.min_count, self.window_s, list(self.group_by)])

    def label(self, values: list[Any]) -> str:
        """Group label as in the report ("all" without grouping)."""
        if not self.group_by:
            return "all"
        return ", ".join(f"{c}={'(none)' if v is None else v}"
                         for c, v in zip(self.group_by, values, strict=True))  # fmt: skip


def start(con: sqlite3.Connection, rule: Rule) -> None:
    """Register ``rule``: a rule new to this database reads the rows added from now on."""
    with transaction(con):
        if get_meta(con, _mark(rule)) is None:
            last = con.execute("SELECT coalesce(max(id), 0) FROM results").fetchone()[0]
            set_meta(con, _mark(rule), str(last))


def _mark(rule: Rule) -> str:
    return f"alerts.read_id {rule.key}"


def evaluate(
    con: sqlite3.Connection, rule: Rule, *, now: float, channels: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Apply the rule to the rows added since the last call and to the open episodes.

    Returns the events written to the outbox (``opened``/``closed`` payloads), each
    pending for ``channels``.
    """
    if rule.min_count < 1:
        return []
    events: list[dict[str, Any]] = []
    with transaction(con):
        mark = int(get_meta(con, _mark(rule), "0") or 0)
        top = con.execute("SELECT coalesce(max(id), 0) FROM results").fetchone()[0]
        have = set(table_columns(con))
        cols = ", ".join(quote(c) if c in have else "NULL" for c in rule.group_by)
        select = f"SELECT call_ts{', ' + cols if cols else ''} FROM results"
        due: dict[str, tuple[list[Any], float | None]] = {}
        for ts, *values in con.execute(
            f"{select} WHERE id > ? AND id <= ? AND status = 'ok' AND mos IS NOT NULL "
            "AND call_ts IS NOT NULL", (mark, top),
        ):  # fmt: skip
            key = json.dumps(values)
            earliest = due.get(key, (values, None))[1]
            due[key] = (values, ts if earliest is None else min(earliest, ts))
        for (key,) in con.execute(
            "SELECT group_key FROM alerts WHERE rule = ? AND closed_ts IS NULL", (rule.key,)
        ).fetchall():
            due.setdefault(key, (json.loads(key), None))
        for key, (values, earliest) in due.items():
            events += _evaluate_group(con, rule, key, values, earliest, now, have, channels)
        set_meta(con, _mark(rule), str(top))
    return events


def _group_rows(con, rule, values, lo, closed_bound, have) -> pd.DataFrame:
    where, params = ["status = 'ok'", "mos IS NOT NULL", "call_ts >= ?"], [lo]
    if closed_bound is not None:
        where.append("call_ts > ?")
        params.append(closed_bound)
    for column, value in zip(rule.group_by, values, strict=True):
        if column not in have:
            if value is not None:
                return pd.DataFrame(columns=["ts", "mos", "call"])
            continue
        where.append(f"{quote(column)} IS ?")
        params.append(value)
    rows = con.execute(
        f"SELECT call_ts, mos, degraded, stream FROM results WHERE {' AND '.join(where)}", params
    ).fetchall()
    df = pd.DataFrame.from_records(rows, columns=["ts", "mos", "call", "stream"])
    df["call"] = [c if not s else f"{c} {s}" for c, s in zip(df["call"], df["stream"],
                                                             strict=True)]  # fmt: skip
    return df.sort_values("ts", kind="stable")


def _deadline(low_ts: np.ndarray, rule: Rule) -> float:
    """Clock time after which no later low call can extend an episode: a burst that shares
    the episode's last low call may still complete until one window after it (with a
    count of 1, bursts never share a call)."""
    if rule.min_count <= 1:
        return float(low_ts[-1])
    return float(low_ts[-1]) + rule.window_s


def _evaluate_group(con, rule, key, values, earliest, now, have, channels):
    open_row = con.execute(
        "SELECT id, opened_ts FROM alerts WHERE rule = ? AND group_key = ? AND closed_ts IS NULL",
        (rule.key, key),
    ).fetchone()
    closed_bound = con.execute(
        "SELECT max(last_low_ts) FROM alerts WHERE rule = ? AND group_key = ? "
        "AND closed_ts IS NOT NULL", (rule.key, key),
    ).fetchone()[0]  # fmt: skip
    starts = [t for t in (earliest - rule.window_s if earliest is not None else None,
                          open_row[1] if open_row else None) if t is not None]  # fmt: skip
    # stored times went through nanosecond timestamps: read with a millisecond margin
    bound = closed_bound + _MARGIN_S if closed_bound is not None else None
    df = _group_rows(con, rule, values, min(starts) - _MARGIN_S, bound, have)
    clock = max(now, float(df["ts"].max())) if len(df) else now
    found = []
    if len(df):
        df["_t"] = pd.to_datetime(df["ts"], unit="s", utc=True)
        found = find_alerts(df, time_column="_t", threshold=rule.threshold,
                            min_count=rule.min_count, window=pd.Timedelta(seconds=rule.window_s),
                            id_column="call", max_calls=MAX_CALLS)  # fmt: skip
    ts, mos = df["ts"].to_numpy(dtype=float), df["mos"].to_numpy(dtype=float)
    events = []
    open_id = open_row[0] if open_row else None
    for episode in found:
        start, end = episode.start.timestamp(), episode.end.timestamp()
        low_ts = ts[(mos < rule.threshold) & (ts >= start - 1e-6) & (ts <= end + 1e-6)]
        if open_id is not None and end < open_row[1] - 1e-6:
            continue  # late calls before the open episode: not an episode of their own
        if open_id is not None and start > _stored_last_low(con, open_id) + 1e-6:
            # a burst that cannot belong to the open episode: that one is over
            events += _close(con, rule, open_id, _stored_deadline(con, open_id, rule), channels)
            open_id = None
        if open_id is None:
            open_id = _insert(con, rule, key, values, episode, low_ts)
            events.append(_notify(con, rule, open_id, "opened", channels))
        else:
            _update(con, open_id, episode, low_ts, rule)
    if open_id is not None:
        deadline = _stored_deadline(con, open_id, rule)
        if clock > deadline:
            events += _close(con, rule, open_id, deadline, channels)
    return events


def _stored_last_low(con, alert_id: int) -> float:
    return con.execute("SELECT last_low_ts FROM alerts WHERE id = ?", (alert_id,)).fetchone()[0]


def _stored_deadline(con, alert_id: int, rule: Rule) -> float:
    low = con.execute("SELECT low_times FROM alerts WHERE id = ?", (alert_id,)).fetchone()[0]
    return _deadline(np.asarray(json.loads(low), dtype=float), rule)


def _fields(episode, low_ts: np.ndarray, rule: Rule) -> dict[str, Any]:
    tail = low_ts[-max(1, rule.min_count):]  # enough low-call times to find the closing moment
    return {
        "opened_at": iso_utc(episode.start.timestamp()),
        "opened_ts": episode.start.timestamp(),
        "last_low_at": iso_utc(episode.end.timestamp()),
        "last_low_ts": episode.end.timestamp(),
        "calls_below": int(episode.count),
        "calls_total": int(episode.total),
        "min_mos": _num(episode.min_mos),
        "median_mos": _num(episode.median_mos),
        "calls": json.dumps(list(episode.calls)),
        "low_times": json.dumps([float(t) for t in tail]),
    }


def _num(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _insert(con, rule: Rule, key: str, values: list[Any], episode, low_ts) -> int:
    fields = _fields(episode, low_ts, rule)
    fields.update(rule=rule.key, group_key=key, group_label=rule.label(values),
                  threshold=rule.threshold, min_count=rule.min_count, window_s=rule.window_s,
                  group_by=json.dumps(list(rule.group_by)))  # fmt: skip
    names = list(fields)
    cursor = con.execute(
        f"INSERT INTO alerts ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [fields[n] for n in names],
    )
    return int(cursor.lastrowid)


def _update(con, alert_id: int, episode, low_ts, rule: Rule) -> None:
    fields = _fields(episode, low_ts, rule)
    old = con.execute("SELECT opened_ts, opened_at FROM alerts WHERE id = ?",
                      (alert_id,)).fetchone()  # fmt: skip
    if old[0] < fields["opened_ts"]:  # rows before the first call may not have been read
        fields["opened_ts"], fields["opened_at"] = old
    sets = ", ".join(f"{n} = ?" for n in fields)
    con.execute(f"UPDATE alerts SET {sets} WHERE id = ?", [*fields.values(), alert_id])


def _close(con, rule: Rule, alert_id: int, deadline: float, channels) -> list[dict[str, Any]]:
    con.execute("UPDATE alerts SET closed_ts = ?, closed_at = ? WHERE id = ?",
                (deadline, iso_utc(deadline), alert_id))  # fmt: skip
    return [_notify(con, rule, alert_id, "closed", channels)]


def payload(con: sqlite3.Connection, alert_id: int, event: str) -> dict[str, Any]:
    """The JSON document of an episode event."""
    row = con.execute(
        "SELECT group_key, group_label, opened_at, closed_at, calls_below, calls_total, "
        "min_mos, median_mos, calls, threshold, min_count, window_s, group_by "
        "FROM alerts WHERE id = ?", (alert_id,),
    ).fetchone()  # fmt: skip
    (key, label, opened, closed, below, total, lo, med, calls, thr, count, window, cols) = row
    return {
        "event": event,
        "event_id": f"{alert_id}-{event}",
        "episode": alert_id,
        "group": dict(zip(json.loads(cols), json.loads(key), strict=True)),
        "group_label": label,
        "opened_at": opened,
        "closed_at": closed if event == "closed" else None,
        "calls_below": below,
        "calls_total": total,
        "min_mos": lo,
        "median_mos": med,
        "calls": json.loads(calls),
        "threshold": thr,
        "min_count": count,
        "window_s": window,
    }


def _notify(con, rule: Rule, alert_id: int, event: str, channels) -> dict[str, Any]:
    body = payload(con, alert_id, event)
    state = {c: ("pending" if c in channels else None) for c in CHANNELS}
    con.execute(
        "INSERT OR IGNORE INTO notifications (alert_id, event, payload, created_at, jsonl, "
        "webhook, command) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (alert_id, event, json.dumps(body), iso_utc(time.time()),
         state["jsonl"], state["webhook"], state["command"]),
    )  # fmt: skip
    return body
