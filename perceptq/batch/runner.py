"""Scoring many reference/degraded pairs in parallel: :func:`score_many`.

Only paths travel to the workers; each worker reads its own audio, so the calling process
never holds the signals. Results come back one per pair, in the order they finish.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import BrokenExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from perceptq import api
from perceptq.batch import server
from perceptq.batch.server import WORKER_ENV as WORKER_ENV
from perceptq.batch.table import PairResult
from perceptq.errors import PerceptqError

if TYPE_CHECKING:
    from perceptq.result import Score

# nothing imported above loads numpy: perceptq.cli starts the workers' fork server with
# this module before anything else (see perceptq.cli._start_batch_workers)
Scorer = Callable[..., "Score"]


class WorkerStartError(RuntimeError):
    """The worker processes of a batch died before returning any result."""


# --- worker side -------------------------------------------------------------------------

_warm = False


def warm_up() -> None:
    """Compile or load the model's numba kernels once in this process (no-op afterwards)."""
    global _warm
    if _warm:
        return
    _warm = True
    api.warm_up()


def _worker_init(warm: bool) -> None:
    # Ctrl-C is handled by the parent, which stops the batch; workers just finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if warm:  # a broken model shows up as an error row on the first pair instead
        with contextlib.suppress(Exception):
            warm_up()


def _mtime(path: str) -> str | None:
    try:
        stamp = os.stat(path).st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _score_pair(
    index: int, reference: str, degraded: str, opts: dict[str, str], capture: bool,
    scorer: Scorer | None
) -> PairResult:
    """Score one pair from its paths (runs in a worker)."""
    if scorer is None:
        from perceptq.api import score as scorer

        try:
            warm_up()
        except Exception:
            if not capture:
                raise
    mtime = _mtime(degraded)
    start = time.perf_counter()
    try:
        result = scorer(reference, degraded, **opts)
    except Exception as exc:
        if not capture:
            raise
        # perceptq's own errors name the file and the problem; others get their type too
        message = _one_line(exc)
        if not isinstance(exc, PerceptqError):
            message = f"{degraded}: {type(exc).__name__}: {message}"
        return PairResult(
            index,
            reference,
            degraded,
            error=message,
            error_type=type(exc).__name__,
            seconds=time.perf_counter() - start,
            degraded_mtime=mtime,
        )
    return PairResult(
        index,
        reference,
        degraded,
        score=result,
        seconds=time.perf_counter() - start,
        degraded_mtime=mtime,
    )


# --- parent side -------------------------------------------------------------------------


def _normalise_pair(pair: Any, index: int) -> tuple[str, str, dict[str, Any]]:
    if isinstance(pair, Mapping):
        missing = [k for k in ("reference", "degraded") if k not in pair]
        if missing:
            raise ValueError(f"pairs[{index}]: missing key(s) {', '.join(map(repr, missing))}")
        meta = {k: v for k, v in pair.items() if k not in ("reference", "degraded")}
        ref, deg = pair["reference"], pair["degraded"]
    else:
        try:
            ref, deg = pair
        except (TypeError, ValueError):
            raise ValueError(
                f"pairs[{index}]: expected (reference, degraded) or a mapping, got {pair!r}"
            ) from None
        meta = {}
    for role, value in (("reference", ref), ("degraded", deg)):
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(
                f"pairs[{index}]: {role} must be a file path, got {type(value).__name__}"
            )
    return os.fspath(ref), os.fspath(deg), meta


def default_jobs() -> int:
    """Number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _executor_width(executor: cf.Executor) -> int:
    """Number of pairs ``executor`` can run at once (its worker slots)."""
    width = getattr(executor, "_max_workers", None)
    if isinstance(width, int) and width > 0:
        return width
    client = getattr(executor, "_client", None)  # dask.distributed ClientExecutor
    if client is not None:
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:
            pass
    return default_jobs()


def _worker_context() -> multiprocessing.context.BaseContext:
    # forkserver: children start from a clean process, not a copy of a parent that may
    # run threads (progress display, a Dask client); spawn where forkserver is missing.
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # the server loads the model's kernels once; each worker starts as a copy of it
        ctx.set_forkserver_preload(server.PRELOAD)
        server.start()
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - not on Linux/macOS


def start_workers_early(jobs: int | None) -> None:
    """Start loading the worker processes' model now, in the background.

    With more than one job, :func:`score_many` forks its workers from a server process
    that first loads the model's compiled kernels (about 0.5 s). Calling this before
    the caller's own set-up (reading a manifest, importing pandas, opening the output)
    lets that load run on another core meanwhile; :func:`score_many` then finds the
    server running. Nothing is started for one job.
    """
    if (jobs or default_jobs()) > 1:
        _worker_context()


def stop_workers(*, wait: bool = True) -> None:
    """Stop the workers' fork server, if this process started one (a no-op otherwise).

    The server otherwise lives as long as this process, so that later batches start
    their workers at once. A command that has finished its batch stops it: then nothing
    outlives the command (the server holds its stderr open; a caller that reads that
    waits for it) and the command can leave without the interpreter's teardown
    (:func:`perceptq.cli.main`). Call it only when the pools are shut down: workers
    still running would be left without their server. With ``wait=False`` the server is
    told to end and left to do so while the caller goes on; a later call reaps it.
    """
    server.stop(wait=wait)


def _process_pool(jobs: int, *, warm: bool = True) -> cf.ProcessPoolExecutor:
    ctx = _worker_context()
    return cf.ProcessPoolExecutor(
        max_workers=jobs, mp_context=ctx, initializer=_worker_init, initargs=(warm,)
    )


def score_many(
    pairs: Iterable[Any],
    *,
    mode: str = "auto",
    metric: str = "p862",
    jobs: int | None = None,
    executor: cf.Executor | None = None,
    on_error: str = "record",
    alignment: str = "reference",
    _scorer: Scorer | None = None,
) -> Iterator[PairResult]:
    """Score many reference/degraded pairs, yielding one result per pair as they finish.

    Parameters
    ----------
    pairs : iterable
        ``(reference, degraded)`` path pairs, or mappings with keys ``reference``,
        ``degraded`` and any extra metadata (returned in :attr:`PairResult.metadata`).
        Consumed lazily: only a bounded number of pairs is in flight at any time.
    mode : {"auto", "nb", "wb"} or, for ViSQOL, {"auto", "audio", "speech"}
        Scoring mode, as in :func:`perceptq.score`.
    metric : {"p862", "visqol"}
        The model, as in :func:`perceptq.score` (the default is not passed on, so a
        scorer written for P.862 alone keeps working).
    jobs : int, optional
        Worker processes. ``None`` uses every available core; ``1`` scores in this
        process. With ``executor``, it bounds the number of pairs in flight per worker
        slot instead (default: the executor's width).
    executor : concurrent.futures.Executor, optional
        Where to run the pairs, e.g. ``distributed.Client(address).get_executor()`` for
        a Dask cluster. It is not shut down here. Workers must be able to open the paths.
    on_error : {"record", "raise"}
        ``record`` turns a pair that cannot be scored into a result with ``error`` set
        and goes on; ``raise`` re-raises the first error and stops the batch.
    alignment : {"reference", "stable"}
        Utterance splitting, as in :func:`perceptq.score`.

    Yields
    ------
    PairResult
        In completion order; ``index`` gives the pair's position in ``pairs``.

    Raises
    ------
    ValueError, TypeError
        A malformed pair (not a path pair or mapping), or a bad ``on_error``/``jobs``.
    PerceptqError
        With ``on_error="raise"``, the first scoring error.

    Notes
    -----
    Each worker process loads the model's compiled kernels once (numba disk cache),
    never per pair. Closing the generator early cancels the pairs not yet started.
    """
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error={on_error!r}: expected 'record' or 'raise'")
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs={jobs!r}: expected a positive integer or None")
    if metric not in ("p862", "visqol"):
        raise ValueError(f"metric={metric!r}: expected 'p862' or 'visqol'")
    capture = on_error == "record"
    opts = {"mode": mode} if metric == "p862" else {"mode": mode, "metric": metric}
    if alignment not in ("reference", "stable"):
        raise ValueError(f"alignment={alignment!r}: expected 'reference' or 'stable'")
    if alignment != "reference":  # not passed by default: scorers without it keep working
        opts["alignment"] = alignment
    if executor is None and (jobs or default_jobs()) == 1:
        yield from _score_in_process(pairs, opts, capture, _scorer)
        return
    if executor is not None:
        width = jobs or _executor_width(executor)
        yield from _score_in_pool(executor, pairs, opts, capture, _scorer, in_flight=2 * width)
        return
    warm = _scorer is None
    pools = [_process_pool(jobs or default_jobs(), warm=warm)]

    def restart() -> cf.Executor:
        pools[-1].shutdown(wait=False, cancel_futures=True)
        pools.append(_process_pool(jobs or default_jobs(), warm=warm))
        return pools[-1]

    width = jobs or default_jobs()
    finished = False
    try:
        yield from _score_in_pool(
            pools[0], pairs, opts, capture, _scorer, in_flight=2 * width, restart=restart
        )
        finished = True
    finally:
        # after the last pair the workers are idle: wait the few ms they take to exit, so
        # none outlives the batch; closed early (Ctrl-C, an error), do not wait for them
        pools[-1].shutdown(wait=finished, cancel_futures=True)


def _score_in_process(
    pairs: Iterable[Any], opts: dict[str, str], capture: bool, scorer: Scorer | None
) -> Iterator[PairResult]:
    for index, pair in enumerate(pairs):
        ref, deg, meta = _normalise_pair(pair, index)
        result = _score_pair(index, ref, deg, opts, capture, scorer)
        yield _with_metadata(result, meta)


def _with_metadata(result: PairResult, meta: dict[str, Any]) -> PairResult:
    return dataclasses.replace(result, metadata=meta) if meta else result


def _score_in_pool(
    pool: cf.Executor,
    pairs: Iterable[Any],
    opts: dict[str, str],
    capture: bool,
    scorer: Scorer | None,
    *,
    in_flight: int,
    restart: Callable[[], cf.Executor] | None = None,
) -> Iterator[PairResult]:
    """Score pairs on ``pool`` with at most ``in_flight`` futures pending.

    With ``restart``, a worker that dies (crash, out of memory) takes its pool down: the
    pool is replaced as soon as that is seen, and every pair the dead pool failed gets one
    more try in the new pool; a pair that fails that way twice gets an error row.
    """
    pending: dict[cf.Future, tuple[int, str, str, dict[str, Any]]] = {}
    pool_of: dict[cf.Future, cf.Executor] = {}
    retried: set[int] = set()
    first_pool = pool
    source = enumerate(pairs)
    exhausted = any_result = False

    def submit(index: int, ref: str, deg: str, meta: dict[str, Any]) -> None:
        nonlocal pool
        args = (_score_pair, index, ref, deg, opts, capture, scorer)
        try:
            future = pool.submit(*args)
        except BrokenExecutor:
            if restart is None:
                raise
            pool = restart()
            future = pool.submit(*args)
        pending[future] = (index, ref, deg, meta)
        pool_of[future] = pool

    try:
        while pending or not exhausted:
            while not exhausted and len(pending) < in_flight:
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                index, pair = item
                submit(index, *_normalise_pair(pair, index))
            if not pending:
                break
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f][0]):
                index, ref, deg, meta = pending.pop(future)
                owner = pool_of.pop(future)
                if restart is not None and _broken(future):
                    if not any_result and owner is first_pool:
                        # no worker of the first pool ever returned: starting them fails
                        raise WorkerStartError(
                            f"worker processes died before returning any result "
                            f"({future.exception()}); in a script, call score_many under "
                            "'if __name__ == \"__main__\":'"
                        ) from future.exception()
                    if owner is pool:
                        pool = restart()
                    if index not in retried:
                        retried.add(index)
                        submit(index, ref, deg, meta)
                        continue
                any_result = any_result or not _broken(future)
                yield _collect(future, index, ref, deg, meta, capture)
    finally:
        for future in pending:
            future.cancel()


def _broken(future: cf.Future) -> bool:
    return not future.cancelled() and isinstance(future.exception(), BrokenExecutor)


def _collect(
    future: cf.Future, index: int, ref: str, deg: str, meta: dict[str, Any], capture: bool
) -> PairResult:
    try:
        result = future.result()
    except Exception as exc:
        # the worker itself failed (process died, cluster lost it): the pair gets an error row
        if not capture:
            raise
        return PairResult(
            index,
            ref,
            deg,
            metadata=meta,
            error=f"worker failed: {_one_line(exc)}",
            error_type=type(exc).__name__,
        )
    return _with_metadata(result, meta)


def worker_pool(jobs: int) -> cf.ProcessPoolExecutor:
    """A pool of :func:`score_many`'s worker processes (warmed model, worker environment),
    for a caller that scores many small batches: pass it as ``executor``."""
    return _process_pool(jobs)


def file_mtime(path: str) -> str | None:
    """Modification time of a file as result rows give it (ISO-8601 UTC), or None."""
    return _mtime(path)
