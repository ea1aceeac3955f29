"""Waking the service when the inbox changes: Linux inotify where available, else a timer.

Events only shorten the wait; what is complete is always decided by a scan
(:mod:`perceptq.monitor.inbox`), so a missed event delays a file by at most the rescan
interval and never loses it. inotify is used through the C library (``ctypes``), so no
extra package is needed; on other systems, on network shares (``--poll``) or when the
watch limit is reached the service simply polls.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import sys

_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
# IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
_MASK = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200


class Waker:
    """Wait for a change under some folders, or for a timeout.

    Parameters
    ----------
    use_events : bool
        Try inotify (Linux); False (``--poll``) always waits the full timeout.
    """

    def __init__(self, *, use_events: bool) -> None:
        self._fd = -1
        self._libc = None
        self._watched: set[str] = set()
        self._pipe = os.pipe()  # written by interrupt(), e.g. from a signal handler
        for end in self._pipe:
            os.set_blocking(end, False)
        if use_events and sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
                fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
                if fd >= 0:
                    self._libc, self._fd = libc, fd

    @property
    def kind(self) -> str:
        """``"inotify"`` or ``"poll"``."""
        return "inotify" if self._fd >= 0 else "poll"

    def watch(self, folders: list[str]) -> None:
        """Add the folders not watched yet (new subfolders appear after each scan)."""
        if self._fd < 0 or self._libc is None:
            return
        for folder in folders:
            if folder in self._watched:
                continue
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), _MASK)
            if wd < 0:  # watch limit reached or folder gone: the timer still covers it
                continue
            self._watched.add(folder)

    def wait(self, timeout_s: float) -> bool:
        """Block until an event or ``timeout_s``; True when something changed."""
        fds = [self._pipe[0]] + ([self._fd] if self._fd >= 0 else [])
        readable, _, _ = select.select(fds, [], [], max(0.0, timeout_s))
        for fd in readable:
            with contextlib.suppress(BlockingIOError, OSError):
                while os.read(fd, 65536):
                    pass
        return bool(readable)

    def interrupt(self) -> None:
        """Make a pending or the next :meth:`wait` return at once."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._pipe[1], b"!")

    def close(self) -> None:
        """Release the inotify descriptor."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        for end in self._pipe:
            with contextlib.suppress(OSError):
                os.close(end)
