"""E-model codec parameters: equipment impairment Ie and packet-loss robustness Bpl.

Values of ITU-T G.113 Appendix I, read from ``perceptq/network/data/codec_ie_bpl.csv`` with each
row's source and verification status; looked up by perceptq codec name (:func:`get_codec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from perceptq.network.emodel import EModelError, read_table

#: perceptq codec name → row of ``codec_ie_bpl.csv`` (its ``codec`` column).
_CODEC_ROWS: dict[str, str] = {
    "g711": "G.711 with PLC (G.711 Appendix I)",
    "g711-noplc": "G.711 without PLC",
    "g729": "G.729 (no VAD)",
    "g729a": "G.729A + VAD",
    "g723.1": "G.723.1 + VAD (6.3 kbit/s)",
    "g723.1-5.3": "G.723.1 (5.3 kbit/s)",
    "g726-32": "G.726 (32 kbit/s)",
    "gsm-efr": "GSM-EFR (12.2 kbit/s)",
}
#: Packet interval of the codecs whose table row gives none: the default packetisation of
#: RFC 3551 Table 1 (ms per packet), so that the mouth-to-ear delay includes one packet.
RTP_DEFAULT_PACKET_MS: dict[str, float] = {"g729": 20.0, "g723.1-5.3": 30.0, "g726-32": 20.0}
_ALIASES = {"g711-plc": "g711", "pcmu": "g711", "pcma": "g711", "g723": "g723.1"}


@dataclass(frozen=True, slots=True)
class Codec:
    """E-model parameters of a codec: Ie, Bpl (None when no value is known), packet size."""

    name: str
    description: str
    ie: float
    bpl: float | None
    packet_ms: float | None
    verification: str
    #: Where ``packet_ms`` comes from: "codec table" or "RFC 3551 default".
    packet_source: str = "codec table"

    @property
    def unverified(self) -> bool:
        """The table marks this row's Ie/Bpl as unverified."""
        return self.verification.upper().startswith("UNVERIFIED")


@lru_cache(maxsize=1)
def codec_table() -> dict[str, Codec]:
    """Known codecs by perceptq name, with each row's source and verification status."""
    rows = {row["codec"]: row for row in read_table("codec_ie_bpl.csv")}
    out = {}
    for name, key in _CODEC_ROWS.items():
        row = rows[key]
        packet_ms = float(row["packet_ms"]) if row["packet_ms"] else None
        out[name] = Codec(
            name=name,
            description=key,
            ie=float(row["Ie"]),
            bpl=float(row["Bpl"]) if row["Bpl"] else None,
            packet_ms=packet_ms if packet_ms is not None else RTP_DEFAULT_PACKET_MS[name],
            verification=row["verification"],
            packet_source="codec table" if packet_ms is not None else "RFC 3551 default",
        )
    return out


def get_codec(name: str) -> Codec:
    """Look a codec up by name (case-insensitive; ``.``, ``_`` and spaces ignored)."""
    norm = name.strip().lower().replace("_", "-").replace(" ", "")
    table = codec_table()
    norm = _ALIASES.get(norm, norm)
    if norm not in table:
        squeezed = {k.replace(".", "").replace("-", ""): k for k in table}
        norm = squeezed.get(norm.replace(".", "").replace("-", ""), norm)
    if norm not in table:
        known = ", ".join(sorted(table))
        raise EModelError(f"unknown codec {name!r}; known codecs: {known} (or give Ie/Bpl)")
    return table[norm]
