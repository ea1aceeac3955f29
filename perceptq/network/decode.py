"""RTP payloads decoded to audio: G.711 here, other codecs with FFmpeg's decoders via PyAV.

PyAV (``pip install "perceptq[codecs]"``) ships wheels with FFmpeg's own decoders for
G.722, G.729, GSM, iLBC, Speex, Opus, AMR and AMR-WB, so no system codec library is
needed. AMR payloads (RFC 4867) are repacked into the storage format first
(:mod:`perceptq.network.amr`). Packets are decoded in sequence order and placed by RTP
timestamp; the samples of lost packets are silence, or with ``conceal`` the previous packet's audio
repeated (each decoder keeps its own state across a gap).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from perceptq.network import amr, g711
from perceptq.network.payload import Codec
from perceptq.network.pcap import CaptureError, RtpPacket, StreamKey

#: codec name (lower case) → FFmpeg decoder; the audio rate comes from :class:`Codec`.
FFMPEG_DECODERS = {"g722": "g722", "g729": "g729", "gsm": "gsm", "ilbc": "ilbc",
                   "speex": "speex", "opus": "opus", "amr": "amrnb", "amr-wb": "amrwb"}  # fmt: skip
_MAX_SECONDS = 4 * 3600


def why_not_decodable(codec: Codec | None) -> str | None:
    """None when the stream's audio can be decoded, else the reason."""
    if codec is None:
        return "unknown payload type"
    key = codec.name.lower()
    if codec.law is not None:
        return None
    if key not in FFMPEG_DECODERS:
        return f"{codec.name} cannot be decoded (decoders: G.711, {', '.join(FFMPEG_DECODERS)})"
    try:
        import av  # noqa: F401
    except ImportError:
        return f"{codec.name} needs PyAV: pip install 'perceptq[codecs]'"
    return None


def _ordered(
    packets: list[RtpPacket],
) -> tuple[list[RtpPacket], NDArray[np.int64], NDArray[np.int64]]:
    """Unique packets in sequence order with extended sequence numbers and timestamps."""
    seq = np.array([p.seq for p in packets], dtype=np.int64)
    ts = np.array([p.timestamp for p in packets], dtype=np.int64)
    seq = seq[0] + np.concatenate([[0], np.cumsum((np.diff(seq) + 0x8000) % 0x10000 - 0x8000)])
    ts = ts[0] + np.concatenate(
        [[0], np.cumsum((np.diff(ts) + 0x80000000) % 0x100000000 - 0x80000000)]
    )
    _, first = np.unique(seq, return_index=True)
    return [packets[i] for i in first], seq[first], ts[first]


def _ffmpeg_decoder(codec: Codec, first_payload: bytes) -> Any:
    import av

    ctx = av.CodecContext.create(FFMPEG_DECODERS[codec.name.lower()], "r")
    ctx.sample_rate = codec.audio_rate
    ctx.layout = "mono"
    if codec.name.lower() == "ilbc":  # 38-byte frames: 20 ms mode, 50-byte: 30 ms
        ctx.options = {"block_align": str(50 if len(first_payload) % 50 == 0 else 38)}
    return ctx


def _decode_one(ctx: Any, payload: bytes) -> NDArray[np.float32]:
    import av

    out = []
    try:
        for frame in ctx.decode(av.Packet(payload)):
            x = frame.to_ndarray()
            x = (
                x[0]
                if x.ndim == 2 and frame.format.is_planar
                else x.reshape(-1, len(frame.layout.channels))[:, 0]
            )
            out.append(
                x.astype(np.float32) / 32768 if x.dtype == np.int16 else x.astype(np.float32)
            )
    except (av.error.InvalidDataError, ValueError):
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def decode_stream(
    packets: list[RtpPacket], codec: Codec, *, conceal: bool = False
) -> tuple[NDArray[np.float32], int]:
    """Decode one stream: (samples in −1 … 1, sample rate). See the module docstring.

    Raises
    ------
    CaptureError
        If the codec cannot be decoded or the timestamps span more than 4 hours.
    """
    reason = why_not_decodable(codec)
    if reason:
        raise CaptureError(reason)
    ordered, ext_seq, ext_ts = _ordered(packets)
    rate = codec.audio_rate
    scale = rate / codec.clock_rate if codec.clock_rate else 1.0
    offsets = np.round((ext_ts - ext_ts.min()) * scale).astype(np.int64)
    if offsets.max() > rate * _MAX_SECONDS:
        raise CaptureError(f"SSRC {ordered[0].ssrc:#010x}: timestamps span > 4 h")
    ctx = None if codec.law else _ffmpeg_decoder(codec, ordered[0].payload)
    pieces: list[NDArray[np.float32]] = []
    amr_kind = codec.name.lower() if codec.name.lower() in ("amr", "amr-wb") else None
    for pkt in ordered:
        if codec.law:
            pieces.append(g711.decode(np.frombuffer(pkt.payload, dtype=np.uint8), codec.law))
        elif amr_kind:
            try:
                parts = amr.storage_frames(pkt.payload, wideband=amr_kind == "amr-wb",
                                           octet_aligned=codec.octet_aligned)  # fmt: skip
            except ValueError:
                parts = []
            decoded = [_decode_one(ctx, part) for part in parts]
            pieces.append(np.concatenate(decoded) if decoded else np.zeros(0, np.float32))
        else:
            pieces.append(_decode_one(ctx, pkt.payload))
    ends = offsets + np.array([p.size for p in pieces])
    out = np.zeros(int(ends.max()) if ends.size else 0, dtype=np.float32)
    for k, samples in enumerate(pieces):
        start = int(offsets[k])
        if conceal and k and ext_seq[k] - ext_seq[k - 1] > 1 and pieces[k - 1].size:
            gap = int(ends[k - 1])
            if start > gap:
                out[gap:start] = np.resize(pieces[k - 1], start - gap)
        out[start : start + samples.size] = samples
    return out, rate


def extract_streams(
    report: Any, out_dir: str | Path, *, conceal: bool = False
) -> dict[StreamKey, tuple[Path, int, bool]]:
    """Write each decodable stream of a :class:`perceptq.network.calls.CallReport` as WAV.

    Files are ``<capture stem>_<ssrc as 8 hex digits>_<n>.wav`` at the codec's audio rate
    (16-bit). Returns {stream key: (path, sample rate, wideband)}; streams that cannot be
    decoded get a note in ``report.notes``.
    """
    import soundfile as sf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[StreamKey, tuple[Path, int, bool]] = {}
    for n, s in enumerate(report.streams):
        key = (s.ssrc, s.src, s.dst)
        codec = report.codecs.get(key)
        reason = why_not_decodable(codec)
        if reason is None and "SRTP" in s.note:
            reason = "SRTP payload is encrypted"
        if reason is not None or key not in report.packets:
            report.notes.append(f"SSRC {s.ssrc:#010x}: {reason or 'no packets'}; not extracted")
            continue
        audio, rate = decode_stream(report.packets[key], codec, conceal=conceal)
        if not audio.size or not math.isfinite(float(np.abs(audio).max())):
            report.notes.append(f"SSRC {s.ssrc:#010x}: {s.codec} decoded to nothing")
            continue
        target = out / f"{report.path.stem}_{s.ssrc:08x}_{n}.wav"
        sf.write(target, np.clip(audio, -1, 1), rate, subtype="PCM_16")
        written[key] = (target, rate, codec.wideband)
    return written
