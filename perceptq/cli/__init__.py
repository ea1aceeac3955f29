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
import functools
import gc
import os
import sys
import threading
from typing import Any

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_THRESHOLD", "app", "main"]

HELP = (
    "perceptq: perceptual speech and audio quality (MOS-LQO: P.862, ViSQOL) and network "
    "MOS (G.107), for single pairs, batches, test-call monitoring and reports."
)


@functools.cache
def _app() -> Any:
    """The typer application with every command (imported here, on first use)."""
    import typer

    from perceptq.cli import batch, emodel, history, report, rtp, score, watch
    from perceptq.cli.common import Group

    app = typer.Typer(
        cls=Group,
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=False,
        help=HELP,
    )
    for command in (score, batch, report, emodel, rtp, watch, history):
        command.register(app)
    return app


def __getattr__(name: str) -> Any:
    """``app`` and the exit codes, loaded on first use.

    Importing this package stays cheap (no typer, no command modules): batch workers
    started from the ``perceptq`` script import it again (multiprocessing re-runs a
    script's ``__main__`` in each new process), and :func:`main` starts a batch's
    workers before it loads the command line.
    """
    if name == "app":
        return _app()
    if name in __all__ and name.startswith("EXIT_"):
        from perceptq.cli import common

        return getattr(common, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:  # pragma: no cover - console entry
    """Run the CLI (the ``perceptq`` script and ``python -m perceptq``).

    Once the command has finished, the process leaves without the interpreter's teardown
    when nothing else is running, see :func:`_leave`.
    """
    # Start-up makes hundreds of thousands of long-lived objects (the modules of numpy,
    # numba, scipy, typer) that the cyclic collector would walk again and again: keep
    # what is loaded out of its way and collect young objects less often (about 0.04 s
    # of a one-pair command; long runs still collect every 10 000 allocations).
    gc.set_threshold(10_000, *gc.get_threshold()[1:])
    early = _start_batch_workers(sys.argv[1:])
    app = _app()
    gc.freeze()
    try:
        app()
    except SystemExit as exc:
        if early:  # a usage error may have ended the command before it could stop them
            from perceptq.batch.runner import stop_workers

            stop_workers()
        _leave(exc.code)
        raise


def _start_batch_workers(argv: list[str]) -> bool:
    """For ``perceptq batch`` on worker processes, start their fork server first thing.

    The server loads the model's compiled kernels (about 0.5 s) before the first worker
    can start. Started here, before typer is even imported, that load runs on another
    core while this process builds the command line, parses it and reads the inputs
    (0.3-0.5 s) instead of after them. Only the plain cases are recognised from the raw
    arguments: ``batch`` first, no ``--help`` or ``--scheduler``, ``--jobs`` absent or a
    number above 1. Otherwise nothing starts here (the command starts the server itself
    when it needs one). Returns True when it started the server.
    """
    if argv[:1] != ["batch"]:
        return False
    jobs: int | None = None
    for i, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name in ("--help", "--scheduler"):
            return False
        if name == "--jobs":
            value = value or (argv[i + 1] if i + 1 < len(argv) else "")
            if not value.isdigit() or int(value) < 2:
                return False
            jobs = int(value)
    from perceptq.batch import server
    from perceptq.batch.runner import default_jobs, start_workers_early

    if (jobs or default_jobs()) < 2:
        return False
    server.fork_allowed = True  # a fresh command: nothing open that the server must not hold
    start_workers_early(jobs)
    return True


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
