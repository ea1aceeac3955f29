"""Command-line interface: a thin typer shell over the Python API.

Exit codes: 0 success; 1 some batch items failed; 2 bad usage or unreadable input;
3 a score fell below the ``--fail-below``/alert threshold.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from perceptq import api
from perceptq.errors import PerceptqError

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    help="perceptq: perceptual speech quality (MOS-LQO) and network MOS.",
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_SOME_FAILED, EXIT_BAD_INPUT, EXIT_THRESHOLD = 0, 1, 2, 3


class Mode(str, Enum):
    """Scoring mode."""

    auto = "auto"
    nb = "nb"
    wb = "wb"


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print one error line on stderr and return the Exit to raise."""
    err_console.print(f"perceptq: error: {message}", markup=False)
    return typer.Exit(code)


@app.command()
def score(
    reference: Annotated[Path, typer.Argument(help="Reference (clean source) audio file.")],
    degraded: Annotated[Path, typer.Argument(help="Degraded audio file to judge.")],
    mode: Annotated[Mode, typer.Option(help="nb, wb, or auto (wb when rate >= 16 kHz).")] = Mode.auto,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
) -> None:
    """Score DEGRADED against REFERENCE and print MOS-LQO, its label, raw score and delays."""
    try:
        result = api.score(reference, degraded, mode=mode.value)
    except PerceptqError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    typer.echo(f"MOS-LQO   {result.mos:.3f}  ({result.category})")
    typer.echo(f"raw       {result.raw:.3f}")
    typer.echo(f"mode      {result.mode} @ {result.sample_rate} Hz")
    delays = ", ".join(f"{u.delay_ms:.1f}" for u in result.utterances)
    typer.echo(f"delay ms  {delays}  ({len(result.utterances)} utterance(s))")
    for w in result.warnings:
        err_console.print(f"perceptq: warning: {w}", markup=False)


# Sub-commands that live in their own modules register here (one line each).
from perceptq.cli_batch import register as _r_batch; _r_batch(app)  # noqa: E402, E702, I001
from perceptq.cli_report import register as _r_report; _r_report(app)  # noqa: E402, E702, I001
from perceptq.cli_network import register as _r_network; _r_network(app)  # noqa: E402, E702, I001


def main() -> None:  # pragma: no cover - console entry
    """Run the CLI."""
    app()
