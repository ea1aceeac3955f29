"""RTP streams in packet captures: loss, burst ratio, jitter, network MOS, G.711 audio.

Finds the RTP streams of a capture (one per SSRC and direction; read by
:mod:`perceptq.network.pcap`) on the given UDP ports or by a heuristic, and reports per stream
what RTCP receiver statistics and the E-model (:mod:`perceptq.network.emodel`) make of it.

Per stream, in capture (arrival) order:

* sequence numbers are extended over the 16-bit wrap (each relative to the previous
  arrival), a repeated extended number is a duplicate and is ignored afterwards, and a
  number lower than the highest seen so far counts as reordered;
* expected = highest − lowest extended sequence number + 1, lost = expected − received
  (unique packets); the burst ratio comes from the loss pattern over that range
  (Gilbert model, :func:`perceptq.network.transport.gilbert_from_pattern`);
* jitter is the RFC 3550 §6.4.1 interarrival jitter J (J += (|D| − J)/16 with D the
  transit-time difference of consecutive arrivals in timestamp units of the codec's clock);
  ``jitter_ms`` is the mean of the running J over the stream, ``jitter_max_ms`` its maximum;
* the E-model gets the loss pattern, ``jitter_ms`` and the packet interval (median
  timestamp step); the one-way network delay is unknown in a capture and taken as
  ``delay_ms`` (default 0).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from perceptq.network import g711
from perceptq.network.codecs import get_codec
from perceptq.network.emodel import EModelError

# capture reading and writing live in perceptq.network.pcap; these names stay importable from here
from perceptq.network.pcap import CaptureError as CaptureError
from perceptq.network.pcap import RawCapture as RawCapture
from perceptq.network.pcap import RtpPacket as RtpPacket
from perceptq.network.pcap import StreamKey as StreamKey
from perceptq.network.pcap import parse_rtp as parse_rtp
from perceptq.network.pcap import read_capture as read_capture
from perceptq.network.pcap import write_capture as write_capture
from perceptq.network.transport import gilbert_from_pattern, rate_network
from perceptq.result import category_of

#: Streams with fewer packets than this are reported as too short, not analysed.
MIN_PACKETS = 10


@dataclass(frozen=True, slots=True)
class PayloadType:
    """What an RTP payload type carries: name, RTP clock rate, E-model codec, G.711 law."""

    name: str
    clock_rate: int
    emodel_codec: str | None
    law: str | None = None


#: Static payload types of RFC 3551 that perceptq knows. G.729 is rated as G.729A (the
#: codec table has no packet-loss robustness for plain G.729); GSM-FR and G.722 have no
#: narrowband E-model parameters in the table.
STATIC_PAYLOAD_TYPES: dict[int, PayloadType] = {
    0: PayloadType("PCMU", 8000, "g711", "ulaw"),
    3: PayloadType("GSM", 8000, None),
    8: PayloadType("PCMA", 8000, "g711", "alaw"),
    9: PayloadType("G722", 8000, None),
    18: PayloadType("G729", 8000, "g729a"),
}
_BY_NAME = {pt.name.lower(): pt for pt in STATIC_PAYLOAD_TYPES.values()}


def parse_payload_type(spec: str) -> tuple[int, PayloadType]:
    """Parse ``N=codec`` or ``N=codec/clock`` (e.g. ``96=pcmu``, ``97=g729a/8000``)."""
    try:
        num_s, codec = spec.split("=", 1)
        num = int(num_s)
    except ValueError:
        raise CaptureError(f"payload type {spec!r}: expected N=codec, e.g. 96=pcmu") from None
    if not 0 <= num <= 127:
        raise CaptureError(f"payload type {spec!r}: N must be 0 … 127")
    name, _, clock_s = codec.strip().partition("/")
    clock = 8000
    if clock_s:
        try:
            clock = int(clock_s)
        except ValueError:
            raise CaptureError(f"payload type {spec!r}: clock rate must be an integer") from None
    key = name.lower()
    if key in _BY_NAME:
        base = _BY_NAME[key]
        return num, PayloadType(
            base.name, clock if clock_s else base.clock_rate, base.emodel_codec, base.law
        )
    try:
        info = get_codec(name)
    except EModelError as exc:
        known = ", ".join(sorted(_BY_NAME))
        raise CaptureError(f"payload type {spec!r}: {exc}; RTP names: {known}") from None
    return num, PayloadType(name.upper(), clock, info.name)


# --- per-stream statistics ---------------------------------------------------------------------


def _unwrap(values: NDArray[np.int64], bits: int) -> NDArray[np.int64]:
    """Extend wrapping counters, each step taken as the shortest signed difference."""
    half, mod = 1 << (bits - 1), 1 << bits
    steps = (np.diff(values) + half) % mod - half
    return values[0] + np.concatenate([[0], np.cumsum(steps)])


def _looks_like_rtp(packets: list[RtpPacket]) -> bool:
    """Heuristic: one dominant payload type and sequence numbers that mostly step forward."""
    if len(packets) < 2:
        return False
    pts = Counter(p.payload_type for p in packets)
    if pts.most_common(1)[0][1] < 0.9 * len(packets):
        return False
    seq = np.array([p.seq for p in packets], dtype=np.int64)
    steps = (np.diff(seq) + 0x8000) % 0x10000 - 0x8000
    return bool(np.mean((steps >= 1) & (steps <= 100)) >= 0.8)


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Receiver statistics and network MOS of one RTP stream (see the module docstring)."""

    capture: str
    ssrc: int
    src: str
    dst: str
    payload_type: int
    codec: str
    packets: int
    expected: int
    lost: int
    loss_pct: float
    burst_ratio: float
    jitter_ms: float
    duration_s: float
    r: float
    mos: float
    category: str
    duplicates: int = 0
    reordered: int = 0
    packet_ms: float = math.nan
    jitter_max_ms: float = math.nan
    note: str = ""
    perceptual_mos: float = math.nan

    def to_row(self) -> dict[str, Any]:
        """Row of a stream table (schema column order, then the extra columns)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class _Ordered:
    """Unique packets of a stream in sequence order, with extended numbers."""

    packets: list[RtpPacket]
    ext_seq: NDArray[np.int64]
    ext_ts: NDArray[np.int64]


def _order(packets: list[RtpPacket]) -> tuple[_Ordered, NDArray[np.intp], NDArray[np.int64]]:
    seq = _unwrap(np.array([p.seq for p in packets], dtype=np.int64), 16)
    ts = _unwrap(np.array([p.timestamp for p in packets], dtype=np.int64), 32)
    _, first = np.unique(seq, return_index=True)  # first arrival of each number, by number
    ordered = _Ordered([packets[i] for i in first], seq[first], ts[first])
    return ordered, np.sort(first), seq


def analyse_stream(
    packets: list[RtpPacket],
    *,
    payload_types: dict[int, PayloadType] | None = None,
    capture: str = "",
    delay_ms: float = 0.0,
) -> StreamStats:
    """Statistics and E-model rating of one stream (packets in arrival order)."""
    pts = {**STATIC_PAYLOAD_TYPES, **(payload_types or {})}
    pt = Counter(p.payload_type for p in packets).most_common(1)[0][0]
    info = pts.get(pt)
    clock = info.clock_rate if info else 8000
    ordered, arrival_idx, ext_seq = _order(packets)
    seq_u = ext_seq[arrival_idx]  # unique packets in arrival order
    received = len(seq_u)
    expected = int(seq_u.max() - seq_u.min() + 1)
    lost_mask = np.ones(expected, dtype=bool)
    lost_mask[seq_u - seq_u.min()] = False
    reordered = int(np.sum(seq_u[1:] < np.maximum.accumulate(seq_u)[:-1]))
    # RFC 3550 §6.4.1: D = (Rj − Ri) − (Sj − Si) in timestamp units; J += (|D| − J)/16
    times = np.array([p.time for p in packets])[arrival_idx]
    ts_u = _unwrap(np.array([p.timestamp for p in packets], dtype=np.int64), 32)[arrival_idx]
    d = np.diff(times) * clock - np.diff(ts_u).astype(np.float64)
    running = lfilter([1 / 16], [1, -15 / 16], np.abs(d)) if d.size else np.zeros(1)
    jitter_ms, jitter_max_ms = 1000 * running.mean() / clock, 1000 * running.max() / clock
    steps = np.diff(ordered.ext_ts)[np.diff(ordered.ext_seq) == 1]
    steps = steps[steps > 0]
    packet_ms = 1000 * float(np.median(steps)) / clock if steps.size else math.nan
    loss_pct = 100.0 * (expected - received) / expected
    burst = gilbert_from_pattern(lost_mask).burst_ratio
    r = mos = math.nan
    note = ""
    if info is None:
        note = f"payload type {pt} unknown: give --payload-type {pt}=codec"
    elif info.emodel_codec is None:
        note = f"no narrowband E-model parameters for {info.name}"
    else:
        try:
            res = rate_network(
                info.emodel_codec,
                loss_pattern=lost_mask,
                jitter_ms=jitter_ms,
                delay_ms=delay_ms,
                packet_ms=None if math.isnan(packet_ms) else packet_ms,
            )
            r, mos = res.r, res.mos
        except EModelError as exc:
            note = str(exc)
    first = packets[0]
    return StreamStats(
        capture=capture,
        ssrc=first.ssrc,
        src=first.src,
        dst=first.dst,
        payload_type=pt,
        codec=info.name if info else f"PT{pt}",
        packets=received,
        expected=expected,
        lost=expected - received,
        loss_pct=loss_pct,
        burst_ratio=burst,
        jitter_ms=float(jitter_ms),
        duration_s=float(max(p.time for p in packets) - first.time),
        r=r,
        mos=mos,
        category=category_of(mos) if not math.isnan(mos) else "",
        duplicates=len(packets) - received,
        reordered=reordered,
        packet_ms=packet_ms,
        jitter_max_ms=float(jitter_max_ms),
        note=note,
    )


def decode_g711(packets: list[RtpPacket], law: str, *, conceal: bool = False) -> NDArray:
    """Decode a G.711 stream to floats at 8 kHz, placing packets by RTP timestamp.

    Duplicates are dropped. Samples of lost packets (gaps in the sequence numbers) are
    silence, or with ``conceal`` the previous packet's audio repeated to fill the gap.
    Timestamp gaps without lost packets (silence suppression) stay silent. Returns
    float32 samples (every G.711 value is exact in float32); at most 4 h of audio.
    """
    ordered, _, _ = _order(packets)
    offsets = ordered.ext_ts - ordered.ext_ts.min()
    ends = offsets + np.array([len(p.payload) for p in ordered.packets])
    total = int(ends.max())
    if total > 8000 * 3600 * 4:
        raise CaptureError(f"SSRC {ordered.packets[0].ssrc:#010x}: timestamps span > 4 h")
    out = np.zeros(total, dtype=np.float32)  # G.711 values are exact in float32
    prev: NDArray | None = None
    for k, pkt in enumerate(ordered.packets):
        samples = g711.decode(np.frombuffer(pkt.payload, dtype=np.uint8), law)
        start = int(offsets[k])
        if conceal and prev is not None and ordered.ext_seq[k] - ordered.ext_seq[k - 1] > 1:
            gap_start = int(ends[k - 1])
            if start > gap_start:
                out[gap_start:start] = np.resize(prev, start - gap_start)
        out[start : start + samples.size] = samples
        prev = samples
    return out


# --- whole captures ------------------------------------------------------------------------------


@dataclass
class CaptureReport:
    """Streams found in one capture, with their packets and notes for the user."""

    path: Path
    streams: list[StreamStats] = field(default_factory=list)
    packets: dict[StreamKey, list[RtpPacket]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def law(self, stats: StreamStats, payload_types: dict[int, PayloadType] | None) -> str | None:
        """G.711 law of a stream, or None for other codecs."""
        info = {**STATIC_PAYLOAD_TYPES, **(payload_types or {})}.get(stats.payload_type)
        return info.law if info else None


def analyse_capture(
    path: str | Path,
    *,
    ports: set[int] | None = None,
    payload_types: dict[int, PayloadType] | None = None,
    min_packets: int = MIN_PACKETS,
    delay_ms: float = 0.0,
) -> CaptureReport:
    """Find the RTP streams of a capture and analyse each (see :func:`analyse_stream`).

    Without ``ports`` a group of packets counts as RTP when it passes a consistency check
    (one dominant payload type, sequence numbers stepping forward). Groups with fewer than
    ``min_packets`` packets are noted and skipped. A report without streams has notes
    saying why.
    """
    raw = read_capture(path, ports=ports)
    report = CaptureReport(Path(path), notes=list(raw.notes))
    name = Path(path).name
    for key, pkts in sorted(raw.groups.items(), key=lambda kv: kv[1][0].time):
        if ports is None and not _looks_like_rtp(pkts):
            continue
        if len(pkts) < min_packets:
            report.notes.append(
                f"{name}: stream SSRC {key[0]:#010x} {key[1]} -> {key[2]} has only "
                f"{len(pkts)} packet(s), need at least {min_packets}; skipped"
            )
            continue
        report.packets[key] = pkts
        report.streams.append(
            analyse_stream(pkts, payload_types=payload_types, capture=name, delay_ms=delay_ms)
        )
    if not report.streams and not any("only" in n for n in report.notes):
        where = f"on ports {sorted(ports)}" if ports else "(give --ports if RTP uses odd ports)"
        report.notes.append(
            f"{name}: no RTP stream found among {raw.udp_datagrams} UDP datagram(s) "
            f"in {raw.frames} frame(s) {where}"
        )
    return report


def extract_audio(
    report: CaptureReport,
    out_dir: str | Path,
    *,
    payload_types: dict[int, PayloadType] | None = None,
    conceal: bool = False,
) -> dict[StreamKey, Path]:
    """Write each G.711 stream of ``report`` to ``out_dir`` as 8 kHz 16-bit WAV.

    Files are named ``<capture stem>_<ssrc as 8 hex digits>_<n>.wav``. Streams of other
    codecs are skipped with a note in ``report.notes``.
    """
    import soundfile as sf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[StreamKey, Path] = {}
    for n, stats in enumerate(report.streams):
        key = (stats.ssrc, stats.src, stats.dst)
        law = report.law(stats, payload_types)
        if law is None:
            note = f"SSRC {stats.ssrc:#010x}: {stats.codec} is not G.711; not extracted"
            report.notes.append(note)
            continue
        audio = decode_g711(report.packets[key], law, conceal=conceal)
        target = out / f"{report.path.stem}_{stats.ssrc:08x}_{n}.wav"
        sf.write(target, audio, 8000, subtype="PCM_16")
        written[key] = target
    return written


def g711_call(
    audio: NDArray,
    *,
    law: str = "ulaw",
    packet_samples: int = 160,
    seq0: int = 0,
    ts0: int = 0,
    ssrc: int = 0x5EED0001,
    src: str = "192.0.2.10:40000",
    dst: str = "192.0.2.20:40002",
    start_s: float = 0.0,
) -> list[RtpPacket]:
    """Packetise 8 kHz audio as a G.711 RTP stream sent at the nominal packet times."""
    n = len(audio) // packet_samples
    codes = g711.encode(np.asarray(audio[: n * packet_samples]), law).reshape(n, packet_samples)
    pt = 0 if law == "ulaw" else 8
    step = packet_samples / 8000
    return [
        RtpPacket(
            start_s + k * step,
            src,
            dst,
            (seq0 + k) & 0xFFFF,
            (ts0 + k * packet_samples) & 0xFFFFFFFF,
            ssrc,
            pt,
            k == 0,
            codes[k].tobytes(),
        )
        for k in range(n)
    ]
