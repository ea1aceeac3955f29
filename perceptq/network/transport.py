"""VoIP call rating: packet-network statistics mapped onto the G.107 E-model.

Packet loss patterns (two-state Gilbert model), a fixed jitter buffer and the mapping of
loss, burst ratio, delay, jitter and codec onto :class:`perceptq.network.emodel.EModelInput`
(:func:`rate_network`). This mapping is common practice, not part of G.107; each function
documents its model.

References
----------
RFC 3550 §6.4.1 (interarrival jitter); RFC 3611 §4.7 (loss and discard rates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from perceptq.network.codecs import get_codec
from perceptq.network.emodel import (
    EModelError,
    EModelInput,
    EModelResult,
    MissingBplError,
    evaluate,
)


@dataclass(frozen=True, slots=True)
class GilbertEstimate:
    """Two-state (Gilbert) loss model fitted to a per-packet loss pattern."""

    p: float  # P(received → lost)
    q: float  # P(lost → received)
    loss_pct: float
    burst_ratio: float
    packets: int


def gilbert_from_pattern(lost: ArrayLike) -> GilbertEstimate:
    """Fit the Gilbert model to a loss indicator and return BurstR = 1/(p + q).

    Parameters
    ----------
    lost : array_like of bool, shape (n_packets,)
        True for each expected packet that was lost (in sequence order).

    Returns
    -------
    GilbertEstimate
        p = #(received→lost)/#(received followed by a packet), q likewise for lost;
        BurstR = 1 without loss. Equivalent (up to edge effects) to the mean loss-run length
        times (1 − loss fraction).

    Raises
    ------
    EModelError
        If the pattern is empty or every packet was lost.
    """
    x = np.asarray(lost, dtype=bool).ravel()
    if x.size == 0:
        raise EModelError("loss pattern is empty")
    if x.all():
        raise EModelError("loss pattern has no received packet; burst ratio is undefined")
    loss_pct = 100.0 * float(x.mean())
    if not x.any():
        return GilbertEstimate(0.0, 1.0, 0.0, 1.0, int(x.size))
    prev, nxt = x[:-1], x[1:]
    n_recv, n_lost = int((~prev).sum()), int(prev.sum())
    p = float((~prev & nxt).sum()) / n_recv if n_recv else 1.0
    q = float((prev & ~nxt).sum()) / n_lost if n_lost else 1.0
    burst = 1.0 / (p + q) if p + q > 0 else 1.0
    return GilbertEstimate(p, q, loss_pct, max(burst, 1.0), int(x.size))


def jitter_buffer(
    jitter_ms: float, buffer_ms: float | None = None, *, min_ms: float = 0.0, factor: float = 2.0
) -> tuple[float, float]:
    """Delay and late-discard rate of a fixed jitter buffer (perceptq's model).

    The buffer holds ``buffer_ms``, by default max(``factor`` × J, ``min_ms``) with J the
    RFC 3550 interarrival jitter and ``min_ms`` one packet interval; this delay adds to the
    mouth-to-ear delay. Transit-time deviations are modelled as i.i.d. Gaussian with
    standard deviation σ; J estimates E|D_i − D_(i−1)| = 2σ/√π, so σ = J·√π/2. A packet
    arriving more than the buffer depth after its nominal time is late and discarded:
    P(late) = ½·erfc(buffer / (σ√2)), about 1.2 % for a buffer of 2·J.

    Returns
    -------
    buffer_ms : float
        Jitter-buffer delay (ms).
    late_pct : float
        Percentage of packets discarded as late.
    """
    if jitter_ms < 0 or not math.isfinite(jitter_ms):
        raise EModelError(f"jitter {jitter_ms!r} ms must be a finite number >= 0")
    buf = max(factor * jitter_ms, min_ms) if buffer_ms is None else float(buffer_ms)
    if buf < 0 or not math.isfinite(buf):
        raise EModelError(f"jitter buffer {buf!r} ms must be a finite number >= 0")
    if jitter_ms == 0:
        return buf, 0.0
    sigma = jitter_ms * math.sqrt(math.pi) / 2
    return buf, 100.0 * 0.5 * math.erfc(buf / (sigma * math.sqrt(2)))


def rate_network(
    codec: str | None = "g711",
    *,
    loss_pct: float = 0.0,
    burst_ratio: float | None = None,
    loss_pattern: ArrayLike | None = None,
    delay_ms: float = 0.0,
    jitter_ms: float = 0.0,
    jitter_buffer_ms: float | None = None,
    packet_ms: float | None = None,
    ie: float | None = None,
    bpl: float | None = None,
    advantage: float = 0.0,
) -> EModelResult:
    """E-model rating of a VoIP call from network statistics.

    Mouth-to-ear delay = ``delay_ms`` (one-way network delay; RTT/2 if only RTT is known)
    + jitter-buffer delay (``jitter_buffer_ms``, default max(2·jitter, one packet)) + one
    packet of packetisation (``packet_ms``, default: the codec table's packet size, else
    the RFC 3551 default packetisation of the codec);
    T = Ta = mouth-to-ear, Tr = 2·T. Ppl = network loss plus late discards of the jitter
    buffer (see :func:`jitter_buffer`), combined as independent events; the burst ratio
    (given, else estimated from ``loss_pattern`` with the Gilbert model, else 1) is kept
    for the total; a ``loss_pattern`` also sets the network loss, replacing ``loss_pct``.
    ``ie``/``bpl`` override the codec's values; ``codec=None`` needs both. Values the codec
    table marks as unverified give an entry in ``EModelResult.warnings``.
    The table's Bpl values hold for the table's packet size; other ``packet_ms`` change the
    delay terms only.

    Raises
    ------
    EModelError
        Unknown codec, a loss impairment without a Bpl, or values out of range.
    """
    info = get_codec(codec) if codec is not None else None
    ie_v = ie if ie is not None else (info.ie if info else None)
    bpl_v = bpl if bpl is not None else (info.bpl if info else None)
    if ie_v is None:
        raise EModelError("no codec given: Ie (and Bpl for packet loss) must be given")
    gilbert = None
    if loss_pattern is not None:
        gilbert = gilbert_from_pattern(loss_pattern)
        loss_pct = gilbert.loss_pct
        if burst_ratio is None:
            burst_ratio = gilbert.burst_ratio
    burst_ratio = 1.0 if burst_ratio is None else float(burst_ratio)
    for name, value in (("loss", loss_pct), ("delay", delay_ms), ("packet size", packet_ms)):
        if value is not None and (not math.isfinite(value) or value < 0):
            raise EModelError(f"{name} {value!r} must be a finite number >= 0")
    if loss_pct > 100:
        raise EModelError(f"loss {loss_pct!r} % must not exceed 100")
    pkt = packet_ms if packet_ms is not None else (info.packet_ms if info else None)
    pkt = pkt or 0.0
    buf_ms, late_pct = jitter_buffer(jitter_ms, jitter_buffer_ms, min_ms=pkt)
    total_pct = loss_pct + late_pct - loss_pct * late_pct / 100  # independent events
    if total_pct > 0 and bpl_v is None:
        raise MissingBplError(info.name if info else None)
    warnings = []
    if info is not None and info.unverified and (ie is None or (bpl is None and total_pct > 0)):
        warnings.append(
            f"codec {info.name}: its Ie {info.ie:g} and Bpl {info.bpl:g} in the codec table are "
            "unverified (perceptq/network/data/codec_ie_bpl.csv); give Ie and Bpl from a source "
            "you trust"
        )
    m2e = delay_ms + buf_ms + pkt
    p = EModelInput(
        t=m2e,
        ta=m2e,
        tr=2 * m2e,
        ie=ie_v,
        bpl=bpl_v or 1.0,  # no loss: Bpl plays no part
        ppl=total_pct,
        burst_r=burst_ratio,
        a=advantage,
    )
    network = {
        "codec": info.name if info else None,
        "network_loss_pct": loss_pct,
        "late_loss_pct": late_pct,
        "total_loss_pct": total_pct,
        "burst_ratio": burst_ratio,
        "delay_ms": delay_ms,
        "jitter_ms": jitter_ms,
        "jitter_buffer_ms": buf_ms,
        "packet_ms": pkt,
        "packet_source": (
            "given" if packet_ms is not None else info.packet_source if info else "none"
        ),
        "bpl": bpl_v,
        "mouth_to_ear_ms": m2e,
    }
    if gilbert is not None:
        network.update(gilbert_p=gilbert.p, gilbert_q=gilbert.q)
    return evaluate(p, network=network, warnings=tuple(warnings))
