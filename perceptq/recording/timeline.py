"""Time-resolved quality: MOS per utterance (and per window or occurrence).

Per-utterance MOS: the frames of the utterance (frame start times in
[utterance start, utterance end)) are aggregated exactly like a whole file
(:func:`perceptq.p862.disturbance.aggregate`: Lp over split-second groups, then Lq over time)
with uniform time weights, the raw score is formed from the symmetric and asymmetric
disturbances and mapped to MOS-LQO with the mode's mapping. Because the whole-file score
also weights later frames more in long files and averages over the whole file, the mean
of the utterance MOS values is close to, but not the same as, the file's MOS.

Each row of ``Score.timeline`` is a dict with ``kind`` ("utterance", "window" or
"occurrence"), ``index``, ``start_s``, ``end_s``, ``delay_ms``, ``mos`` and ``category``;
utterance rows also carry ``window`` (or ``occurrence``), the index of the segment they
were scored in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from perceptq.p862 import disturbance, mapping
from perceptq.result import Utterance, category_of


def frames_mos(fd: NDArray[np.float64], fa: NDArray[np.float64], mode: str) -> float:
    """MOS-LQO of a run of weighted frame disturbances (NaN when empty)."""
    n = fd.shape[0]
    if n == 0:
        return math.nan
    tw = np.ones(n)
    d = disturbance.aggregate(fd, 0, n - 1, tw)
    a = disturbance.aggregate(fa, 0, n - 1, tw)
    return mapping.mos_lqo(mapping.raw_score(d, a), mode)


def utterance_rows(
    utterances: tuple[Utterance, ...], frame_times_s: NDArray[np.float64],
    fd: NDArray[np.float64], fa: NDArray[np.float64], mode: str, *, first_index: int = 0,
    **extra: Any,
) -> list[dict[str, Any]]:
    """One timeline row per utterance; ``extra`` items are added to every row."""
    rows = []
    for i, u in enumerate(utterances):
        sel = (frame_times_s >= u.start_s) & (frame_times_s < u.end_s)
        mos = frames_mos(fd[sel], fa[sel], mode)
        rows.append({
            "kind": "utterance", "index": first_index + i, "start_s": u.start_s,
            "end_s": u.end_s, "delay_ms": u.delay_ms, "mos": mos, "category": category_of(mos),
            **extra,
        })
    return rows


def segment_row(kind: str, index: int, start_s: float, end_s: float, mos: float,
                utterances: tuple[Utterance, ...], **extra: Any) -> dict[str, Any]:
    """Timeline row of a window or an occurrence (delay: mean of its utterances)."""
    delay = float(np.mean([u.delay_ms for u in utterances])) if utterances else math.nan
    return {"kind": kind, "index": index, "start_s": start_s, "end_s": end_s,
            "delay_ms": delay, "mos": mos, "category": category_of(mos),
            "n_utterances": len(utterances), **extra}


def format_table(timeline: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> str:
    """Plain-text table of a timeline, one line per row."""
    head = (f"{'kind':<11}{'#':>4}  {'start s':>9}  {'end s':>9}  {'delay ms':>9}  "
            f"{'MOS':>5}  category")
    lines = [head, "-" * len(head)]
    for r in timeline:
        mos = r.get("mos", math.nan)
        mos_s = f"{mos:5.2f}" if mos == mos else "    -"
        lines.append(
            f"{r['kind']:<11}{r['index']:>4}  {r['start_s']:>9.2f}  {r['end_s']:>9.2f}  "
            f"{r['delay_ms']:>9.1f}  {mos_s}  {r['category'] if mos == mos else '-'}"
        )
    return "\n".join(lines)
