"""The inbox: which files are complete, what they are, and what is known about each call.

A file is complete once its size and modification time (and those of its sidecar, if
any) have stayed the same for ``settle_s`` seconds of this process's clock; a file still
being written is never handed out. Complete files are recordings (the audio extensions of
:mod:`perceptq.batch.pairing`), packet captures (``.pcap``, ``.pcapng``) or something
else, which is skipped with a reason.

Metadata of a call: fields of the ``--pattern`` (``"{site}/{trunk}/{name}.wav"``, matched
against the path relative to the inbox), then the fields of a sidecar ``NAME.json`` next
to the file, which add or override them. The call time is the sidecar's ``time`` (ISO-8601
or Unix seconds), else the file's modification time.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from perceptq.batch.pairing import AUDIO_EXTENSIONS
from perceptq.batch.sqlite_table import HistoryDatabaseError, check_column_name, parse_time

CAPTURE_EXTENSIONS = frozenset({"pcap", "pcapng"})
#: Names of files still being transferred by common tools: ignored without a log line.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", "~")


@dataclass(frozen=True)
class Arrival:
    """A complete file of the inbox, ready to be scored or skipped."""

    path: str  # the inbox joined with the relative path (written as ``degraded``)
    rel: str  # relative to the inbox, with '/' separators
    kind: str  # "audio", "capture" or "other"
    size: int
    mtime_ns: int
    metadata: dict[str, str] = field(default_factory=dict)
    call_ts: float = 0.0
    problem: str | None = None  # why it cannot be scored (then it is skipped)

    @property
    def identity(self) -> tuple[str, int, int]:
        """(absolute path, size, mtime in ns): what the database knows a file by."""
        return os.path.abspath(self.path), self.size, self.mtime_ns


class PatternError(ValueError):
    """A ``--pattern`` that cannot be used."""


class Pattern:
    """``{field}`` placeholders in a relative path, e.g. ``"{site}/{trunk}/{name}.wav"``.

    A field matches one path component or part of one (never a ``/``); ``*`` matches any
    text within a component. Every field must be a valid column name.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        parts, names = [], []
        for piece in re.split(r"(\{[^{}]*\}|\*)", text.replace("\\", "/")):
            if piece == "*":
                parts.append("[^/]*")
            elif piece.startswith("{") and piece.endswith("}"):
                name = piece[1:-1]
                try:
                    check_column_name(name)
                except HistoryDatabaseError as exc:
                    raise PatternError(f"--pattern {text!r}: {exc}") from None
                if name in names:
                    raise PatternError(f"--pattern {text!r}: field {{{name}}} appears twice")
                names.append(name)
                parts.append(f"(?P<{name}>[^/]+?)")
            elif "{" in piece or "}" in piece:
                raise PatternError(f"--pattern {text!r}: unbalanced braces")
            else:
                parts.append(re.escape(piece))
        self.fields = names
        self._regex = re.compile("^" + "".join(parts) + "$")

    def match(self, rel: str) -> dict[str, str] | None:
        """Fields of ``rel`` (relative path with '/'), or None when it does not match."""
        found = self._regex.match(rel)
        return None if found is None else dict(found.groupdict())


def _kind(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in CAPTURE_EXTENSIONS:
        return "capture"
    return "other"


def sidecar_path(path: str) -> str:
    """``dir/NAME.json`` for ``dir/NAME.ext``."""
    return os.path.splitext(path)[0] + ".json"


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return int(st.st_size), int(st.st_mtime_ns)


def read_sidecar(path: str) -> tuple[dict[str, str], float | None]:
    """Fields of a sidecar JSON object (as text) and its ``time`` in Unix seconds.

    Raises
    ------
    ValueError
        Not a JSON object, a field name that cannot be a column, or an unreadable time.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"sidecar {path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"sidecar {path}: expected a JSON object, got {type(data).__name__}")
    fields: dict[str, str] = {}
    call_ts = None
    for key, value in data.items():
        if key == "time":
            try:
                call_ts = parse_time(value)
            except ValueError as exc:
                raise ValueError(f"sidecar {path}: {exc}") from None
            continue
        try:
            check_column_name(str(key))
        except HistoryDatabaseError as exc:
            raise ValueError(f"sidecar {path}: {exc}") from None
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        else:
            text = str(value)
        fields[str(key)] = text
    return fields, call_ts


class Inbox:
    """Finds the complete files under ``root``.

    Parameters
    ----------
    root : str
        The inbox folder (walked recursively; hidden files and folders are ignored).
    settle_s : float
        Seconds a file's size and mtime (and its sidecar's) must stay unchanged.
    pattern : Pattern, optional
        Path pattern giving metadata fields; files that do not match it are skipped.
    """

    def __init__(self, root: str, *, settle_s: float, pattern: Pattern | None = None) -> None:
        self.root = root
        self.settle_s = settle_s
        self.pattern = pattern
        self._watch: dict[str, tuple[tuple, float]] = {}  # path -> (signature, since)
        self._handled: dict[str, tuple] = {}  # path -> signature handed out already
        self.folders: list[str] = []

    def _walk(self) -> list[str]:
        found, folders = [], []
        for folder, dirs, files in os.walk(self.root, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            folders.append(folder)
            for name in sorted(files):
                if name.startswith(".") or name.endswith(PARTIAL_SUFFIXES):
                    continue
                if name.lower().endswith(".json"):
                    continue  # a sidecar (read with its recording), or not ours
                found.append(os.path.join(folder, name))
        self.folders = folders
        return found

    def scan(self) -> tuple[list[Arrival], float | None]:
        """Walk the inbox once: the files that became complete since the last scan, and
        the time (monotonic clock) at which the next waiting file may be complete."""
        now = time.monotonic()
        ready: list[Arrival] = []
        next_due = None
        present = set()
        for path in self._walk():
            sig = self._signature(path)
            if sig is None:
                continue
            present.add(path)
            if self._handled.get(path) == sig:
                continue
            seen = self._watch.get(path)
            if seen is None or seen[0] != sig:
                self._watch[path] = (sig, now)
                due = now + self.settle_s
            elif now - seen[1] >= self.settle_s:
                del self._watch[path]
                ready.append(self._arrival(path, sig))
                continue
            else:
                due = seen[1] + self.settle_s
            next_due = due if next_due is None else min(next_due, due)
        for gone in [p for p in self._watch if p not in present]:
            del self._watch[gone]
        for gone in [p for p in self._handled if p not in present]:
            del self._handled[gone]
        return ready, next_due

    @property
    def waiting(self) -> int:
        """Files seen but not complete yet."""
        return len(self._watch)

    def handled(self, arrival: Arrival) -> None:
        """Do not hand ``arrival`` out again while its file (and sidecar) stay the same."""
        sig = self._signature(arrival.path)
        if sig is not None and sig[:2] == (arrival.size, arrival.mtime_ns):
            self._handled[arrival.path] = sig

    def _signature(self, path: str) -> tuple | None:
        own = _stat(path)
        if own is None:
            return None
        return (*own, _stat(sidecar_path(path)) if _kind(path) != "other" else None)

    def _arrival(self, path: str, sig: tuple) -> Arrival:
        size, mtime_ns = sig[0], sig[1]
        rel = os.path.relpath(path, self.root).replace(os.sep, "/")
        kind = _kind(path)
        base = dict(path=path, rel=rel, kind=kind, size=size, mtime_ns=mtime_ns,
                    call_ts=mtime_ns / 1e9)  # fmt: skip
        if kind == "other":
            ext = os.path.splitext(path)[1] or "(none)"
            return Arrival(**base, problem=f"not a recording or a capture (extension {ext})")
        metadata: dict[str, Any] = {}
        if self.pattern is not None:
            fields = self.pattern.match(rel)
            if fields is None:
                return Arrival(**base, problem=f"does not match --pattern {self.pattern.text!r}")
            metadata.update(fields)
        if sig[2] is not None:
            try:
                extra, call_ts = read_sidecar(sidecar_path(path))
            except ValueError as exc:
                return Arrival(**base, problem=str(exc))
            metadata.update(extra)
            if call_ts is not None:
                base["call_ts"] = call_ts
        return Arrival(**base, metadata=metadata)

