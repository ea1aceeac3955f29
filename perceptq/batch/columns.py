"""The columns of a result table: names, order and which hold numbers.

A leaf module: :mod:`perceptq.batch.table` (CSV, JSONL, Parquet) and
:mod:`perceptq.batch.sqlite_table` (the SQLite history) both build on it.
"""

from __future__ import annotations

#: Columns of a result table, in order (manifest extras and diagnostics follow).
RESULT_COLUMNS: tuple[str, ...] = (
    "reference",
    "degraded",
    "status",
    "error",
    "warnings",
    "metric",
    "mode",
    "sample_rate",
    "mos",
    "raw",
    "category",
    "delay_ms",
    "n_utterances",
    "reference_unstable",
    "alignment_uncertain",
    "reference_duration_s",
    "degraded_duration_s",
    "seconds",
    "degraded_mtime",
    "folder",
)
#: Separator of the messages in the ``warnings`` column (messages may contain "; ").
WARNING_SEPARATOR = " | "
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
    "diag_reference_match",
)
#: Columns holding numbers (the others hold text).
FLOAT_COLUMNS = frozenset(
    {"mos", "raw", "delay_ms", "reference_duration_s", "degraded_duration_s", "seconds"}
) | frozenset(DIAG_COLUMNS)
INT_COLUMNS = frozenset({"sample_rate", "n_utterances"})
#: perceptq's own columns (a table may hold manifest or metadata columns beside them).
STANDARD_COLUMNS = frozenset(RESULT_COLUMNS) | frozenset(DIAG_COLUMNS)
