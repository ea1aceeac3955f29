"""``perceptq report``: a self-contained HTML report over result tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from perceptq.cli.common import Command

_HELP = (
    "Write one self-contained HTML report (opens offline) over RESULTS: headline figures, "
    "MOS histogram, per-group comparison (--group-by), trend over time, alert episodes, "
    "worst pairs and error rows.\n\n"
    "Exit codes: 0 written, no alert; 2 bad usage or unreadable input; "
    "3 written and at least one alert fired."
)


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(c.strip() for c in (text or "").split(",") if c.strip())


def report(
    results: Annotated[
        list[Path],
        typer.Argument(
            help="Result tables of perceptq batch, emodel or rtp (CSV, JSONL, Parquet), "
            "history databases (.sqlite) of perceptq watch or batch, or folders of them; "
            "all are concatenated.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="HTML file to write.", dir_okay=False)
    ] = Path("report.html"),
    group_by: Annotated[
        str | None,
        typer.Option("--group-by", help="Column(s) to compare, comma-separated (e.g. codec,site)."),
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option(help="Timestamp column for the trend and alerts (default: degraded_mtime)."),
    ] = None,
    worst: Annotated[int, typer.Option(help="How many of the worst pairs to list.", min=0)] = 20,
    plots: Annotated[
        Path | None,
        typer.Option(help="Folder of per-pair plots (perceptq score --plot) to link to."),
    ] = None,
    alert_below: Annotated[
        float, typer.Option(help="MOS threshold of the report and its alerts.")
    ] = 3.5,
    alert_min_count: Annotated[
        int,
        typer.Option(help="Calls of one group below the threshold that raise an alert (0: off)."),
    ] = 3,
    alert_window: Annotated[
        str, typer.Option(help="Sliding window of an alert: 90s, 15min, 1h, 2d, ...")
    ] = "1h",
    alerts_json: Annotated[
        Path | None,
        typer.Option(help="Also write the alerts as JSON to this file.", dir_okay=False),
    ] = None,
    title: Annotated[str, typer.Option(help="Title of the report.")] = "perceptq quality report",
) -> None:
    """Write one self-contained HTML report over RESULTS (see ``_HELP``)."""
    from perceptq.cli.common import EXIT_BAD_INPUT, EXIT_THRESHOLD, fail
    from perceptq.errors import PerceptqError
    from perceptq.report.html import ReportOptions, write_report

    options = ReportOptions(
        group_by=_split(group_by),
        time_column=time_column,
        threshold=alert_below,
        alert_min_count=alert_min_count,
        alert_window=alert_window,
        worst=worst,
        plots_dir=plots,
        title=title,
    )
    try:
        result = write_report(results, output, options, episodes=_episodes(results))
        if alerts_json is not None:
            text = json.dumps(result.alerts_document(options), indent=2)
            try:
                alerts_json.write_text(text + "\n", encoding="utf-8")
            except OSError as exc:
                raise fail(
                    f"cannot write alerts file '{alerts_json}': {exc.strerror or exc}"
                ) from None
    except PerceptqError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    size_kb = output.stat().st_size / 1024
    note = f"{len(result.alerts)} alert episode(s)"
    if not result.alerts_evaluated:
        note = "alerts not evaluated"
    typer.echo(f"wrote {output} ({size_kb:.0f} KB, {result.rows} rows, {note})", err=True)
    if result.alerts:
        raise typer.Exit(EXIT_THRESHOLD)


def _episodes(inputs: list[Path]) -> Any:
    """The recorded alert episodes of the history databases among ``inputs`` (or None)."""
    from perceptq.batch.sqlite_table import HistoryDatabaseError, is_sqlite_path

    databases = [p for p in inputs if p.is_file() and is_sqlite_path(p)]
    if not databases:
        return None
    import pandas as pd

    from perceptq.monitor.store import read_alerts

    try:
        return pd.concat([read_alerts(p) for p in databases], ignore_index=True)
    except HistoryDatabaseError as exc:
        from perceptq.report.html import ReportInputError

        raise ReportInputError(str(exc)) from None


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``."""
    app.command("report", help=_HELP, cls=Command)(report)
