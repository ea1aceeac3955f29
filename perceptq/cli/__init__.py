"""Command-line interface: a thin typer shell over the Python API, one module per command.

Each command module parses its options, calls the wings below (``api``, ``batch``,
``report``, ``network``), formats the answer and exits with a documented code; what they
share (exit codes, one-line errors, table writing) is in :mod:`perceptq.cli.common`. No
command imports another, and nothing in perceptq imports this package.

Exit codes: 0 success; 1 some batch items failed; 2 bad usage or unreadable input;
3 a score fell below the ``--fail-below``/alert threshold.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading

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
    """Run the CLI (the ``perceptq`` script and ``python -m perceptq``).

    Once the command has finished, the process leaves without the interpreter's teardown
    when nothing else is running, see :func:`_leave`.
    """
    # Start-up makes hundreds of thousands of long-lived objects (the modules of numpy,
    # numba, scipy, typer) that the cyclic collector would walk again and again: keep
    # what is loaded out of its way and collect young objects less often (about 0.04 s
    # of a one-pair command; long runs still collect every 10 000 allocations).
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])
    try:
        app()
    except SystemExit as exc:
        _leave(exc.code)
        raise


def _leave(code: object) -> None:
    """Exit with ``code`` at once, skipping the interpreter's teardown, when that is safe.

    Tearing down the loaded modules (numba and llvmlite's compiled code, scipy, numpy)
    takes 0.15-0.2 s of a one-pair ``perceptq score`` that otherwise takes about 0.75 s,
    and frees nothing the operating system does not free anyway. It is skipped only when
    the command is over and the process is alone: no other thread, no child process, no
    worker fork server. The exit handlers still run and stdout/stderr are flushed; every
    file a command writes is closed by the command itself. Otherwise (and for an exit
    code that is not a number) the normal exit follows.
    """
    status = 0 if code is None else code
    if not isinstance(status, int) or not _alone():
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(status & 0xFF)


def _alone() -> bool:
    """No other thread, no child process and no worker fork server in this process."""
    if threading.active_count() > 1:
        return False
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return True
    server = getattr(sys.modules.get("multiprocessing.forkserver"), "_forkserver", None)
    return not mp.active_children() and getattr(server, "_forkserver_pid", None) is None
