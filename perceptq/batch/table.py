"""Result tables: the row of a scored pair, and tables of rows on disk.

One row per pair: :data:`RESULT_COLUMNS`, any manifest extras, then :data:`DIAG_COLUMNS`.
:class:`ResultWriter` writes rows to CSV, JSONL or Parquet as they arrive (Parquet keeps a
journal side file until it is complete), :func:`read_results` reads any of them back, and
:func:`rows_to_resume` reads back an earlier run's rows for ``--resume``.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the columns live in a leaf module (the SQLite table builds on them too); importable here
from perceptq.batch.columns import DIAG_COLUMNS as DIAG_COLUMNS
from perceptq.batch.columns import FLOAT_COLUMNS as FLOAT_COLUMNS
from perceptq.batch.columns import INT_COLUMNS as INT_COLUMNS
from perceptq.batch.columns import RESULT_COLUMNS as RESULT_COLUMNS
from perceptq.batch.columns import STANDARD_COLUMNS
from perceptq.batch.columns import WARNING_SEPARATOR as WARNING_SEPARATOR

if TYPE_CHECKING:
    from perceptq.result import Score


# --- rows --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairResult:
    """Outcome of scoring one pair.

    Attributes
    ----------
    index : int
        Position of the pair in the input iterable (0-based).
    reference, degraded : str
        The paths that were scored.
    metadata : dict
        The pair's extra keys (everything but ``reference`` and ``degraded``).
    score : Score or None
        The result, or None when scoring failed.
    error : str or None
        One-line error message when scoring failed.
    error_type : str or None
        Class name of the error (e.g. ``InvalidAudioError``).
    seconds : float
        Wall time spent on the pair in the worker (reading and scoring), in seconds.
    degraded_mtime : str or None
        Modification time of the degraded file, ISO-8601 UTC, when it could be read.
    """

    index: int
    reference: str
    degraded: str
    metadata: dict[str, Any] = field(default_factory=dict)
    score: Score | None = None
    error: str | None = None
    error_type: str | None = None
    seconds: float = math.nan
    degraded_mtime: str | None = None

    @property
    def ok(self) -> bool:
        """True when the pair was scored."""
        return self.score is not None

    def to_row(self) -> dict[str, Any]:
        """Return the result-table row (columns of :mod:`perceptq.batch.table`)."""
        return pair_row(self)


def pair_row(result: PairResult) -> dict[str, Any]:
    """Return the result-table row of a pair: :data:`RESULT_COLUMNS`, metadata, diagnostics."""
    s = result.score
    row: dict[str, Any] = {
        "reference": result.reference,
        "degraded": result.degraded,
        "status": "ok" if s is not None else "error",
        "error": result.error,
        "seconds": round(result.seconds, 4),
        "degraded_mtime": result.degraded_mtime,
        "warnings": WARNING_SEPARATOR.join(s.warnings) if s is not None else "",
        "folder": folder_of(result.degraded),
    }
    row.update(dict.fromkeys(c for c in RESULT_COLUMNS if c not in row))
    if s is not None:
        row.update(
            metric=s.metric,
            mode=s.mode,
            sample_rate=int(s.sample_rate),
            mos=float(s.mos),
            raw=float(s.raw),
            category=s.category,
            delay_ms=float(s.mean_delay_ms),
            n_utterances=len(s.utterances),
            reference_unstable=bool(s.reference_unstable),
            alignment_uncertain=bool(s.alignment_uncertain),
            reference_duration_s=_duration(s.reference_info),
            degraded_duration_s=_duration(s.degraded_info),
        )
    out = {c: row[c] for c in RESULT_COLUMNS}
    out.update({k: v for k, v in result.metadata.items() if k not in out})
    out.update(_diagnostic_values(s))
    return out


def error_row(
    reference: str,
    degraded: str,
    error: str | None,
    extras: dict[str, Any],
    *,
    folder: str | None = None,
) -> dict[str, Any]:
    """Row of a pair that was never scored: every column empty but these (``folder``:
    the degraded file's folder name, default from ``degraded``)."""
    row = dict.fromkeys((*RESULT_COLUMNS, *DIAG_COLUMNS))
    row.update(reference=reference, degraded=degraded, status="error", warnings="")
    row.update(error=error, folder=folder_of(degraded) if folder is None else folder, **extras)
    return row


def folder_of(degraded: str) -> str:
    """The ``folder`` column: name of the folder holding the degraded file."""
    return Path(os.path.abspath(degraded)).parent.name if degraded else ""


def _duration(info: Any) -> float:
    return float(info.duration_s) if info is not None else math.nan


def _diagnostic_values(s: Score | None) -> dict[str, float]:
    diagnostics = (s.diagnostics if s is not None else None) or {}
    try:  # the model's own flattening of its diagnostics, when it has one
        from perceptq.recording.diagnostics import columns as flatten
    except ImportError:
        flatten = None
    # flat numbers named like the columns, then the model's own figures
    found = {k if str(k).startswith("diag_") else f"diag_{k}": v for k, v in diagnostics.items()}
    found = {k: _number(v) for k, v in found.items()}
    if flatten is not None and any(isinstance(v, dict) for v in diagnostics.values()):
        found.update({k: _number(v) for k, v in flatten(diagnostics).items()})
    return {c: found.get(c, math.nan) for c in DIAG_COLUMNS}


def _number(value: Any) -> float:
    # numbers.Real: Python and numpy integers and floats (numpy registers its scalars);
    # not bool, nor complex
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return float(value) if number else math.nan


# --- result tables on disk ---------------------------------------------------------------

#: Output formats by file extension.
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
           ".sqlite": "sqlite", ".sqlite3": "sqlite", ".db": "sqlite"}  # fmt: skip


def table_format(path: str | os.PathLike) -> str:
    """Return ``csv``, ``jsonl``, ``parquet`` or ``sqlite`` for a result-table path.

    Raises
    ------
    ValueError
        If the extension is none of .csv, .jsonl (.ndjson), .parquet or .sqlite (.db).
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"{os.fspath(path)}: unknown output format {suffix or '(no extension)'!r}; "
            "use .csv, .jsonl, .parquet or .sqlite"
        )
    return FORMATS[suffix]


def journal_path(path: str | os.PathLike) -> str:
    """Side file that keeps a Parquet output's rows until the Parquet file is complete."""
    return os.fspath(path) + ".journal.jsonl"


def _cell(column: str, value: Any) -> Any:
    """Normalise a value for writing: NaN/None -> None, numbers typed by column."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if column in FLOAT_COLUMNS:
        return float(value)
    if column in INT_COLUMNS:
        return int(value)
    return str(value) if not isinstance(value, str) else value


def _complete_lines(path: str) -> list[str]:
    """Lines of a text file, without a last line cut short by a killed writer."""
    with open(path, "rb") as f:
        data = f.read()
    end = data.rfind(b"\n")
    return data[: end + 1].decode("utf-8").splitlines() if end >= 0 else []


def _typed_frame(records: list[dict[str, Any]], columns: list[str]) -> Any:
    import pandas as pd

    df = pd.DataFrame.from_records(records, columns=columns)
    for c in columns:
        if c in FLOAT_COLUMNS or c in INT_COLUMNS:
            df[c] = pd.to_numeric(df[c].replace("", None), errors="coerce").astype(float)
        else:
            df[c] = df[c].where(df[c].notna(), "").astype(str)
    return df


def read_results(path: str | os.PathLike) -> Any:
    """Read a result table (CSV, JSONL or Parquet) into a pandas DataFrame.

    Numeric columns come back as float (NaN when empty), all others as text ("" when
    empty). A last line cut short by a killed run is ignored. For a Parquet output whose
    run was killed, the rows kept in its journal side file are included.

    Raises
    ------
    ValueError
        Unknown extension or a file that is not a result table.
    OSError
        The file cannot be read.
    """
    import csv

    path = os.fspath(path)
    fmt = table_format(path)
    records: list[dict[str, Any]] = []
    columns: list[str] = []
    if fmt == "csv":
        reader = csv.reader(_complete_lines(path))
        columns = next(reader, [])
        records = [dict(zip(columns, r, strict=False)) for r in reader if r]
    elif fmt == "jsonl":
        records, columns = _read_jsonl(path)
    elif fmt == "sqlite":
        return _read_sqlite(path)
    else:
        records, columns = _read_parquet(path)
    missing = [c for c in ("reference", "degraded", "status") if c not in columns]
    if missing:
        raise ValueError(f"{path}: not a perceptq result table (no {', '.join(missing)} column)")
    return _typed_frame(records, columns)


def _read_sqlite(path: str, where: str = "") -> Any:
    """The ``results`` table of a history database (see :mod:`.sqlite_table`)."""
    from perceptq.batch.sqlite_table import connect, read_frame

    con = connect(path, create=False)
    try:
        return read_frame(con, where)
    finally:
        con.close()


def _read_jsonl(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    import json

    records, columns = [], []
    for number, line in enumerate(_complete_lines(path), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path}: line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}: line {number} is not a JSON object")
        columns += [k for k in record if k not in columns]
        records.append(record)
    return records, columns


def _read_parquet(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if os.path.exists(journal_path(path)):
        # a run that did not finish: its journal holds every row it kept or wrote, and the
        # Parquet file beside it (if any) is the older table that run was replacing
        return _read_jsonl(journal_path(path))
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from None
    return table.to_pylist(), list(table.column_names)


def rows_to_resume(path: str | os.PathLike, columns: list[str]) -> list[dict[str, Any]]:
    """Every row of an earlier output at ``path`` (ok and error rows, duplicates too).

    Returns ``[]`` when there is no earlier output (nor its journal). Which rows a resumed
    run keeps is decided by :func:`perceptq.batch.pairing.plan_resume`.

    Raises
    ------
    ValueError
        The earlier output is not a result table, or its columns are not ``columns``.
    OSError
        The earlier output cannot be read.
    """
    if not Path(path).exists() and not Path(journal_path(path)).exists():
        return []
    if table_format(path) == "sqlite":  # a shared history: the rows batches wrote
        earlier = _read_sqlite(os.fspath(path), "WHERE origin = 'batch'")
        return earlier[[c for c in columns if c in earlier.columns]].to_dict("records")
    earlier = read_results(path)
    if list(earlier.columns) != columns:
        # a table written by an earlier perceptq lacks only columns added since: kept
        # rows get them empty (unknown), the resumed output is rewritten with all of them
        have = [c for c in columns if c in earlier.columns]
        newer = [c for c in columns if c not in earlier.columns]
        if have != list(earlier.columns) or not set(newer) <= STANDARD_COLUMNS:
            raise ValueError("its columns differ from this batch's (another manifest?); "
                             "write to a new output file")
        earlier = earlier.reindex(columns=columns)
    return earlier.to_dict("records")


class ResultWriter:
    """Write result rows to CSV, JSONL or Parquet as they arrive.

    CSV and JSONL rows are flushed one by one. Parquet rows go out in row groups; until
    the file is closed they are also kept, one flushed line each, in the journal side
    file (:func:`journal_path`), so a killed run loses nothing already scored.

    A history database (``.sqlite``) is not replaced: rows are added to its ``results``
    table (:class:`perceptq.batch.sqlite_table.SqliteResultWriter`), one commit each.

    Parameters
    ----------
    path : path
        Output file; its extension picks the format. An existing file is replaced.
    columns : list of str
        Column order. Rows may omit columns (written empty).
    keep : list of dict, optional
        Rows to write first (the rows a resumed run keeps from the earlier output).
    row_group_size : int
        Rows per Parquet row group.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        columns: list[str],
        *,
        keep: list[dict[str, Any]] | None = None,
        row_group_size: int = 500,
    ) -> None:
        self.path = os.fspath(path)
        self.format = table_format(self.path)
        self.columns = list(columns)
        self.rows_written = 0
        self._buffer: list[dict[str, Any]] = []
        self._row_group_size = row_group_size
        self._parquet: Any = None
        self._sqlite: Any = None
        if self.format == "sqlite":  # kept rows are in the database already
            from perceptq.batch.sqlite_table import SqliteResultWriter

            self._sqlite = SqliteResultWriter(self.path, self.columns)
            return
        # the line-per-row file: the output itself, or the Parquet output's journal
        lines_path = journal_path(self.path) if self.format == "parquet" else self.path
        header = self.columns if self.format == "csv" else None
        self._lines = _rewrite_lines(lines_path, header, (self._cells(r) for r in keep or []))
        if self.format == "csv":
            import csv

            self._csv = csv.writer(self._lines, lineterminator="\n")
        if self.format == "parquet":
            self._open_parquet()
            for row in keep or []:
                self._buffer_row(self._cells(row))

    def _cells(self, row: dict[str, Any]) -> dict[str, Any]:
        return {c: _cell(c, row.get(c)) for c in self.columns}

    def _open_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        fields = []
        for c in self.columns:
            kind = pa.float64() if c in FLOAT_COLUMNS else pa.int64() if c in INT_COLUMNS else None
            fields.append(pa.field(c, kind or pa.string()))
        self._schema = pa.schema(fields)
        self._parquet = pq.ParquetWriter(self.path + ".tmp", self._schema)

    def _buffer_row(self, cells: dict[str, Any]) -> None:
        self._buffer.append(cells)
        if len(self._buffer) >= self._row_group_size:
            self._flush_row_group()

    def _flush_row_group(self) -> None:
        import pyarrow as pa

        if self._buffer:
            self._parquet.write_table(pa.Table.from_pylist(self._buffer, schema=self._schema))
            self._buffer = []

    def write(self, row: dict[str, Any]) -> None:
        """Write one row (a dict column -> value; missing columns are left empty)."""
        if self._sqlite is not None:
            self._sqlite.write(row)
            self.rows_written += 1
            return
        cells = self._cells(row)
        if self.format == "csv":
            self._csv.writerow(["" if v is None else _csv_text(v) for v in cells.values()])
        else:
            self._lines.write(_json_line(cells))
        self._lines.flush()
        if self.format == "parquet":
            self._buffer_row(cells)
        self.rows_written += 1

    def close(self) -> None:
        """Finish the file (for Parquet: last row group, footer, then drop the journal)."""
        if self._sqlite is not None:
            self._sqlite.close()
            return
        if self._lines.closed:
            return
        self._lines.close()
        if self._parquet is not None:
            self._flush_row_group()
            self._parquet.close()
            os.replace(self.path + ".tmp", self.path)
            os.remove(journal_path(self.path))

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_line(cells: dict[str, Any]) -> str:
    import json

    return json.dumps(cells, ensure_ascii=False, allow_nan=False) + "\n"


def _rewrite_lines(path: str, header: list[str] | None, rows: Iterable[dict[str, Any]]) -> Any:
    """Atomically replace ``path`` with a header (CSV) and rows; return it open to append."""
    import csv

    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n") if header is not None else None
        if writer is not None:
            writer.writerow(header)
        for cells in rows:
            if writer is not None:
                writer.writerow(["" if v is None else _csv_text(v) for v in cells.values()])
            else:
                f.write(_json_line(cells))
    os.replace(tmp, path)
    return open(path, "a", encoding="utf-8", newline="")


def _csv_text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)
