"""What every command shares: exit codes, the error console, one-line failures, the
``--mode`` choice and writing a result table. Commands import this module, never each
other."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_SOME_FAILED, EXIT_BAD_INPUT, EXIT_THRESHOLD = 0, 1, 2, 3


class Mode(str, Enum):
    """Scoring mode."""

    auto = "auto"
    nb = "nb"
    wb = "wb"
    audio = "audio"
    speech = "speech"


class Metric(str, Enum):
    """Quality model."""

    p862 = "p862"
    visqol = "visqol"


class Alignment(str, Enum):
    """Utterance splitting: as the ITU reference does it, or rounding-independent."""

    reference = "reference"
    stable = "stable"


ALIGNMENT_HELP = ("reference: split utterances as the ITU reference does (agrees with it); "
                  "stable: as the standard's text describes, independent of rounding.")


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


class Command(TyperCommand):
    """A typer command whose help reads like a manual page.

    typer prints each parameter's Python type: ``<bool>`` beside flags, which take no
    value, ``<list[Path]>`` for an argument given several times, and required arguments as
    ``{name}`` in the usage line. Here arguments are named in capitals as the help texts
    call them (``REFERENCE``, ``[REF_DIR]``, ``RESULTS...``), flags show no type and
    repeated arguments show their element type once, followed by ``...``.
    """

    def get_params(self, ctx: Any) -> list[Any]:
        """The parameters (help option included), tidied for the help page."""
        params = super().get_params(ctx)
        for param in params:
            _tidy(param)
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """``[OPTIONS] REFERENCE DEGRADED``, optional arguments in brackets."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = str(param.metavar)
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class Group(TyperGroup):
    """The top-level ``perceptq`` group, its options shown as the commands show theirs."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The group's own parameters (``--help``), tidied like a command's."""
        params = super().get_params(ctx)
        for param in params:
            _tidy(param)
        return params


def _tidy(param: Any) -> None:
    if getattr(param, "_perceptq_tidy", False):
        return
    param._perceptq_tidy = True
    if isinstance(param, TyperArgument) and param.metavar is None:
        param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
    if isinstance(param, TyperOption) and param.is_flag:
        param.metavar = ""  # a flag takes no value: show no type
        return
    shown = param.display_type_rich  # e.g. <list[Path]>: show <path> (and ... on arguments)
    more = "..." if isinstance(param, TyperArgument) and param.nargs != 1 else ""

    def display_type_rich(ctx: Any) -> str | None:
        text = shown(ctx)
        if text is None or not _LIST_TYPE.fullmatch(text):
            return text
        return f"<{_LIST_TYPE.fullmatch(text).group(1).lower()}>{more}"

    param.display_type_rich = display_type_rich


_LIST_TYPE = re.compile(r"<list\[(\w+)\]>(?:\.\.\.)?")
