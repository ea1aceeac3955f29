"""``perceptq history``: trends from the history database, per period and group.

Exit codes: 0 ok (also when no call falls in the range); 2 bad usage, or a database that
cannot be read.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from perceptq.cli.common import Command, UsageError, fail, write_table

_O = typer.Option
_HELP = "\n\n".join([
    "Print, per period and group, the calls of the history database (perceptq watch, or "
    "perceptq batch -o x.sqlite): calls, scored, errors, mean, median and 5th percentile "
    "of the MOS, and the share of scored calls below --threshold.",
    "Periods are UTC hours, days or ISO weeks (starting on Monday) of the call time. "
    "--since and --until take ISO-8601 times (a date alone is midnight UTC); --until is "
    "exclusive.",
    "Exit codes: 0 ok; 2 bad usage or an unreadable database.",
])  # fmt: skip


def _time(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    from perceptq.batch.sqlite_table import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _fmt(value: Any, spec: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return format(value, spec)


def _print(rows: list[dict[str, Any]], group_by: tuple[str, ...], threshold: float) -> None:
    header = ["period", *group_by, "calls", "scored", "errors", "mean", "median", "p5",
              f"<{threshold:g}"]  # fmt: skip
    table = [
        [r["period"], *("(none)" if r[c] is None else str(r[c]) for c in group_by),
         str(r["calls"]), str(r["scored"]), str(r["errors"]), _fmt(r["mean"], ".2f"),
         _fmt(r["median"], ".2f"), _fmt(r["p5"], ".2f"),
         _fmt(r["below"] * 100, ".1f") + ("" if math.isnan(r["below"]) else " %")]
        for r in rows
    ]  # fmt: skip
    widths = [max(len(x[i]) for x in [header, *table]) for i in range(len(header))]
    n_labels = 1 + len(group_by)
    lines = ("  ".join(c.ljust(w) if i < n_labels else c.rjust(w)
                       for i, (c, w) in enumerate(zip(line, widths, strict=True))).rstrip()
             for line in [header, *table])
    typer.echo("\n".join(lines))  # one write: a year of hours is 400 000 lines


def history(
    db: Annotated[Path, _O(help="History database.", dir_okay=False)] = Path("perceptq.sqlite"),
    group_by: Annotated[str | None, _O(help="Columns to group by, e.g. site,codec.")] = None,
    every: Annotated[str, _O(help="Period: hour, day or week.")] = "day",
    since: Annotated[str | None, _O(help="First call time (ISO-8601, inclusive).")] = None,
    until: Annotated[str | None, _O(help="Last call time (ISO-8601, exclusive).")] = None,
    threshold: Annotated[float, _O(help="MOS threshold of the 'below' share.")] = 3.5,
    as_json: Annotated[bool, _O("--json", help="Print the rows as JSON.")] = False,
    output: Annotated[
        Path | None, _O("--output", "-o", help="Write the rows to a .csv, .jsonl or .parquet.")
    ] = None,
) -> None:
    """Trends per period and group from the history database (see ``_HELP``)."""
    from perceptq.batch.sqlite_table import HistoryDatabaseError, connect
    from perceptq.monitor.history import HistoryQueryError, Query
    from perceptq.monitor.history import history as compute
    from perceptq.result import _jsonable

    groups = tuple(c.strip() for c in (group_by or "").split(",") if c.strip())
    try:
        query = Query(groups, every, _time(since, "--since"), _time(until, "--until"), threshold)
        if not math.isfinite(threshold):
            raise UsageError(f"--threshold {threshold!r}: expected a number")
        con = connect(db, create=False)
        try:
            rows = compute(con, query)
        finally:
            con.close()
        stats = ("period", "calls", "scored", "errors", "mean", "median", "p5", "below")
        if rows:  # the groups as answered (metric comes first when the database has two)
            groups = tuple(k for k in rows[0] if k not in stats)
        if output is not None:
            import pandas as pd

            write_table(pd.DataFrame(rows, columns=["period", *groups, "calls", "scored",
                        "errors", "mean", "median", "p5", "below"]), output)  # fmt: skip
    except (UsageError, HistoryQueryError, HistoryDatabaseError, FileNotFoundError,
            ValueError) as exc:  # fmt: skip
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(_jsonable(rows)))
    elif output is None:
        _print(rows, groups, threshold)


def register(app: typer.Typer) -> None:
    """Add the ``history`` command to the perceptq CLI."""
    app.command("history", help=_HELP, cls=Command)(history)
