"""Alert episodes: bursts of low-MOS calls of one group inside a sliding time window.

An episode starts when at least ``min_count`` scored calls of one group with MOS below
``threshold`` fall inside one window of length ``window``. Overlapping bursts of the same
group merge into one episode, which runs from its first to its last low call.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from perceptq.batch.summary import MISSING_LABEL
from perceptq.errors import PerceptqError

#: Default MOS below which a call counts towards an alert.
DEFAULT_THRESHOLD = 3.5
#: Default number of low calls that make an episode.
DEFAULT_MIN_COUNT = 3
#: Default sliding window.
DEFAULT_WINDOW = "1h"

_WINDOW_UNITS = {
    "s": "s", "sec": "s", "second": "s", "seconds": "s",
    "m": "min", "min": "min", "minute": "min", "minutes": "min",
    "h": "h", "hour": "h", "hours": "h",
    "d": "D", "day": "D", "days": "D",
    "w": "W", "week": "W", "weeks": "W",
}  # fmt: skip
_WINDOW_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


class AlertSpecError(PerceptqError, ValueError):
    """An alert option (window, count, threshold) cannot be used."""


def parse_window(text: str) -> pd.Timedelta:
    """Parse a window such as ``"90s"``, ``"15min"``, ``"1h"`` or ``"2d"``.

    Raises
    ------
    AlertSpecError
        When the text is not a positive number followed by s, min, h, d or w.
    """
    match = _WINDOW_RE.match(str(text).lower())
    if not match or match.group(2) not in _WINDOW_UNITS:
        raise AlertSpecError(
            f"alert window {text!r} is not a duration such as 90s, 15min, 1h or 2d"
        )
    value = float(match.group(1))
    if value <= 0:
        raise AlertSpecError(f"alert window {text!r} must be longer than zero")
    return pd.Timedelta(value, unit=_WINDOW_UNITS[match.group(2)])


@dataclass(frozen=True, slots=True)
class Alert:
    """One episode of low-MOS calls of one group.

    ``start``/``end`` are the times of the first and last low call (UTC); ``count`` the
    number of low calls in the episode and ``calls`` their identifiers (degraded file
    names, in time order).
    """

    group: dict[str, Any]
    start: pd.Timestamp
    end: pd.Timestamp
    count: int
    total: int
    min_mos: float
    median_mos: float
    threshold: float
    window: pd.Timedelta
    calls: tuple[str, ...] = field(default=())

    @property
    def group_label(self) -> str:
        """Human-readable group name ("all" without grouping)."""
        if not self.group:
            return "all"
        return ", ".join(f"{k}={MISSING_LABEL if v is None else v}" for k, v in self.group.items())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "group": {k: _plain(v) for k, v in self.group.items()},
            "group_label": self.group_label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "count_below": self.count,
            "count_total": self.total,
            "min_mos": _plain(self.min_mos),
            "median_mos": _plain(self.median_mos),
            "threshold": self.threshold,
            "window_seconds": self.window.total_seconds(),
            "calls": list(self.calls),
        }


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar: numpy scalars unwrapped, missing values and NaN as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _episodes(times_ns: np.ndarray, min_count: int, window_ns: int) -> list[tuple[int, int]]:
    """Index ranges [i, j] (inclusive) of merged bursts in sorted low-call times."""
    n = times_ns.size
    if n < min_count:
        return []
    first = np.arange(n - min_count + 1)
    last = first + min_count - 1
    hits = np.flatnonzero(times_ns[last] - times_ns[first] <= window_ns)
    out: list[tuple[int, int]] = []
    for i in hits:
        j = int(i) + min_count - 1
        if out and i <= out[-1][1]:  # shares a call with the previous burst: same episode
            out[-1] = (out[-1][0], max(out[-1][1], j))
        else:
            out.append((int(i), j))
    return out


def find_alerts(
    df: pd.DataFrame,
    *,
    time_column: str,
    threshold: float = DEFAULT_THRESHOLD,
    min_count: int = DEFAULT_MIN_COUNT,
    window: pd.Timedelta | str = DEFAULT_WINDOW,
    group_by: list[str] | None = None,
    mos_column: str = "mos",
    id_column: str | None = "degraded",
    max_calls: int = 50,
) -> list[Alert]:
    """Find episodes with at least ``min_count`` low calls of one group within ``window``.

    Parameters
    ----------
    df : DataFrame
        Scored rows only (errors already removed), with a datetime64 ``time_column``.
    time_column : str
        Column of call times (timezone-aware or naive datetimes; NaT rows are ignored).
    threshold : float
        A call is low when its MOS is strictly below this value.
    min_count : int
        Low calls needed inside one window; 0 disables alerts.
    window : Timedelta or str
        Sliding window length (a string is parsed by :func:`parse_window`).
    group_by : list of str, optional
        Columns whose combination defines a group; ``None`` treats all calls as one group.

    Returns
    -------
    list of Alert
        Episodes sorted by start time.
    """
    if isinstance(window, str):
        window = parse_window(window)
    if min_count < 0:
        raise AlertSpecError(f"alert min count {min_count!r} must be 0 (off) or more")
    if min_count == 0 or df.empty:
        return []
    group_by = list(group_by or [])
    data = df[df[time_column].notna()]
    t_all = data[time_column].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    mos_all = data[mos_column].to_numpy(dtype=float)
    ids_all = data[id_column].astype(str).to_numpy(dtype=object) if id_column in data else None
    if group_by:
        codes = data.groupby(group_by, dropna=False, sort=False).ngroup().to_numpy()
    else:
        codes = np.zeros(len(data), dtype=np.intp)
    alerts: list[Alert] = []
    window_ns = int(window.value)
    order = np.lexsort((t_all, codes))  # by group, then by time
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for rows in np.split(order, bounds):
        if rows.size == 0:
            continue
        t_group = t_all[rows]
        low = rows[mos_all[rows] < threshold]
        t_low = t_all[low]
        spans = _episodes(t_low, min_count, window_ns)
        if not spans:
            continue
        first = data.iloc[int(rows[0])]
        group = {c: _plain(first[c]) for c in group_by}
        for i, j in spans:
            part = low[i : j + 1]
            start, end = t_low[i], t_low[j]
            total = np.searchsorted(t_group, end, "right") - np.searchsorted(t_group, start, "left")
            alerts.append(
                Alert(
                    group=group,
                    start=pd.Timestamp(start, tz="UTC"),
                    end=pd.Timestamp(end, tz="UTC"),
                    count=j - i + 1,
                    total=int(total),
                    min_mos=float(mos_all[part].min()),
                    median_mos=float(np.median(mos_all[part])),
                    threshold=float(threshold),
                    window=window,
                    calls=tuple(ids_all[part[:max_calls]]) if ids_all is not None else (),
                )
            )
    alerts.sort(key=lambda a: (a.start, a.group_label))
    return alerts
