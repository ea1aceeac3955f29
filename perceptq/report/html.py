"""Self-contained HTML quality report over result tables.

Reads the tables written by ``perceptq batch``, ``perceptq emodel`` and ``perceptq rtp``
(CSV, JSONL or Parquet; files or folders of them), and writes one HTML file with inline
CSS, script and PNG figures: headline figures, MOS histogram, per-group comparison, trend
over time, alert episodes, the worst pairs and the error rows. Only a ``mos`` column is
required; every other section appears when its columns exist.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd

from perceptq import __version__
from perceptq.batch.summary import below, metrics_in, summarise
from perceptq.errors import PerceptqError
from perceptq.report import sections
from perceptq.report.alerts import (
    DEFAULT_MIN_COUNT,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW,
    Alert,
    find_alerts,
    parse_window,
)
from perceptq.report.worst import worst_section

#: File suffixes read as result tables (folders are searched recursively for them).
TABLE_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json", ".parquet", ".pq", ".sqlite", ".sqlite3",
                  ".db")  # fmt: skip
#: Time column used when none is given.
DEFAULT_TIME_COLUMN = "degraded_mtime"
MOS = "mos"


class ReportInputError(PerceptqError, ValueError):
    """A results file or a report option cannot be used."""


@dataclass(frozen=True)
class ReportOptions:
    """What the report shows; see ``perceptq report --help``."""

    group_by: tuple[str, ...] = ()
    time_column: str | None = None
    threshold: float = DEFAULT_THRESHOLD
    alert_min_count: int = DEFAULT_MIN_COUNT
    alert_window: str = DEFAULT_WINDOW
    worst: int = 20
    plots_dir: Path | None = None
    title: str = "perceptq quality report"


@dataclass
class Report:
    """A built report: the HTML text and what it found."""

    html: str
    alerts: list[Alert]
    rows: int
    time_column: str | None
    alerts_evaluated: bool
    sources: list[str] = field(default_factory=list)

    def alerts_document(self, options: ReportOptions) -> dict[str, Any]:
        """The alerts as a JSON-serialisable document for other systems."""
        return {
            "generator": "perceptq report",
            "threshold": options.threshold,
            "min_count": options.alert_min_count,
            "window": options.alert_window,
            "window_seconds": parse_window(options.alert_window).total_seconds(),
            "group_by": list(options.group_by),
            "time_column": self.time_column,
            "evaluated": self.alerts_evaluated,
            "rows": self.rows,
            "sources": self.sources,
            "alerts": [a.to_dict() for a in self.alerts],
        }


# ----------------------------------------------------------------------------- input


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Files to read: each file as given, each folder's result tables (recursively)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _is_table(p))
            if not found:
                raise ReportInputError(
                    f"results folder '{path}' holds no result tables ({', '.join(TABLE_SUFFIXES)})"
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ReportInputError(f"results file '{path}' does not exist")
    return files


def _is_table(path: Path) -> bool:
    return path.suffix.lower() in TABLE_SUFFIXES and not path.name.startswith(".")


def read_table(path: Path) -> pd.DataFrame:
    """Read one result table by its extension; raise ReportInputError naming the file."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix in (".sqlite", ".sqlite3", ".db"):  # a history database: its results
            from perceptq.batch.table import read_results

            df = read_results(path)
        elif suffix in (".jsonl", ".ndjson"):
            df = pd.read_json(path, lines=True, dtype=False)
        elif suffix == ".json":
            try:
                df = pd.read_json(path, dtype=False)
            except ValueError:
                df = pd.read_json(path, lines=True, dtype=False)
        else:
            df = pd.read_csv(path, low_memory=False)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReportInputError(f"cannot read results file '{path}': {reason}") from None
    except Exception as exc:  # pyarrow and friends raise their own types
        raise ReportInputError(
            f"cannot read results file '{path}': {type(exc).__name__}: {exc}".splitlines()[0]
        ) from None
    if MOS not in df.columns:
        raise ReportInputError(
            f"results file '{path}' has no '{MOS}' column "
            f"(columns: {', '.join(map(str, df.columns)) or 'none'})"
        )
    return df


def load_results(paths: list[Path]) -> tuple[pd.DataFrame, list[str]]:
    """Read and concatenate result tables; return the table and the file names read."""
    files = expand_inputs(paths)
    frames = []
    for path in files:
        df = read_table(path)
        df["_source"] = path.name
        df["_scale"] = sections.table_scale(list(df.columns))
        if "status" not in df:  # emodel/rtp tables: a row is ok when it has a MOS
            mos = pd.to_numeric(df[MOS], errors="coerce").to_numpy(dtype=float)
            df["status"] = np.where(np.isfinite(mos), "ok", "error")
        frames.append(df)
    table = pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()
    return table, [str(p) for p in files]


def _parse_times(column: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        out = pd.to_datetime(column, utc=True)
    elif pd.api.types.is_numeric_dtype(column):  # unix seconds
        out = pd.to_datetime(column, unit="s", utc=True, errors="coerce")
    else:
        text = column.astype("string")
        out = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        retry = out.isna() & text.notna()
        if retry.any():
            out[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    return out


def _basename(column: pd.Series) -> pd.Series:
    return column.astype("string").fillna("").str.replace(r"^.*[/\\]", "", regex=True)


def _row_labels(df: pd.DataFrame) -> pd.Series:
    if "degraded" in df:
        return _basename(df["degraded"])
    if "capture" in df:
        label = _basename(df["capture"])
        if "ssrc" in df:
            label = label + " ssrc " + df["ssrc"].astype(str)
        return label
    for name in ("call_id", "call", "id", "name"):
        if name in df:
            return df[name].astype(str)
    return df["_source"].astype(str) + " row " + df.groupby("_source").cumcount().add(1).astype(str)


def prepare(df: pd.DataFrame, options: ReportOptions) -> tuple[pd.DataFrame, str | None]:
    """Add the helper columns the report uses; return the table and the time column used."""
    missing = [c for c in options.group_by if c not in df.columns]
    if missing:
        public = [str(c) for c in df.columns if not str(c).startswith("_")]
        raise ReportInputError(
            f"group-by column(s) {', '.join(map(repr, missing))} not in the results "
            f"(columns: {', '.join(public)})"
        )
    time_column = options.time_column
    if time_column is not None and time_column not in df.columns:
        raise ReportInputError(f"time column {time_column!r} not in the results")
    if time_column is None:  # a history's call time (sidecar or mtime), else the file's mtime
        time_column = next((c for c in ("call_time", DEFAULT_TIME_COLUMN) if c in df.columns),
                           None)  # fmt: skip
    df = df.copy()
    if "_source" not in df:  # a table handed over directly rather than read by load_results
        df["_source"] = "table"
    if "_scale" not in df:
        df["_scale"] = sections.table_scale(list(df.columns))
    df[MOS] = pd.to_numeric(df[MOS], errors="coerce")
    ok = np.isfinite(df[MOS].to_numpy(dtype=float))
    if "status" in df:
        ok &= (df["status"].astype(str) == "ok").to_numpy()
    else:
        df["status"] = np.where(ok, "ok", "error")
    df["_ok"] = ok
    df["_time"] = _parse_times(df[time_column]) if time_column else pd.NaT
    df["_label"] = _row_labels(df)
    df["_group"] = sections.group_labels(df, options.group_by)
    return df, time_column


# ----------------------------------------------------------------------------- build


def build_report(
    df: pd.DataFrame, options: ReportOptions, *, sources: list[str], out_dir: Path,
    episodes: pd.DataFrame | None = None,
) -> Report:  # fmt: skip
    """Build the report of a concatenated result table.

    Parameters
    ----------
    df : DataFrame
        Result rows with at least a ``mos`` column.
    options : ReportOptions
        Grouping, time column, threshold, alert rule, worst-N and plot folder.
    sources : list of str
        Names of the files read (shown in the report).
    out_dir : Path
        Folder the HTML file goes to (links to plots are relative to it).

    Raises
    ------
    ReportInputError
        A group-by or time column is missing, or an alert option is invalid.
    """
    window = parse_window(options.alert_window)  # fail early on a bad window
    metrics = metrics_in(df)
    if len(metrics) > 1 and "metric" not in options.group_by:
        raise ReportInputError(
            f"the results mix {len(metrics)} metrics ({', '.join(metrics)}) whose MOS values are "
            "not comparable: report them separately, or add --group-by metric"
        )
    if options.alert_min_count < 0:
        raise ReportInputError("--alert-min-count must be 0 (alerts off) or more")
    df, time_column = prepare(df, options)
    group_by = list(options.group_by)
    timed = df["_ok"] & df["_time"].notna()
    evaluated = options.alert_min_count > 0 and bool(timed.any())
    if options.alert_min_count == 0:
        reason = "Alerts are off (--alert-min-count 0)."
    elif time_column is None:
        reason = "No time column in the results (use --time-column); alerts need call times."
    else:
        reason = f"No scored row has a readable time in {time_column!r}."
    alerts = []
    if evaluated:
        alerts = find_alerts(
            df[timed], time_column="_time", threshold=options.threshold,
            min_count=options.alert_min_count, window=window, group_by=group_by or None,
            id_column="_label",
        )  # fmt: skip
    summary = summarise(sections.summary_frame(df))
    n_below = len(below(df, options.threshold))
    parts = [sections.histogram_section(df, options.threshold)]
    nav = [("#headline", "Summary"), ("#distribution", "Distribution")]
    if group_by:
        sets = [[c] for c in group_by] + ([group_by] if len(group_by) > 1 else [])
        for k, cols in enumerate(sets):
            anchor = f"groups-{k}"
            parts.append(sections.group_section(df, cols, options.threshold, anchor))
            nav.append((f"#{anchor}", "By " + " / ".join(cols)))
    parts.append(
        sections.trend_section(df, options.threshold, time_column, alerts, group_by=group_by)
    )
    parts.append(
        worst_section(df, options.worst, group_by, options.plots_dir, out_dir, time_column)
    )
    parts.append(sections.errors_section(df))
    nav += [("#trend", "Trend"), ("#worst", "Worst calls"), ("#errors", "Errors")]
    if episodes is not None:  # the episodes perceptq watch recorded and notified
        parts.append(sections.episodes_section(episodes))
        nav.append(("#episodes", "Recorded episodes"))
    alerts_html = sections.alerts_section(
        alerts, evaluated=evaluated, reason=reason, threshold=options.threshold,
        min_count=options.alert_min_count, window=options.alert_window,
    )  # fmt: skip
    text = _render(options, summary, n_below, alerts_html, parts, nav, sources, time_column, df)
    return Report(text, alerts, len(df), time_column, evaluated, sources)


def _render(
    options: ReportOptions, summary: dict[str, Any], n_below: int, alerts_html: str,
    parts: list[str], nav: list[tuple[str, str]], sources: list[str], time_column: str | None,
    df: pd.DataFrame,
) -> str:  # fmt: skip
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    names = ", ".join(Path(s).name for s in sources[:6]) + (" …" if len(sources) > 6 else "")
    times = df.loc[df["_time"].notna(), "_time"]
    period = ""
    if not times.empty:
        period = f" · calls from {times.min():%Y-%m-%d %H:%M} to {times.max():%Y-%m-%d %H:%M} UTC"
    subtitle = (
        f"{len(df):,} rows from {len(sources)} file(s): {html.escape(names)}{period} · "
        f"threshold {options.threshold:g} · generated {now}"
    )
    page = resources.files("perceptq.report").joinpath("templates/report.html")
    template = Template(page.read_text(encoding="utf-8"))
    return template.substitute(
        version=__version__,
        title=html.escape(options.title),
        subtitle=subtitle,
        nav="".join(f'<a href="{a}">{html.escape(t)}</a>' for a, t in nav),
        alerts=alerts_html,
        headline=sections.mixed_scales_note(df)
        + sections.headline_section(summary, n_below, options.threshold),
        sections="\n".join(p for p in parts if p),
        footer=(
            f"perceptq {__version__} · categories: Excellent ≥ 4.5, Good ≥ 4.0, Fair ≥ 3.5, "
            f"Poor ≥ 3.0, Bad &lt; 3.0 · time column: {html.escape(str(time_column))}"
        ),
    )


def write_report(
    paths: list[Path], output: Path, options: ReportOptions, *,
    episodes: pd.DataFrame | None = None,
) -> Report:  # fmt: skip
    """Read result tables, build the report and write it to ``output`` (UTF-8 HTML).

    ``episodes``: the alert episodes a history database recorded (its ``alerts`` table),
    listed in a section of their own.
    """
    df, sources = load_results(paths)
    if options.plots_dir is not None and not options.plots_dir.is_dir():
        raise ReportInputError(f"plots folder '{options.plots_dir}' does not exist")
    report = build_report(df, options, sources=sources, out_dir=output.parent,
                          episodes=episodes)  # fmt: skip
    try:
        output.write_text(report.html, encoding="utf-8")
    except OSError as exc:
        raise ReportInputError(f"cannot write report '{output}': {exc.strerror or exc}") from None
    return report
