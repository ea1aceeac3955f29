"""Scoring many reference/degraded pairs in parallel: :func:`score_many`.

Only paths travel to the workers; each worker reads its own audio, so the calling process
never holds the signals. Results come back one per pair, in the order they finish.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import math
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from perceptq.errors import PerceptqError
from perceptq.result import Score

#: Columns of a result table, in order (manifest extras and diagnostics follow).
RESULT_COLUMNS: tuple[str, ...] = (
    "reference",
    "degraded",
    "status",
    "error",
    "mode",
    "sample_rate",
    "mos",
    "raw",
    "category",
    "delay_ms",
    "n_utterances",
    "reference_duration_s",
    "degraded_duration_s",
    "seconds",
    "degraded_mtime",
)
#: Diagnostic columns, filled from ``Score.diagnostics`` when the model reports them.
DIAG_COLUMNS: tuple[str, ...] = (
    "diag_level_diff_db",
    "diag_snr_db",
    "diag_ref_bandwidth_hz",
    "diag_deg_bandwidth_hz",
    "diag_clipping_fraction",
    "diag_dropouts",
    "diag_dropout_ms",
    "diag_delay_range_ms",
    "diag_drift_ppm",
)
#: Columns holding numbers (the others hold text).
FLOAT_COLUMNS = frozenset(
    {"mos", "raw", "delay_ms", "reference_duration_s", "degraded_duration_s", "seconds"}
) | frozenset(DIAG_COLUMNS)
INT_COLUMNS = frozenset({"sample_rate", "n_utterances"})

Scorer = Callable[..., Score]


class WorkerStartError(RuntimeError):
    """The worker processes of a batch died before returning any result."""


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
        """Return the result-table row: :data:`RESULT_COLUMNS`, metadata, then diagnostics."""
        s = self.score
        row: dict[str, Any] = {
            "reference": self.reference,
            "degraded": self.degraded,
            "status": "ok" if s is not None else "error",
            "error": self.error,
            "seconds": round(self.seconds, 4),
            "degraded_mtime": self.degraded_mtime,
        }
        row.update(dict.fromkeys(c for c in RESULT_COLUMNS if c not in row))
        if s is not None:
            row.update(
                mode=s.mode,
                sample_rate=int(s.sample_rate),
                mos=float(s.mos),
                raw=float(s.raw),
                category=s.category,
                delay_ms=float(s.mean_delay_ms),
                n_utterances=len(s.utterances),
                reference_duration_s=_duration(s.reference_info),
                degraded_duration_s=_duration(s.degraded_info),
            )
        out = {c: row[c] for c in RESULT_COLUMNS}
        out.update({k: v for k, v in self.metadata.items() if k not in out})
        out.update(_diagnostic_values(s))
        return out


def _duration(info: Any) -> float:
    return float(info.duration_s) if info is not None else math.nan


def _diagnostic_values(s: Score | None) -> dict[str, float]:
    diagnostics = (s.diagnostics if s is not None else None) or {}
    try:  # the model's own flattening of its diagnostics, when it has one
        from perceptq.diagnostics import columns as flatten
    except ImportError:
        flatten = None
    # flat numbers named like the columns, then the model's own figures
    found = {k if str(k).startswith("diag_") else f"diag_{k}": v for k, v in diagnostics.items()}
    found = {k: _number(v) for k, v in found.items()}
    if flatten is not None and any(isinstance(v, dict) for v in diagnostics.values()):
        found.update({k: _number(v) for k, v in flatten(diagnostics).items()})
    return {c: found.get(c, math.nan) for c in DIAG_COLUMNS}


def _number(value: Any) -> float:
    number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    return float(value) if number else math.nan


# --- worker side -------------------------------------------------------------------------

_warm = False


def warm_up() -> None:
    """Compile or load the model's numba kernels once in this process (no-op afterwards)."""
    global _warm
    if _warm:
        return
    _warm = True
    try:
        from perceptq import model
    except ImportError:  # the model module is not available: nothing to warm
        return
    fn = getattr(model, "warm_up", None)
    if callable(fn):
        fn()


def _worker_init(warm: bool) -> None:
    # Ctrl-C is handled by the parent, which stops the batch; workers just finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if warm:  # a broken model shows up as an error row on the first pair instead
        with contextlib.suppress(Exception):
            warm_up()


def _mtime(path: str) -> str | None:
    try:
        stamp = os.stat(path).st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _score_pair(
    index: int, reference: str, degraded: str, mode: str, capture: bool, scorer: Scorer | None
) -> PairResult:
    """Score one pair from its paths (runs in a worker)."""
    if scorer is None:
        from perceptq.api import score as scorer

        try:
            warm_up()
        except Exception:
            if not capture:
                raise
    mtime = _mtime(degraded)
    start = time.perf_counter()
    try:
        result = scorer(reference, degraded, mode=mode)
    except Exception as exc:
        if not capture:
            raise
        # perceptq's own errors name the file and the problem; others get their type too
        message = _one_line(exc)
        if not isinstance(exc, PerceptqError):
            message = f"{degraded}: {type(exc).__name__}: {message}"
        return PairResult(
            index,
            reference,
            degraded,
            error=message,
            error_type=type(exc).__name__,
            seconds=time.perf_counter() - start,
            degraded_mtime=mtime,
        )
    return PairResult(
        index,
        reference,
        degraded,
        score=result,
        seconds=time.perf_counter() - start,
        degraded_mtime=mtime,
    )


# --- parent side -------------------------------------------------------------------------


def _normalise_pair(pair: Any, index: int) -> tuple[str, str, dict[str, Any]]:
    if isinstance(pair, Mapping):
        missing = [k for k in ("reference", "degraded") if k not in pair]
        if missing:
            raise ValueError(f"pairs[{index}]: missing key(s) {', '.join(map(repr, missing))}")
        meta = {k: v for k, v in pair.items() if k not in ("reference", "degraded")}
        ref, deg = pair["reference"], pair["degraded"]
    else:
        try:
            ref, deg = pair
        except (TypeError, ValueError):
            raise ValueError(
                f"pairs[{index}]: expected (reference, degraded) or a mapping, got {pair!r}"
            ) from None
        meta = {}
    for role, value in (("reference", ref), ("degraded", deg)):
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(
                f"pairs[{index}]: {role} must be a file path, got {type(value).__name__}"
            )
    return os.fspath(ref), os.fspath(deg), meta


def default_jobs() -> int:
    """Number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _executor_width(executor: cf.Executor) -> int:
    """Number of pairs ``executor`` can run at once (its worker slots)."""
    width = getattr(executor, "_max_workers", None)
    if isinstance(width, int) and width > 0:
        return width
    client = getattr(executor, "_client", None)  # dask.distributed ClientExecutor
    if client is not None:
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:
            pass
    return default_jobs()


#: Environment of the worker processes (where the caller has not set these itself):
#: the numerical libraries run one thread each, since the workers already use every core;
#: glibc's allocator keeps freed blocks of up to 16 MiB (and 32 MiB of free heap) instead
#: of returning them to the system after every pair, which made scoring 25-35 % faster
#: on 10 s pairs here.
WORKER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_MMAP_THRESHOLD_": str(16 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(32 << 20),
}


def _start_forkserver() -> None:
    """Start the fork server (if not running) with :data:`WORKER_ENV`."""
    from multiprocessing import forkserver

    saved = {k: os.environ.get(k) for k in WORKER_ENV}
    os.environ.update({k: WORKER_ENV[k] for k, v in saved.items() if v is None})
    try:
        forkserver.ensure_running()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


def _process_pool(jobs: int, *, warm: bool = True) -> cf.ProcessPoolExecutor:
    # forkserver: children start from a clean process, not a copy of a parent that may
    # run threads (progress display, a Dask client); spawn where forkserver is missing.
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # the server imports the model once; each worker starts as a copy of it
        ctx.set_forkserver_preload(["perceptq.api", "perceptq.model"])
        _start_forkserver()
    else:  # pragma: no cover - not on Linux/macOS
        ctx = multiprocessing.get_context("spawn")
    return cf.ProcessPoolExecutor(
        max_workers=jobs, mp_context=ctx, initializer=_worker_init, initargs=(warm,)
    )


def score_many(
    pairs: Iterable[Any],
    *,
    mode: str = "auto",
    jobs: int | None = None,
    executor: cf.Executor | None = None,
    on_error: str = "record",
    _scorer: Scorer | None = None,
) -> Iterator[PairResult]:
    """Score many reference/degraded pairs, yielding one result per pair as they finish.

    Parameters
    ----------
    pairs : iterable
        ``(reference, degraded)`` path pairs, or mappings with keys ``reference``,
        ``degraded`` and any extra metadata (returned in :attr:`PairResult.metadata`).
        Consumed lazily: only a bounded number of pairs is in flight at any time.
    mode : {"auto", "nb", "wb"}
        Scoring mode, as in :func:`perceptq.score`.
    jobs : int, optional
        Worker processes. ``None`` uses every available core; ``1`` scores in this
        process. With ``executor``, it bounds the number of pairs in flight per worker
        slot instead (default: the executor's width).
    executor : concurrent.futures.Executor, optional
        Where to run the pairs, e.g. ``distributed.Client(address).get_executor()`` for
        a Dask cluster. It is not shut down here. Workers must be able to open the paths.
    on_error : {"record", "raise"}
        ``record`` turns a pair that cannot be scored into a result with ``error`` set
        and goes on; ``raise`` re-raises the first error and stops the batch.

    Yields
    ------
    PairResult
        In completion order; ``index`` gives the pair's position in ``pairs``.

    Raises
    ------
    ValueError, TypeError
        A malformed pair (not a path pair or mapping), or a bad ``on_error``/``jobs``.
    PerceptqError
        With ``on_error="raise"``, the first scoring error.

    Notes
    -----
    Each worker process loads the model's compiled kernels once (numba disk cache),
    never per pair. Closing the generator early cancels the pairs not yet started.
    """
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error={on_error!r}: expected 'record' or 'raise'")
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs={jobs!r}: expected a positive integer or None")
    capture = on_error == "record"
    if executor is None and (jobs or default_jobs()) == 1:
        yield from _score_in_process(pairs, mode, capture, _scorer)
        return
    if executor is not None:
        width = jobs or _executor_width(executor)
        yield from _score_in_pool(executor, pairs, mode, capture, _scorer, in_flight=2 * width)
        return
    warm = _scorer is None
    pools = [_process_pool(jobs or default_jobs(), warm=warm)]

    def restart() -> cf.Executor:
        pools[-1].shutdown(wait=False, cancel_futures=True)
        pools.append(_process_pool(jobs or default_jobs(), warm=warm))
        return pools[-1]

    width = jobs or default_jobs()
    try:
        yield from _score_in_pool(
            pools[0], pairs, mode, capture, _scorer, in_flight=2 * width, restart=restart
        )
    finally:
        pools[-1].shutdown(wait=False, cancel_futures=True)


def _score_in_process(
    pairs: Iterable[Any], mode: str, capture: bool, scorer: Scorer | None
) -> Iterator[PairResult]:
    for index, pair in enumerate(pairs):
        ref, deg, meta = _normalise_pair(pair, index)
        result = _score_pair(index, ref, deg, mode, capture, scorer)
        yield _with_metadata(result, meta)


def _with_metadata(result: PairResult, meta: dict[str, Any]) -> PairResult:
    if not meta:
        return result
    return PairResult(
        result.index,
        result.reference,
        result.degraded,
        metadata=meta,
        score=result.score,
        error=result.error,
        error_type=result.error_type,
        seconds=result.seconds,
        degraded_mtime=result.degraded_mtime,
    )


def _score_in_pool(
    pool: cf.Executor,
    pairs: Iterable[Any],
    mode: str,
    capture: bool,
    scorer: Scorer | None,
    *,
    in_flight: int,
    restart: Callable[[], cf.Executor] | None = None,
) -> Iterator[PairResult]:
    pending: dict[cf.Future, tuple[int, str, str, dict[str, Any]]] = {}
    source = enumerate(pairs)
    exhausted = healthy = False
    try:
        while pending or not exhausted:
            while not exhausted and len(pending) < in_flight:
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                index, pair = item
                ref, deg, meta = _normalise_pair(pair, index)
                args = (_score_pair, index, ref, deg, mode, capture, scorer)
                try:
                    future = pool.submit(*args)
                except BrokenExecutor:
                    if restart is None:
                        raise
                    # a worker process died (crash, out of memory): the pairs it took
                    # down were reported as errors; go on with a fresh pool
                    pool, healthy = restart(), False
                    future = pool.submit(*args)
                pending[future] = (index, ref, deg, meta)
            if not pending:
                break
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                index, ref, deg, meta = pending.pop(future)
                if restart is not None and not healthy and _broken(future):
                    # no worker of this pool ever returned: starting them fails
                    raise WorkerStartError(
                        f"worker processes died before returning any result "
                        f"({future.exception()}); in a script, call score_many under "
                        "'if __name__ == \"__main__\":'"
                    ) from future.exception()
                healthy = healthy or not _broken(future)
                yield _collect(future, index, ref, deg, meta, capture)
    finally:
        for future in pending:
            future.cancel()


def _broken(future: cf.Future) -> bool:
    return not future.cancelled() and isinstance(future.exception(), BrokenExecutor)


def _collect(
    future: cf.Future, index: int, ref: str, deg: str, meta: dict[str, Any], capture: bool
) -> PairResult:
    try:
        result = future.result()
    except Exception as exc:
        # the worker itself failed (process died, cluster lost it): the pair gets an error row
        if not capture:
            raise
        return PairResult(
            index,
            ref,
            deg,
            metadata=meta,
            error=f"worker failed: {_one_line(exc)}",
            error_type=type(exc).__name__,
        )
    return _with_metadata(result, meta)


# --- result tables on disk ---------------------------------------------------------------

#: Output formats by file extension.
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def table_format(path: str | os.PathLike) -> str:
    """Return ``csv``, ``jsonl`` or ``parquet`` for a result-table path.

    Raises
    ------
    ValueError
        If the extension is none of .csv, .jsonl (.ndjson) or .parquet.
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"{os.fspath(path)}: unknown output format {suffix or '(no extension)'!r}; "
            "use .csv, .jsonl or .parquet"
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
    else:
        records, columns = _read_parquet(path)
    missing = [c for c in ("reference", "degraded", "status") if c not in columns]
    if missing:
        raise ValueError(f"{path}: not a perceptq result table (no {', '.join(missing)} column)")
    return _typed_frame(records, columns)


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


class ResultWriter:
    """Write result rows to CSV, JSONL or Parquet as they arrive.

    CSV and JSONL rows are flushed one by one. Parquet rows go out in row groups; until
    the file is closed they are also kept, one flushed line each, in the journal side
    file (:func:`journal_path`), so a killed run loses nothing already scored.

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
