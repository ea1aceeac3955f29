"""Command-line interface: a thin typer shell over the Python API, one module per command.

Each command module parses its options, calls the wings below (``api``, ``batch``,
``report``, ``network``), formats the answer and exits with a documented code; what they
share (exit codes, one-line errors, table writing) is in :mod:`perceptq.cli.common`. No
command imports another, and nothing in perceptq imports this package.

Exit codes: 0 success; 1 some batch items failed; 2 bad usage or unreadable input;
3 a score fell below the ``--fail-below``/alert threshold.
"""

from __future__ import annotations

import typer

from perceptq.cli import batch, emodel, history, report, rtp, score, watch
from perceptq.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_THRESHOLD,
    Group,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_THRESHOLD", "app", "main"]

app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    help="perceptq: perceptual speech and audio quality (MOS-LQO: P.862, ViSQOL) and network "
    "MOS (G.107), for single pairs, batches, test-call monitoring and reports.",
)
for _command in (score, batch, report, emodel, rtp, watch, history):
    _command.register(app)


def main() -> None:  # pragma: no cover - console entry
    """Run the CLI."""
    app()
