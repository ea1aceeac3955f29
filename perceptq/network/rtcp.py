"""RTCP in a capture: sender/receiver reports (RFC 3550 §6.4) and XR VoIP metrics (RFC 3611).

:class:`RtcpTracker` is fed datagrams that look like RTCP (:func:`looks_like_rtcp`) and
keeps, per reported-on media source (SSRC):

* the report blocks of SR and RR packets: fraction lost, cumulative lost, interarrival
  jitter (timestamp units), LSR and DLSR;
* the round-trip time seen from the capture point, as Wireshark computes it: a report
  block whose LSR names an SR seen earlier in the capture gives RTT = (arrival of the
  report − arrival of that SR) − DLSR (RFC 3550 §6.4.1; Wireshark truncates to whole ms);
* the last VoIP Metrics report block of RTCP-XR (RFC 3611 §4.7, block type 7).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

SR, RR, XR = 200, 201, 207
_XR_VOIP = 7


def looks_like_rtcp(data: bytes) -> bool:
    """Version 2 and a first packet type of SR, RR, SDES, BYE, APP or XR, whole words."""
    return (
        len(data) >= 8
        and data[0] >> 6 == 2
        and data[1] in (200, 201, 202, 203, 204, 207)
        and len(data) % 4 == 0
    )


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One SR/RR report block about ``source``, sent by ``reporter`` at ``time``."""

    time: float
    reporter: int
    source: int
    fraction_lost: int  # in 1/256
    cumulative_lost: int
    highest_seq: int
    jitter: int  # RTP timestamp units
    lsr: int
    dlsr: int  # 1/65536 s


@dataclass(frozen=True, slots=True)
class VoipMetrics:
    """RFC 3611 §4.7 VoIP Metrics block, fields scaled to their units (127 = unavailable
    for R factors and MOS is kept as NaN)."""

    reporter: int
    source: int
    loss_rate: float  # fraction 0..1
    discard_rate: float
    burst_density: float
    gap_density: float
    burst_duration_ms: int
    gap_duration_ms: int
    round_trip_ms: int
    end_system_delay_ms: int
    signal_level_db: int
    noise_level_db: int
    rerl_db: int
    gmin: int
    r_factor: float
    ext_r_factor: float
    mos_lq: float
    mos_cq: float
    rx_config: int
    jb_nominal_ms: int
    jb_maximum_ms: int
    jb_abs_max_ms: int


def _signed8(v: int) -> int:
    return v - 256 if v >= 128 else v


def _voip(reporter: int, block: bytes) -> VoipMetrics:
    (
        src,
        loss,
        disc,
        bd,
        gd,
        bdur,
        gdur,
        rtd,
        esd,
        sig,
        noise,
        rerl,
        gmin,
        r,
        xr_r,
        mlq,
        mcq,
        rxc,
        _,
        jbn,
        jbm,
        jba,
    ) = struct.unpack("!IBBBBHHHHBBBBBBBBBBHHH", block[:32])
    return VoipMetrics(
        reporter=reporter,
        source=src,
        loss_rate=loss / 256,
        discard_rate=disc / 256,
        burst_density=bd / 256,
        gap_density=gd / 256,
        burst_duration_ms=bdur,
        gap_duration_ms=gdur,
        round_trip_ms=rtd,
        end_system_delay_ms=esd,
        signal_level_db=_signed8(sig),
        noise_level_db=_signed8(noise),
        rerl_db=rerl,
        gmin=gmin,
        r_factor=math.nan if r == 127 else float(r),
        ext_r_factor=math.nan if xr_r == 127 else float(xr_r),
        mos_lq=math.nan if mlq == 127 else mlq / 10,
        mos_cq=math.nan if mcq == 127 else mcq / 10,
        rx_config=rxc,
        jb_nominal_ms=jbn,
        jb_maximum_ms=jbm,
        jb_abs_max_ms=jba,
    )


@dataclass
class SourceRtcp:
    """What RTCP said about one media source (SSRC)."""

    blocks: int = 0
    last: ReportBlock | None = None
    rtts_ms: list[float] = field(default_factory=list)
    voip: VoipMetrics | None = None
    sender_reports: int = 0  # SRs sent by this source, and its last sender counts
    sent_packets: int = -1
    sent_octets: int = -1


class RtcpTracker:
    """Report blocks, round-trip times and XR VoIP metrics per media source."""

    def __init__(self) -> None:
        self.sources: dict[int, SourceRtcp] = {}
        self.packets = 0
        self.sender_reports = 0
        self.malformed = 0
        self._sr_seen: dict[tuple[int, int], float] = {}

    def _source(self, ssrc: int) -> SourceRtcp:
        return self.sources.setdefault(ssrc, SourceRtcp())

    def feed(self, time: float, data: bytes) -> None:
        """Read one compound RTCP packet arriving at ``time`` (seconds)."""
        self.packets += 1
        off = 0
        while off + 4 <= len(data):
            first, ptype, words = struct.unpack_from("!BBH", data, off)
            end = off + 4 * (words + 1)
            if first >> 6 != 2 or end > len(data):
                self.malformed += 1
                return
            count = first & 0x1F
            body = data[off + 4 : end]
            if ptype in (SR, RR) and len(body) >= 4:
                self._report(time, ptype, count, body)
            elif ptype == XR and len(body) >= 4:
                self._xr(body)
            off = end

    def _report(self, time: float, ptype: int, count: int, body: bytes) -> None:
        sender = struct.unpack_from("!I", body)[0]
        pos = 4
        if ptype == SR:
            if len(body) < 24:
                self.malformed += 1
                return
            ntp_sec, ntp_frac, _, packets, octets = struct.unpack_from("!IIIII", body, 4)
            own = self._source(sender)
            own.sender_reports += 1
            own.sent_packets, own.sent_octets = packets, octets
            self._sr_seen[(sender, ((ntp_sec & 0xFFFF) << 16) | (ntp_frac >> 16))] = time
            self.sender_reports += 1
            pos = 24
        for _ in range(count):
            if pos + 24 > len(body):
                self.malformed += 1
                return
            src, lost_word, hseq, jit, lsr, dlsr = struct.unpack_from("!IIIIII", body, pos)
            cum = lost_word & 0xFFFFFF
            cum = cum - (1 << 24) if cum & 0x800000 else cum
            block = ReportBlock(time, sender, src, lost_word >> 24, cum, hseq, jit, lsr, dlsr)
            info = self._source(src)
            info.blocks += 1
            info.last = block
            sent = self._sr_seen.get((src, lsr)) if lsr else None
            if sent is not None and dlsr:
                info.rtts_ms.append(1000 * (time - sent) - 1000 * dlsr / 65536)
            pos += 24

    def _xr(self, body: bytes) -> None:
        reporter = struct.unpack_from("!I", body)[0]
        pos = 4
        while pos + 4 <= len(body):
            bt, _, words = struct.unpack_from("!BBH", body, pos)
            block = body[pos + 4 : pos + 4 + 4 * words]
            if bt == _XR_VOIP and len(block) >= 32:
                metrics = _voip(reporter, block)
                self._source(metrics.source).voip = metrics
            pos += 4 + 4 * words


def voip_row(metrics: VoipMetrics | None) -> dict[str, float]:
    """The XR VoIP metrics as ``xr_*`` columns of a stream row (NaN when absent)."""
    names = (
        "loss_rate",
        "discard_rate",
        "burst_density",
        "gap_density",
        "burst_duration_ms",
        "gap_duration_ms",
        "round_trip_ms",
        "end_system_delay_ms",
        "signal_level_db",
        "noise_level_db",
        "r_factor",
        "mos_lq",
        "mos_cq",
        "jb_nominal_ms",
        "jb_maximum_ms",
        "jb_abs_max_ms",
    )
    return {f"xr_{n}": (math.nan if metrics is None else getattr(metrics, n)) for n in names}
