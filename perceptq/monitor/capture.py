"""Packet captures dropped in the inbox: one result row per RTP stream, as ``perceptq rtp``.

Each stream gets the figures of :func:`perceptq.network.calls.analyse_calls` in ``net_*``
columns (codec, packets, lost, loss %, burst ratio, jitter, R, network MOS, its rating,
DSCP, SIP Call-ID) and ``stream`` (SSRC and direction). With a reference, the decodable
streams (:func:`perceptq.network.decode.extract_streams`) are scored like any recording,
wideband codecs with P.862.2; the perceptual MOS-LQO goes to ``mos`` and the row is built
by the batch's :func:`perceptq.batch.table.pair_row`. The network MOS never goes to
``mos``: a stream without a perceptual score has ``status`` ok and an empty ``mos``.
"""

from __future__ import annotations

import math
import tempfile
import time
from typing import Any

from perceptq.batch.runner import file_mtime
from perceptq.batch.table import PairResult, error_row, pair_row

#: Stream figures copied to the row, as ``net_<name>``.
NET_FIELDS = ("codec", "packets", "expected", "lost", "loss_pct", "burst_ratio", "jitter_ms",
              "duration_s", "r", "mos", "category", "rating", "dscp", "call_id")  # fmt: skip


def capture_rows(path: str, reference: str | None, scorer: Any = None) -> list[dict[str, Any]]:
    """Result rows of the RTP streams of the capture at ``path`` (runs in a worker).

    A capture that cannot be read, or holds no RTP stream, gives one error row.
    """
    from perceptq.errors import PerceptqError
    from perceptq.network import calls, decode
    from perceptq.network.pcap import CaptureError

    try:
        report = calls.analyse_calls(path, keep_packets=bool(reference))
    except (CaptureError, OSError) as exc:
        return [error_row(reference or "", path, " ".join(str(exc).split()), {})]
    if not report.streams:
        note = report.notes[-1] if report.notes else f"{path}: no RTP stream found"
        return [error_row(reference or "", path, note, {})]
    mtime = file_mtime(path)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        wavs = decode.extract_streams(report, tmp) if reference else {}
        for s in report.streams:
            wav = wavs.get((s.ssrc, s.src, s.dst))
            result = PairResult(0, reference or "", path, degraded_mtime=mtime)
            if reference and wav is None:
                problem = f"{path}: SSRC {s.ssrc:#010x}: {s.codec} audio cannot be decoded"
                result = PairResult(0, reference, path, degraded_mtime=mtime, error=problem)
            elif wav is not None:
                start = time.perf_counter()
                mode = "wb" if wav[2] else "nb"  # P.862.2 for wideband codecs
                try:
                    score = (scorer or _score)(reference, str(wav[0]), mode=mode)
                    result = PairResult(0, reference, path, score=score, degraded_mtime=mtime,
                                        seconds=time.perf_counter() - start)  # fmt: skip
                except PerceptqError as exc:
                    result = PairResult(0, reference, path, degraded_mtime=mtime,
                                        error=f"{path}: SSRC {s.ssrc:#010x}: {exc}")  # fmt: skip
            row = pair_row(result)
            if result.ok is False and result.error is None:  # network figures only
                row["status"] = "ok"
            row["stream"] = f"{s.ssrc:#010x} {s.src} -> {s.dst}"
            for name in NET_FIELDS:
                value = getattr(s, name)
                missing = isinstance(value, float) and math.isnan(value)
                row[f"net_{name}"] = None if missing else value
            rows.append(row)
    return rows


def _score(reference: str, wav: str, *, mode: str) -> Any:
    from perceptq import api

    return api.score(reference, wav, mode=mode)
