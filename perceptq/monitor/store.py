"""The service's database: the shared ``results`` table plus what ``watch`` keeps.

* ``results``: one row per scored file or capture stream (:mod:`perceptq.batch.sqlite_table`);
* ``alerts``: one row per alert episode (group, opened_at, closed_at, calls_below,
  calls_total, min_mos, median_mos, the calls, the rule that found it);
* ``notifications``: the outbox: one row per episode opening or closing, with the state
  of its delivery to each channel (JSONL file, webhook, command);
* ``skipped``: files the service did not score, and why (once per file content);
* ``meta``: key/value state, e.g. how far the alert rule has read ``results``.

All writes go through :func:`perceptq.batch.sqlite_table.transaction`; each thread or
process uses its own connection.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

from perceptq.batch.sqlite_table import (
    HistoryDatabaseError,
    connect,
    iso_utc,
    read_frame,
    transaction,
)

__all__ = ["HistoryDatabaseError", "iso_utc", "open_store", "read_frame", "transaction"]

_SERVICE_TABLES = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    group_key TEXT NOT NULL,
    group_label TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    opened_ts REAL NOT NULL,
    last_low_at TEXT NOT NULL,
    last_low_ts REAL NOT NULL,
    closed_at TEXT,
    closed_ts REAL,
    calls_below INTEGER NOT NULL,
    calls_total INTEGER NOT NULL,
    min_mos REAL,
    median_mos REAL,
    calls TEXT NOT NULL,
    low_times TEXT NOT NULL,
    threshold REAL NOT NULL,
    min_count INTEGER NOT NULL,
    window_s REAL NOT NULL,
    group_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_open ON alerts (rule, group_key, closed_ts);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    jsonl TEXT,
    webhook TEXT,
    command TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_ts REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    UNIQUE (alert_id, event)
);
CREATE TABLE IF NOT EXISTS skipped (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (path, size, mtime_ns, reason)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def open_store(path: str | os.PathLike, *, create: bool = True) -> sqlite3.Connection:
    """Open the database with every table of the service (created when missing)."""
    con = connect(path, create=create)
    try:
        with transaction(con):
            for statement in _SERVICE_TABLES.split(";"):
                if statement.strip():
                    con.execute(statement)
    except sqlite3.DatabaseError as exc:
        con.close()
        raise HistoryDatabaseError(f"{os.fspath(path)}: cannot use database ({exc})") from None
    return con


def get_meta(con: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    """Value stored under ``key``, else ``default``."""
    row = con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row else default


def set_meta(con: sqlite3.Connection, key: str, value: str) -> None:
    """Store ``value`` under ``key`` (inside a transaction)."""
    con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def record_skip(con: sqlite3.Connection, path: str, size: int, mtime_ns: int, reason: str) -> bool:
    """Log a skipped file; True when this file content was not logged for this reason yet."""
    with transaction(con):
        cursor = con.execute(
            "INSERT OR IGNORE INTO skipped (path, size, mtime_ns, reason, at) "
            "VALUES (?, ?, ?, ?, ?)",
            (path, size, mtime_ns, reason, iso_utc(time.time())),
        )
    return cursor.rowcount > 0


def read_alerts(path: str | os.PathLike) -> Any:
    """The ``alerts`` table of a database as a DataFrame (oldest first), read-only; empty
    when the database has none (e.g. written by ``perceptq batch`` alone)."""
    import pandas as pd

    columns = ["id", "group_label", "opened_at", "last_low_at", "closed_at", "calls_below",
               "calls_total", "min_mos", "median_mos", "threshold", "min_count", "window_s",
               "group_by", "group_key"]  # fmt: skip
    con = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True, timeout=30)
    try:
        has = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'alerts'").fetchone()
        if not has:
            return pd.DataFrame(columns=columns)
        cursor = con.execute(f"SELECT {', '.join(columns)} FROM alerts ORDER BY opened_ts, id")
        return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    except sqlite3.DatabaseError as exc:
        raise HistoryDatabaseError(f"{os.fspath(path)}: cannot read alerts ({exc})") from None
    finally:
        con.close()

