"""AMR and AMR-WB RTP payloads (RFC 4867): frame types and repacking for decoding.

An RTP payload holds a 4-bit codec mode request, a table of contents (one entry per frame:
follow bit F, frame type FT, quality bit Q) and the frames' speech bits. In the default
bandwidth-efficient mode (§4.3) the fields are packed bit by bit; with ``octet-align=1``
(§4.4) each field is padded to whole bytes. Decoders (FFmpeg's ``amrnb``/``amrwb``) read
the storage format of §5.1: one header byte ``FT << 3 | Q << 2`` followed by the frame's
bits padded to bytes. Interleaving (§4.4.5) is not supported. The frame type of speech
frames is the codec mode, which the wideband E-model needs for AMR-WB's Ie,WB.
"""

from __future__ import annotations

#: speech bits per frame type (3GPP TS 26.101 / 26.201); the last entry is the SID frame.
NB_BITS = (95, 103, 118, 134, 148, 159, 204, 244, 39)
WB_BITS = (132, 177, 253, 285, 317, 365, 397, 461, 477, 40)
NB_KBPS = (4.75, 5.15, 5.90, 6.70, 7.40, 7.95, 10.2, 12.2)
WB_KBPS = (6.60, 8.85, 12.65, 14.25, 15.85, 18.25, 19.85, 23.05, 23.85)
_NO_DATA = (14, 15)  # speech lost, no data: no bits


def _bits_of(ft: int, wideband: bool) -> int | None:
    table = WB_BITS if wideband else NB_BITS
    if ft < len(table):
        return table[ft]
    return 0 if ft in _NO_DATA else None


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self.value, self.total, self.pos = int.from_bytes(data, "big"), 8 * len(data), 0

    def read(self, n: int) -> int:
        if self.pos + n > self.total:
            raise ValueError("AMR payload is shorter than its table of contents says")
        self.pos += n
        return (self.value >> (self.total - self.pos)) & ((1 << n) - 1)


def frames(payload: bytes, *, wideband: bool, octet_aligned: bool) -> list[tuple[int, int, bytes]]:
    """The frames of one RTP payload as (frame type, quality bit, speech bytes).

    Raises
    ------
    ValueError
        If the payload is cut short or names a reserved frame type.
    """
    toc: list[tuple[int, int]] = []
    out = []
    if octet_aligned:
        pos = 1
        while True:
            if pos >= len(payload):
                raise ValueError("AMR payload ends inside its table of contents")
            entry = payload[pos]
            pos += 1
            toc.append(((entry >> 3) & 0x0F, (entry >> 2) & 1))
            if not entry & 0x80:
                break
        for ft, q in toc:
            bits = _bits_of(ft, wideband)
            if bits is None:
                raise ValueError(f"AMR frame type {ft} is reserved")
            size = (bits + 7) // 8
            if pos + size > len(payload):
                raise ValueError("AMR payload is shorter than its table of contents says")
            out.append((ft, q, payload[pos : pos + size]))
            pos += size
        return out
    reader = _BitReader(payload)
    reader.read(4)  # codec mode request
    while True:
        follow, ft, q = reader.read(1), reader.read(4), reader.read(1)
        toc.append((ft, q))
        if not follow:
            break
    for ft, q in toc:
        bits = _bits_of(ft, wideband)
        if bits is None:
            raise ValueError(f"AMR frame type {ft} is reserved")
        value = reader.read(bits) if bits else 0
        pad = (-bits) % 8
        out.append((ft, q, (value << pad).to_bytes((bits + pad) // 8, "big")))
    return out


def storage_frames(payload: bytes, *, wideband: bool, octet_aligned: bool) -> list[bytes]:
    """The payload's frames in the storage format decoders read (RFC 4867 §5.1)."""
    return [
        bytes([(ft << 3) | (q << 2)]) + data
        for ft, q, data in frames(payload, wideband=wideband, octet_aligned=octet_aligned)
    ]


def mode_kbps(frame_type: int, *, wideband: bool) -> float | None:
    """Bit rate of a speech frame type; None for SID, lost and no-data frames."""
    table = WB_KBPS if wideband else NB_KBPS
    return table[frame_type] if frame_type < len(table) else None


def octet_aligned(fmtp: str) -> bool:
    """True when an SDP ``a=fmtp`` parameter string selects octet-aligned mode."""
    return "octet-align=1" in fmtp.replace(" ", "")


def frame_types(payload: bytes, wideband: bool, octet_aligned: bool) -> list[int]:
    """Frame types of a payload's frames; empty for a payload that cannot be read."""
    try:
        return [ft for ft, _, _ in frames(payload, wideband=wideband, octet_aligned=octet_aligned)]
    except ValueError:
        return []
