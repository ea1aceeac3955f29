"""Wideband E-model (ITU-T G.107.1) for wideband codecs: R up to 129, MOS-CQEW.

``R_WB = Ro,WB − Is,WB − Id,WB − Ie,eff,WB + A`` with Ro,WB = 129 and, as G.107.1 gives
for its defaults, Is,WB = 0 and A = 0. Id,WB is computed with the G.107 delay formulas
(:func:`perceptq.network.emodel.delay_impairments`, defaults of Table 3) from the same
mouth-to-ear delay as the narrowband model (an assumption: G.107.1 reuses the narrowband
delay terms). Ie,eff,WB = Ie,WB + (95 − Ie,WB)·Ppl/(Ppl + Bpl,WB) (random loss; the
wideband model has no burst ratio). MOS-CQEW = the G.107 Annex B mapping of R_WB / 1.29
(G.107.1 Annex A), so a wideband call scores at most 4.5 without passing through a
narrowband R.

Codec values (Ie,WB, Bpl,WB) are in ``data/codec_ie_wb.csv`` with each row's source and
verification status. A codec without an Ie,WB (Opus, Speex, iLBC at 16 kHz, AMR-WB of an
unknown mode) is not rated: no narrowband R is ever given for a wideband call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from numpy.typing import ArrayLike

from perceptq.network.emodel import (
    EModelError,
    EModelInput,
    delay_impairments,
    r_to_mos,
    read_table,
)
from perceptq.network.transport import gilbert_from_pattern, jitter_buffer

R_MAX_WB = 129.0
_NAMES = {"g722": "G.722 (64 kbit/s)"}


@dataclass(frozen=True, slots=True)
class WidebandResult:
    """R_WB (0 … 129), MOS-CQEW and the parts that cost points."""

    r: float
    mos: float
    id: float
    ie_eff: float
    ie: float
    bpl: float | None
    loss_pct: float
    mouth_to_ear_ms: float
    verification: str
    scale: str = "G.107.1 wideband (R 0-129, MOS-CQEW)"


@lru_cache(maxsize=1)
def wideband_table() -> dict[str, dict[str, str]]:
    """Rows of ``codec_ie_wb.csv`` by codec description."""
    return {row["codec"]: row for row in read_table("codec_ie_wb.csv")}


def wideband_row(codec: str, mode_kbps: float | None = None) -> dict[str, str] | None:
    """The table row of a wideband codec (``g722``, ``amr-wb`` with its mode), or None."""
    key = codec.strip().lower()
    if key in _NAMES:
        return wideband_table()[_NAMES[key]]
    if key == "amr-wb" and mode_kbps is not None:
        return wideband_table().get(f"AMR-WB {mode_kbps:.2f} kbit/s")
    return None


def rate_wideband(
    codec: str,
    *,
    loss_pattern: ArrayLike | None = None,
    loss_pct: float = 0.0,
    delay_ms: float = 0.0,
    jitter_ms: float = 0.0,
    packet_ms: float | None = None,
    mode_kbps: float | None = None,
) -> WidebandResult:
    """Rate a wideband call with the G.107.1 E-model (see the module docstring).

    The jitter buffer and late discards are modelled as for the narrowband model
    (:func:`perceptq.network.transport.jitter_buffer`).

    Raises
    ------
    EModelError
        No Ie,WB for the codec, or packet loss for a codec without a Bpl,WB.
    """
    row = wideband_row(codec, mode_kbps)
    if row is None:
        raise EModelError(f"no wideband Ie,WB known for {codec}: not rated (G.107.1)")
    if loss_pattern is not None:
        loss_pct = gilbert_from_pattern(loss_pattern).loss_pct
    pkt = packet_ms if packet_ms is not None else float(row["packet_ms"] or 20)
    buf_ms, late_pct = jitter_buffer(jitter_ms, None, min_ms=pkt)
    ppl = loss_pct + late_pct - loss_pct * late_pct / 100
    ie = float(row["Ie_wb"])
    bpl = float(row["Bpl_wb"]) if row["Bpl_wb"] else None
    if ppl > 0 and bpl is None:
        raise EModelError(
            f"{row['codec']} has no published Bpl,WB: a call with {ppl:.2f} % loss is not "
            "rated (G.107.1)"
        )
    ie_eff = ie + (95 - ie) * ppl / (ppl + bpl) if ppl > 0 and bpl else ie
    m2e = delay_ms + buf_ms + pkt
    id_ = delay_impairments(EModelInput(t=m2e, ta=m2e, tr=2 * m2e))["id"]
    r = max(0.0, min(R_MAX_WB, R_MAX_WB - id_ - ie_eff))
    return WidebandResult(
        r, r_to_mos(r / 1.29), id_, ie_eff, ie, bpl, ppl, m2e, row["verification"]
    )
