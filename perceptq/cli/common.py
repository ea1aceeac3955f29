"""What every command shares: exit codes, the error console, one-line failures, the
``--mode`` choice and writing a result table. Commands import this module, never each
other."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_SOME_FAILED, EXIT_BAD_INPUT, EXIT_THRESHOLD = 0, 1, 2, 3


class Mode(str, Enum):
    """Scoring mode."""

    auto = "auto"
    nb = "nb"
    wb = "wb"


class UsageError(ValueError):
    """Bad option or unreadable input (exit 2)."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print one error line on stderr and return the Exit to raise."""
    err_console.print(f"perceptq: error: {message}", markup=False)
    return typer.Exit(code)


def write_table(df: Any, output: Path | None) -> None:
    """Write a DataFrame as CSV to stdout, or to ``output`` in the format of its extension."""
    if output is None:
        typer.echo(df.to_csv(index=False), nl=False)
        return
    from perceptq.batch.table import table_format

    fmt = table_format(output)
    try:
        if fmt == "csv":
            df.to_csv(output, index=False)
        elif fmt == "jsonl":
            df.to_json(output, orient="records", lines=True)
        else:
            df.to_parquet(output, index=False)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write output ({exc.strerror or exc})") from None
