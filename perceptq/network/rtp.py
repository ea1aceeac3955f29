"""RTP payloads: payload types given by the user, G.711 streams decoded and written as
audio, and audio packetised as a G.711 stream (for test captures).

The statistics of the streams of a capture (loss, burst ratio, jitter, network MOS) are
:func:`perceptq.network.calls.analyse_calls`; this module decodes what it kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

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


# --- G.711 streams ---------------------------------------------------------------------


def _unwrap(values: NDArray[np.int64], bits: int) -> NDArray[np.int64]:
    """Extend wrapping counters, each step taken as the shortest signed difference."""
    half, mod = 1 << (bits - 1), 1 << bits
    steps = (np.diff(values) + half) % mod - half
    return values[0] + np.concatenate([[0], np.cumsum(steps)])


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




def extract_audio(
    report: Any,
    out_dir: str | Path,
    *,
    payload_types: dict[int, PayloadType] | None = None,
    conceal: bool = False,
) -> dict[StreamKey, Path]:
    """Write each G.711 stream of ``report`` (a :class:`perceptq.network.calls.CallReport`
    analysed with ``keep_packets=True``) to ``out_dir`` as 8 kHz 16-bit WAV.

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
