"""The batch workers' fork server: one process that loads the model's kernels
(:mod:`perceptq.batch.preload`) and then forks every worker as a copy of itself.

:func:`start` runs it; :func:`stop` ends it. multiprocessing starts such a server as a
new interpreter, which spends its first 0.06 s or so (measured in a whole ``perceptq
batch``) starting Python and importing what the caller has already imported. Where that
is safe, :func:`start` forks it from the calling process instead (see
:data:`fork_allowed`, :func:`can_fork_here`): ``perceptq batch`` starts its workers first
thing, in a process that runs one thread and has loaded no numpy and opened no file yet.
Either way, the server is multiprocessing's own (``forkserver.main``), the workers get
:data:`WORKER_ENV` and the pools of :mod:`perceptq.batch.runner` use it the same way.

Nothing here loads numpy (see :func:`perceptq.cli.main`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from perceptq import api

#: Environment of the worker processes (where the caller has not set these itself):
#: the numerical libraries run one thread each, since the workers already use every core;
#: glibc's allocator keeps freed blocks of up to 16 MiB (and 32 MiB of free heap) instead
#: of returning them to the system after every pair, which made scoring 25-35 % faster
#: on 10 s pairs here.
WORKER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    **{k: str(v) for k, v in api.ALLOCATOR_THRESHOLDS.items()},
}
#: Whether :func:`start` may fork the server from this process (where
#: :func:`can_fork_here`). The ``perceptq`` command allows it first thing
#: (:func:`perceptq.cli.main`): it has opened no file or socket yet that the server should
#: not hold. Elsewhere the server is a new interpreter, which inherits none of the
#: caller's files (a fork would hold them open as long as it lives).
fork_allowed = False
#: What the server imports before it forks any worker.
PRELOAD = ["perceptq.batch.preload"]
#: The signals the resource tracker ignores (blocked until it does).
_TRACKER_IGNORES = (signal.SIGINT, signal.SIGTERM)


def start() -> None:
    """Start the fork server, unless this process's server is running already.

    Forked from this process when :data:`fork_allowed` and :func:`can_fork_here`, else
    started by multiprocessing (a new interpreter) with :data:`WORKER_ENV` in its
    environment.
    """
    from multiprocessing import forkserver

    if _running():
        return  # (nor is the resource tracker started here: the first pool starts it)
    if fork_allowed and can_fork_here():
        try:
            _fork_here()
            return
        except OSError:  # no process to spare for a copy: try a new interpreter
            pass
    saved = {k: os.environ.get(k) for k in WORKER_ENV}
    os.environ.update({k: WORKER_ENV[k] for k, v in saved.items() if v is None})
    try:
        forkserver.ensure_running()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


def can_fork_here() -> bool:
    """Whether the server may be started as a fork of this process.

    Only on Linux (forking after system frameworks are loaded is unsafe on macOS), in a
    process that runs a single thread (a fork copies only the calling thread: a lock
    another thread holds would stay locked in the copy), and before numpy is imported
    (its BLAS reads ``OPENBLAS_NUM_THREADS`` and the like when it loads: loaded in the
    server, after :data:`WORKER_ENV` is set, it runs the workers on one thread each).
    And only with the multiprocessing server loop this module was written for.
    """
    if sys.platform != "linux" or "numpy" in sys.modules or not _knows_server_loop():
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _knows_server_loop() -> bool:
    """Whether multiprocessing's server loop takes the arguments :func:`_serve` passes it
    (``forkserver.main(listener_fd, alive_r, preload, main_path, sys_path)``, Python
    3.10-3.13); a later one (3.14 authenticates its clients) is left to multiprocessing."""
    from multiprocessing import forkserver

    code = getattr(forkserver.main, "__code__", None)
    return (code is not None and code.co_kwonlyargcount == 0
            and code.co_varnames[: code.co_argcount]
            == ("listener_fd", "alive_r", "preload", "main_path", "sys_path"))


def stop(*, wait: bool = True) -> None:
    """End the fork server, if this process started one (a no-op otherwise).

    Asked to stop, the server would exit normally, tearing down numba's and llvmlite's
    modules (0.2 s); it has nothing to save, so it is ended at once: SIGTERM, which it
    does not handle; then multiprocessing closes our end of its pipe and reaps it (not
    yet with ``wait=False``: a later call does).
    """
    from multiprocessing import forkserver

    state = forkserver._forkserver  # the module's one server (the documented functions
    pid = state._forkserver_pid  # wrap it); its private state, as the stdlib tests use it
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait:
        state._stop()


def _running() -> bool:
    """Whether this process's fork server is running; one that has ended is forgotten
    (as ``forkserver.ensure_running`` does before it starts a new one)."""
    from multiprocessing import forkserver

    state = forkserver._forkserver
    if state._forkserver_pid is None:
        return False
    try:
        ended, _ = os.waitpid(state._forkserver_pid, os.WNOHANG)
    except ChildProcessError:  # not (or no longer) our child
        ended = state._forkserver_pid
    if not ended:
        return True
    os.close(state._forkserver_alive_fd)
    state._forkserver_address = state._forkserver_alive_fd = state._forkserver_pid = None
    return False


def _fork_here() -> None:
    """Start the fork server (and the resource tracker) as copies of this process.

    This does what ``multiprocessing.forkserver.ensure_running`` does (a listening
    socket, the "alive" pipe whose write end every client holds, the server's state)
    with :func:`os.fork` in place of a new interpreter.
    """
    from multiprocessing import connection, forkserver, util

    for stream in (sys.stdout, sys.stderr):  # no pending output copied into the children
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()
    _fork_tracker()
    with socket.socket(socket.AF_UNIX) as listener:
        address = connection.arbitrary_address("AF_UNIX")
        listener.bind(address)
        if not util.is_abstract_socket_namespace(address):
            os.chmod(address, 0o600)
        listener.listen()
        alive_r, alive_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            _serve(listener.fileno(), alive_r, alive_w)
        os.close(alive_r)
    state = forkserver._forkserver
    state._forkserver_address = address
    state._forkserver_alive_fd = alive_w
    state._forkserver_pid = pid


def _fork_tracker() -> None:
    """Start multiprocessing's resource tracker as a copy of this process, unless running.

    The tracker removes the pools' named semaphores should this process die without doing
    so; it ends when every process holding its pipe has gone. Started by multiprocessing
    (``resource_tracker.ensure_running``), it is a new interpreter, whose start-up and
    teardown (10-15 ms after this process has gone, holding stderr open meanwhile) a
    forked copy skips.
    """
    from multiprocessing import resource_tracker

    tracker = resource_tracker._resource_tracker
    if tracker._fd is not None:
        return
    r, w = os.pipe()
    # as ensure_running does: Ctrl-C or SIGTERM must not end it before it ignores them
    signal.pthread_sigmask(signal.SIG_BLOCK, _TRACKER_IGNORES)
    try:
        pid = os.fork()
        if pid == 0:

            def track() -> None:
                os.close(w)  # held by the clients only: EOF when they have all gone
                resource_tracker.main(r)

            _run_in_child(track)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _TRACKER_IGNORES)
    os.close(r)
    tracker._fd, tracker._pid = w, pid


def _serve(listener_fd: int, alive_r: int, alive_w: int) -> NoReturn:
    """The forked server: the workers' settings, then multiprocessing's server loop."""
    from multiprocessing import forkserver, resource_tracker

    def serve() -> None:
        os.close(alive_w)  # only the clients hold it: EOF tells the server they are gone
        tracker = resource_tracker._resource_tracker  # the clients pass it to each worker:
        if tracker._fd is not None:  # the server holds none, as a new interpreter would not
            os.close(tracker._fd)
            tracker._fd = tracker._pid = None
        # glibc read the environment's allocator settings when this process started:
        # set them by mallopt (the workers inherit them), then show them to the workers
        api.tune_allocator()
        os.environ.update({k: v for k, v in WORKER_ENV.items() if k not in os.environ})
        forkserver.main(listener_fd, alive_r, PRELOAD)

    _run_in_child(serve)


def _run_in_child(body: Callable[[], object]) -> NoReturn:
    """Run ``body`` in a forked child, then leave at once, never into the caller's code."""
    code = 1
    try:
        body()
        code = 0
    except SystemExit:  # how the server ends once every client has gone
        code = 0
    except KeyboardInterrupt:  # Ctrl-C while it loads: the caller stops the batch
        pass
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            sys.stderr.flush()
        os._exit(code)
