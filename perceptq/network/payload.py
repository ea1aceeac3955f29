"""What an RTP payload type carries, and which E-model rates it.

Clock rates follow Wireshark's RTP analysis: the RFC 3551 static table for payload types
below 96 (so G.722 runs an 8000 Hz RTP clock for 16 kHz audio), the SDP's ``a=rtpmap``
for dynamic ones, else the IANA media-type rate of the name (opus 48000, AMR-WB 16000,
…), else unknown (0: no jitter). Telephone events (RFC 4733) carry no audio and get no
clock. :func:`rate_stream` rates narrowband codecs with G.107
(:func:`perceptq.network.transport.rate_network`) and wideband codecs with G.107.1
(:func:`perceptq.network.wideband.rate_wideband`); a wideband codec never gets a
narrowband R.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from numpy.typing import ArrayLike

from perceptq.network.emodel import EModelError
from perceptq.network.transport import rate_network
from perceptq.network.wideband import rate_wideband

#: RFC 3551 static payload types: (name, RTP clock rate).
STATIC: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000), 3: ("GSM", 8000), 4: ("G723", 8000), 5: ("DVI4", 8000),
    6: ("DVI4", 16000), 7: ("LPC", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000),
    10: ("L16", 44100), 11: ("L16", 44100), 12: ("QCELP", 8000), 13: ("CN", 8000),
    14: ("MPA", 90000), 15: ("G728", 8000), 16: ("DVI4", 11025), 17: ("DVI4", 22050),
    18: ("G729", 8000), 19: ("CN", 8000),
}  # fmt: skip
#: IANA media types without a static number: RTP clock when the SDP gives none.
DYNAMIC_CLOCKS = {"amr": 8000, "amr-wb": 16000, "evs": 16000, "g7221": 16000, "g726-16": 8000,
                  "g726-24": 8000, "g726-32": 8000, "g726-40": 8000, "gsm-efr": 8000,
                  "opus": 48000, "red": 1000, "telephone-event": 8000}  # fmt: skip
#: codec name → narrowband E-model codec of :mod:`perceptq.network.codecs`.
NARROWBAND = {"pcmu": "g711", "pcma": "g711", "g729": "g729a", "g723": "g723.1",
              "gsm-efr": "gsm-efr", "g726-32": "g726-32"}  # fmt: skip
#: audio sample rate when it differs from the RTP clock (RFC 3551 §4.5.2, RFC 7587).
AUDIO_RATE = {"g722": 16000}


@dataclass(frozen=True, slots=True)
class Codec:
    """A stream's codec: name, RTP clock, audio rate, band and G.711 law if any."""

    name: str
    clock_rate: int
    audio_rate: int
    wideband: bool
    emodel: str | None  # narrowband codec name for G.107, or the wideband one for G.107.1
    law: str | None = None
    octet_aligned: bool = False  # AMR payloads: octet-align=1 in the SDP's fmtp


def is_event(name: str) -> bool:
    """True for RFC 4733 telephone events (DTMF): not audio."""
    return name.lower().startswith("telephone-event")


def describe(name: str, clock: int) -> Codec:
    """The :class:`Codec` of an encoding name and RTP clock rate."""
    key = name.lower()
    audio = AUDIO_RATE.get(key, clock)
    wide = audio >= 16000 or key in ("opus", "amr-wb", "g7221", "evs")
    law = {"pcmu": "ulaw", "pcma": "alaw"}.get(key)
    emodel = None if wide else NARROWBAND.get(key)
    if wide and key in ("g722", "amr-wb"):
        emodel = key
    return Codec(name, clock, audio, wide, emodel, law)


def clock_for(pt: int, rtpmap: dict[int, tuple[str, int]] | None) -> int:
    """RTP clock of a payload type as Wireshark's analysis takes it; 0 = unknown or event."""
    if pt < 96:
        return STATIC.get(pt, ("", 0))[1]
    entry = (rtpmap or {}).get(pt)
    if entry is None or is_event(entry[0]):
        return 0
    return entry[1] or DYNAMIC_CLOCKS.get(entry[0].lower(), 0)


def codec_for(pt: int, rtpmap: dict[int, tuple[str, int]] | None) -> Codec | None:
    """The codec a payload type names (SDP/user map first, then the static table)."""
    entry = (rtpmap or {}).get(pt) or STATIC.get(pt)
    if entry is None:
        return None
    name, clock = entry
    return describe(name, clock or DYNAMIC_CLOCKS.get(name.lower(), 0))


@dataclass(frozen=True, slots=True)
class Rating:
    """E-model result of a stream: R, MOS, the scale it is on, or why there is none."""

    r: float = math.nan
    mos: float = math.nan
    scale: str = ""
    note: str = ""


def rate_stream(
    codec: Codec | None,
    *,
    loss_pattern: ArrayLike,
    jitter_ms: float,
    delay_ms: float,
    packet_ms: float | None,
    mode_kbps: float | None = None,
    payload_type: int | None = None,
) -> Rating:
    """Rate one direction of a call with the E-model that fits its codec's band
    (``payload_type`` names the stream's payload number when its codec is unknown)."""
    if codec is None:
        pt = "N" if payload_type is None else str(payload_type)
        return Rating(note=f"unknown payload type {pt}: give --payload-type {pt}=codec")
    if math.isnan(jitter_ms):
        return Rating(note=f"{codec.name}: RTP clock rate unknown, no jitter; not rated")
    pkt = None if packet_ms is None or math.isnan(packet_ms) else packet_ms
    try:
        if codec.wideband:
            if codec.emodel is None:
                return Rating(
                    note=f"{codec.name} is wideband and has no Ie,WB in the G.107.1 table; "
                    "not rated (no narrowband R for a wideband call)"
                )
            if codec.emodel == "amr-wb" and mode_kbps is None:
                return Rating(note="AMR-WB without a speech frame to name its mode; not rated")
            res = rate_wideband(
                codec.emodel, loss_pattern=loss_pattern, jitter_ms=jitter_ms,
                delay_ms=delay_ms, packet_ms=pkt, mode_kbps=mode_kbps,
            )  # fmt: skip
            return Rating(res.r, res.mos, "MOS-CQEW G.107.1 wb")
        if codec.emodel is None:
            return Rating(note=f"no narrowband E-model parameters for {codec.name}")
        nb = rate_network(
            codec.emodel, loss_pattern=loss_pattern, jitter_ms=jitter_ms,
            delay_ms=delay_ms, packet_ms=pkt,
        )  # fmt: skip
        return Rating(nb.r, nb.mos, "MOS-CQE G.107 nb")
    except EModelError as exc:
        return Rating(note=str(exc))
