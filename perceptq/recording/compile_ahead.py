"""The first run ever: compile the model's kernels in a second process, ahead of need.

With numba's disk cache still empty, the first score compiles every kernel, one after the
other, in the order the pair needs them: the input checks' kernels, the model's, then
those of the diagnostics. :func:`start` forks a helper process that compiles the model's
kernels straight away, from the first one on (``p862.model.warm_up``), while this process
reads the inputs and compiles the checks' kernels; :func:`finish`, just before the model
runs, compiles the diagnostics' kernels and the three the model needs last
(``p862.model.warm_up_tail``; the helper then finds them in the cache) and waits for the
helper, so that the model loads its kernels from the cache (numba writes each cache file
whole, by rename). The two processes then have about the same compiling to do (about 3 s
each here). On two cores a first `perceptq score` of a 10 s pair takes 3.7 s (4.2-4.5 s
when the helper compiled the whole model, 6 s without a helper). Later runs find the
cache and fork nothing.

Only where forking is safe and useful: Linux (forking a process that has loaded system
frameworks is unsafe on macOS), at least two CPUs, no other thread in the process, and only
once per process.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

_started = False
_child: int | None = None
#: Longest wait for the helper (s); past it the model compiles what it still lacks itself.
WAIT_S = 120.0


def _model_cache_exists() -> bool | None:
    """Whether the model's frame-disturbance kernel (the one every pair needs) is loaded in
    this process or held by numba's cache; None when that cannot be told (numba's cache
    layout has changed)."""
    try:
        from perceptq.p862 import _kernels

        kernel = _kernels._frame_disturbance_kernel
        return bool(kernel.signatures) or os.path.exists(kernel._cache._cache_file._index_path)
    except (AttributeError, ImportError, OSError):
        return None


def _reap() -> None:
    global _child
    if _child is not None:
        try:
            done, _ = os.waitpid(_child, os.WNOHANG)
        except ChildProcessError:
            done = _child
        if done:
            _child = None


def start() -> bool:
    """Fork the compiling helper if this is the first run ever; True when it was forked."""
    global _started, _child
    _reap()
    if _started:
        return False
    _started = True
    if (not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2
            or threading.active_count() > 1 or _model_cache_exists() is not False):
        return False
    pid = os.fork()
    if pid == 0:  # the helper: compile, never return into the caller's code
        status = 0
        try:
            from perceptq.p862 import model

            model.warm_up()
        except BaseException:  # the helper's failure must not surface: the model compiles
            status = 1
        finally:
            os._exit(status)
    _child = pid
    return True


def warm_extras() -> None:
    """Compile the kernels the scoring needs after the model (band levels, block energies),
    through the same functions and array kinds as a real pair."""
    import numpy as np

    from perceptq.audio.reductions import mean_square_blocks
    from perceptq.recording.match import band_levels, frame_grid

    for fs in (8000, 16000):
        nf, _ = frame_grid(fs)
        band_levels(np.zeros(2 * nf), fs, np.zeros(1, dtype=np.int64))
        mean_square_blocks(np.zeros(4 * fs // 1000), fs // 1000)


def finish(*, extras: bool) -> None:
    """Before the model runs: if the helper is still compiling, compile here meanwhile the
    kernels needed after the model (``extras``) and those the model needs last (which the
    helper, going from the first on, then finds in the cache), then wait for the helper."""
    global _child
    if _child is None:
        return
    with contextlib.suppress(Exception):  # only a head start: the real call compiles them
        if extras:
            warm_extras()
        from perceptq.p862 import model

        model.warm_up_tail()
    deadline = time.monotonic() + WAIT_S
    while _child is not None and time.monotonic() < deadline:
        _reap()
        if _child is not None:
            time.sleep(0.005)
