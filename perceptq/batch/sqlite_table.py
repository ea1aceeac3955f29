"""The result table in SQLite: the ``results`` table shared by ``batch -o x.sqlite`` and ``watch``.

One row per scored file (or capture stream): the result columns of :mod:`.table`, the
diagnostics, then the call's metadata (manifest columns, path-pattern and sidecar fields,
added as columns when first seen) and what the history needs: ``call_time`` (ISO-8601
UTC) and ``call_ts`` (the same in Unix seconds, indexed), the file's identity
(``file_path``, ``file_size``, ``file_mtime_ns``, plus ``reference`` and ``stream``, unique
together), ``origin`` (``batch`` or ``watch``) and ``ingested_at``.

The database runs in WAL mode with ``synchronous=FULL``; every row is committed on its own
(or with the rows of the same file), so a process killed at any moment leaves a
consistent database holding every row it reported written.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from perceptq.batch.columns import DIAG_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, RESULT_COLUMNS

#: Columns the history adds to a result row, with their SQL types.
HISTORY_COLUMNS: dict[str, str] = {
    "call_time": "TEXT",
    "call_ts": "REAL",
    "stream": "TEXT NOT NULL DEFAULT ''",
    "file_path": "TEXT",
    "file_size": "INTEGER",
    "file_mtime_ns": "INTEGER",
    "origin": "TEXT",
    "ingested_at": "TEXT",
}
#: What identifies a row: a file scored once per content (path, size and mtime), per
#: reference and (for captures) per RTP stream.
IDENTITY = ("file_path", "file_size", "file_mtime_ns", "reference", "stream")
#: SQLite extensions taken as a history database.
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
BUSY_TIMEOUT_S = 30.0


class HistoryDatabaseError(ValueError):
    """The file is not a perceptq history database, or a column name cannot be used."""


def is_sqlite_path(path: str | os.PathLike) -> bool:
    """True when ``path`` names a history database (by its extension)."""
    return os.fspath(path).lower().endswith(SQLITE_SUFFIXES)


def iso_utc(ts: float) -> str:
    """Unix seconds -> ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC)."""
    stamp = datetime.fromtimestamp(ts, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> float:
    """ISO-8601 text (``Z``/offset; naive counts as UTC) or Unix seconds -> Unix seconds.

    Raises
    ------
    ValueError
        When the value is neither.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"time {value!r} is not a finite number")
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"time {value!r} is not ISO-8601 (e.g. 2026-05-01T14:03:00Z)") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def _sql_type(column: str) -> str:
    if column in FLOAT_COLUMNS:
        return "REAL"
    if column in INT_COLUMNS:
        return "INTEGER"
    return "TEXT"


def base_columns() -> list[str]:
    """Columns every results table has, in order."""
    return [*RESULT_COLUMNS, *DIAG_COLUMNS, *HISTORY_COLUMNS]


def quote(name: str) -> str:
    """SQL identifier (the name is checked by :func:`check_column_name` or is built in)."""
    return '"' + name.replace('"', '""') + '"'


def check_column_name(name: str) -> None:
    """Raise :class:`HistoryDatabaseError` unless ``name`` can be a metadata column."""
    if not _NAME.match(name):
        raise HistoryDatabaseError(
            f"field name {name!r} cannot be a column: use letters, digits and _ "
            "(not starting with a digit, at most 63 characters)"
        )
    if name.lower() in {c.lower() for c in (*base_columns(), "id", "rowid")}:
        raise HistoryDatabaseError(f"field name {name!r} clashes with a result column")


def connect(path: str | os.PathLike, *, create: bool = True) -> sqlite3.Connection:
    """Open (or create) a history database and make sure its ``results`` table is current.

    Autocommit connection (write with :func:`transaction`), WAL mode, ``synchronous=FULL``.

    Raises
    ------
    HistoryDatabaseError
        The file exists but is not SQLite, or is SQLite without a perceptq ``results`` table
        of its own shape.
    FileNotFoundError
        ``create=False`` and the file does not exist.
    """
    path = os.fspath(path)
    if not create and not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such database")
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                          check_same_thread=False)  # fmt: skip
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        _create_results(con)
    except sqlite3.DatabaseError as exc:
        con.close()
        raise HistoryDatabaseError(f"{path}: not a perceptq history database ({exc})") from None
    return con


@contextlib.contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on an exception)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _current(con: sqlite3.Connection) -> bool:
    """True when ``results`` exists with every column and index (nothing to write)."""
    have = set(table_columns(con))
    index = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'results_metric'").fetchone()
    return bool(have) and set(base_columns()) <= have and index is not None


def _create_results(con: sqlite3.Connection) -> None:
    if _current(con):  # readers (history, report, metrics) open without taking the write lock
        return
    with transaction(con):  # one writer at a time: two processes may open a new file at once
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "results" in tables:
            have = table_columns(con)
            if not {"degraded", "status", "mos", "file_path"} <= set(have):
                raise sqlite3.DatabaseError("its results table is not perceptq's")
            for c in [c for c in base_columns() if c not in have]:
                # a column added to the result row since the file was made
                kind = HISTORY_COLUMNS.get(c, _sql_type(c))
                con.execute(f"ALTER TABLE results ADD COLUMN {quote(c)} {kind}")
            con.execute("CREATE INDEX IF NOT EXISTS results_metric ON results (metric)")
            return
        defs = [f"{quote(c)} {_sql_type(c)}" for c in (*RESULT_COLUMNS, *DIAG_COLUMNS)]
        defs += [f"{quote(c)} {kind}" for c, kind in HISTORY_COLUMNS.items()]
        con.execute(f"CREATE TABLE results (id INTEGER PRIMARY KEY, {', '.join(defs)})")
        con.execute(
            "CREATE UNIQUE INDEX results_identity ON results "
            f"({', '.join(quote(c) for c in IDENTITY)})"
        )
        con.execute("CREATE INDEX results_call_ts ON results (call_ts)")
        con.execute("CREATE INDEX results_metric ON results (metric)")  # metrics never mix


def table_columns(con: sqlite3.Connection, table: str = "results") -> list[str]:
    """Column names of ``table``, in order."""
    return [r[1] for r in con.execute(f"PRAGMA table_info({quote(table)})")]


def add_columns(con: sqlite3.Connection, names: Iterable[str]) -> list[str]:
    """Add metadata columns that ``results`` lacks (checked names); return those added."""
    have = {c.lower() for c in table_columns(con)}
    added = []
    for name in names:
        if name.lower() in have:
            continue
        check_column_name(name)
        con.execute(f"ALTER TABLE results ADD COLUMN {quote(name)}")
        have.add(name.lower())
        added.append(name)
    return added


def _value(column: str, value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if column in FLOAT_COLUMNS:
        return float(value)
    if column in INT_COLUMNS or column in ("file_size", "file_mtime_ns"):
        return int(value)
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    return str(value)


def file_identity(path: str) -> tuple[str, int, int] | None:
    """(absolute path, size, mtime in ns) of a file, or None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return os.path.abspath(path), int(st.st_size), int(st.st_mtime_ns)


def insert_row(
    con: sqlite3.Connection, row: dict[str, Any], *, replace: bool = False
) -> int | None:
    """Insert one result row (call inside :func:`transaction`); return its id.

    Missing history columns are filled: ``ingested_at`` (now), ``call_time``/``call_ts``
    (from one another, else from ``degraded_mtime``), ``reference``/``stream`` as ''.
    A row whose identity is already in the table is skipped (None returned), or replaces
    the earlier row with ``replace=True``.
    """
    row = dict(row)
    row.setdefault("ingested_at", iso_utc(time.time()))
    for key in ("reference", "stream"):
        row[key] = row.get(key) or ""
    if row.get("call_ts") is None:
        source = row.get("call_time") or row.get("degraded_mtime")
        if source:
            row["call_ts"] = parse_time(source)
    if row.get("call_ts") is not None and not row.get("call_time"):
        row["call_time"] = iso_utc(float(row["call_ts"]))
    add_columns(con, row)
    names = list(row)
    verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
    cursor = con.execute(
        f"{verb} INTO results ({', '.join(quote(c) for c in names)}) "
        f"VALUES ({', '.join('?' * len(names))})",
        [_value(c, row[c]) for c in names],
    )
    return cursor.lastrowid if cursor.rowcount else None


def is_known(con: sqlite3.Connection, path: str, size: int, mtime_ns: int) -> bool:
    """True when a file of this path, size and mtime already has a row."""
    found = con.execute(
        "SELECT 1 FROM results WHERE file_path=? AND file_size=? AND file_mtime_ns=? LIMIT 1",
        (path, size, mtime_ns),
    ).fetchone()
    return found is not None


def read_frame(con: sqlite3.Connection, where: str = "", params: tuple = ()) -> Any:
    """The ``results`` rows (in insertion order) as a pandas DataFrame, typed like
    :func:`perceptq.batch.table.read_results`: numbers as float, text as str ("" if empty)."""
    import pandas as pd

    cursor = con.execute(f"SELECT * FROM results {where} ORDER BY id", params)
    columns = [d[0] for d in cursor.description]
    df = pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    numeric = FLOAT_COLUMNS | INT_COLUMNS | {"call_ts", "file_size", "file_mtime_ns", "id"}
    for c in columns:
        if c in numeric:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        elif df[c].dtype == object or c in RESULT_COLUMNS:
            df[c] = df[c].where(df[c].notna(), "").astype(str)
    return df


class SqliteResultWriter:
    """:class:`perceptq.batch.table.ResultWriter` for a history database.

    Rows are added to ``results`` (nothing is replaced but a row of the same file, size,
    mtime, reference and stream, which the new score supersedes); each row is committed
    on its own. ``keep`` rows are already in the table and are not written again.
    """

    def __init__(self, path: str | os.PathLike, columns: list[str], **_: Any) -> None:
        self.path = os.fspath(path)
        self.format = "sqlite"
        self.columns = list(columns)
        self.rows_written = 0
        self.con = connect(self.path)
        extras = [c for c in self.columns if c not in base_columns()]
        with transaction(self.con):
            add_columns(self.con, extras)

    def write(self, row: dict[str, Any]) -> None:
        """Commit one row; its file identity comes from ``file_path`` (else ``degraded``)."""
        cells = {c: row.get(c) for c in self.columns}
        ident = file_identity(row.get("file_path") or row.get("degraded") or "")
        if ident is not None:
            cells.update(zip(("file_path", "file_size", "file_mtime_ns"), ident, strict=True))
        cells["origin"] = "batch"
        with transaction(self.con):
            insert_row(self.con, cells, replace=True)
        self.rows_written += 1

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> SqliteResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
