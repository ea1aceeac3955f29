"""Per-call analysis of a capture: SIP/SDP, RTP streams of both directions, RTCP, DSCP.

:func:`analyse_calls` reads a capture once, streaming (memory does not grow with the
file unless packets are kept for decoding), and routes each datagram: SIP to
:class:`perceptq.network.sip.SipTracker`, RTCP to :class:`perceptq.network.rtcp.RtcpTracker`,
RTP to one :class:`perceptq.network.rtpstats.StreamAccumulator` per SSRC and direction.
A stream belongs to a call when its source or destination is a media endpoint of that
call's SDP; its payload types then come from the SDP's ``a=rtpmap``. Streams outside any
SDP are kept when they pass the RTP heuristic (or lie on ``ports``) and use the static
payload types and ``--payload-type``. Each stream row carries Wireshark's figures, perceptq's
receiver figures, the call's SIP data, RTCP and XR figures about it, and the E-model
rating (G.107 narrowband or G.107.1 wideband; delay RTT/2 from RTCP unless given).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from perceptq.network import amr
from perceptq.network.payload import Codec, clock_for, codec_for, is_event, rate_stream
from perceptq.network.pcap import (
    ReadStats,
    RtpPacket,
    StreamKey,
    iter_datagrams,
    parse_rtp,
    port_of,
)
from perceptq.network.rtcp import RtcpTracker, looks_like_rtcp, voip_row
from perceptq.network.rtpstats import StreamAccumulator
from perceptq.network.sip import SipTracker, looks_like_sip
from perceptq.network.transport import gilbert_from_pattern
from perceptq.result import category_of

#: Streams with fewer packets get a note: their loss and jitter say little.
SHORT_STREAM = 10
_AMR_SAMPLE = 200  # packets whose AMR frame types name the codec mode
EF = 46
_SKIP_PORTS = {53, 67, 68, 123, 137, 138, 161, 162, 514, 1900, 5353}


@dataclass
class StreamResult:
    """One direction of a call (or a stream outside any call): every reported figure.

    The first sixteen fields are the columns ``perceptq rtp`` has always written. ``packets``
    counts unique packets and ``lost`` = expected − unique packets; Wireshark counts
    duplicates as received (``packets + duplicates``, ``lost − duplicates``).
    """

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
    rating: str = ""
    jitter_mean_ms: float = math.nan
    jitter_max_ms: float = math.nan
    jitter_final_ms: float = math.nan
    max_delta_ms: float = math.nan
    mean_delta_ms: float = math.nan
    clock_rate: int = 0
    ptime_ms: float = math.nan
    dscp: int = -1
    duplicates: int = 0
    reordered: int = 0
    call_id: str = ""
    direction: str = ""
    call_from: str = ""
    call_to: str = ""
    caller_ua: str = ""
    callee_ua: str = ""
    call_start_s: float = math.nan
    call_end_s: float = math.nan
    sip_status: int = 0
    delay_ms: float = 0.0
    delay_source: str = ""
    rtcp_rtt_ms: float = math.nan
    rtcp_far_loss_pct: float = math.nan
    rtcp_far_cum_lost: float = math.nan
    rtcp_far_jitter_ms: float = math.nan
    rtcp_sr_packets: int = -1
    xr: dict[str, float] = field(default_factory=dict)
    note: str = ""
    perceptual_mos: float = math.nan
    perceptual_mode: str = ""
    start_s: float = math.nan
    #: how well the decoded audio follows ``rtp --reference`` (0..1, see Score.diagnostics)
    reference_match: float = math.nan

    @property
    def packet_ms(self) -> float:
        return self.ptime_ms

    def to_row(self) -> dict[str, Any]:
        """Flat row: every field in order, XR metrics as ``xr_*`` columns."""
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "xr"}
        row.update(self.xr or voip_row(None))
        return row


@dataclass
class CallReport:
    """Streams and calls of one capture, with packets (when kept) and notes."""

    path: Path
    streams: list[StreamResult] = field(default_factory=list)
    packets: dict[StreamKey, list[RtpPacket]] = field(default_factory=dict)
    codecs: dict[StreamKey, Codec | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sip: SipTracker = field(default_factory=SipTracker)
    frames: int = 0

    def law(self, stats: Any, payload_types: Any = None) -> str | None:
        """G.711 law of a stream, or None (what :func:`perceptq.network.rtp.extract_audio` asks)."""
        codec = self.codecs.get((stats.ssrc, stats.src, stats.dst))
        return codec.law if codec else None


def _user_codecs(payload_types: dict[int, Any] | None) -> dict[int, Codec]:
    out = {}
    for pt, info in (payload_types or {}).items():
        wide = info.clock_rate >= 16000 and info.emodel_codec is None
        out[pt] = Codec(
            info.name, info.clock_rate, info.clock_rate, wide, info.emodel_codec, info.law
        )
    return out


def analyse_calls(
    path: str | Path,
    *,
    ports: set[int] | None = None,
    payload_types: dict[int, Any] | None = None,
    min_packets: int | None = None,
    delay_ms: float | None = None,
    keep_packets: bool = False,
) -> CallReport:
    """Analyse every call and RTP stream of a capture (see the module docstring).

    ``payload_types`` maps payload numbers to :class:`perceptq.network.rtp.PayloadType`
    (``--payload-type``); they win over the SDP. ``min_packets`` skips shorter streams
    with a note (default: report every stream, short ones with a note). ``delay_ms`` is
    the one-way network delay for the E-model; None = RTT/2 from RTCP when measured, else 0.

    Raises
    ------
    CaptureError
        If the file cannot be opened or is not a pcap/pcapng capture.
    """
    path = Path(path)
    name = path.name
    report = CallReport(path)
    stats = ReadStats()
    sip, rtcp = report.sip, RtcpTracker()
    user = _user_codecs(payload_types)
    user_map = {pt: (c.name, c.clock_rate) for pt, c in user.items()}
    accs: dict[StreamKey, StreamAccumulator] = {}
    rtpmaps: dict[StreamKey, dict[int, tuple[str, int]]] = {}
    found: dict[StreamKey, tuple[str, str, Any] | None] = {}  # SDP media at the first packet
    amr_modes: dict[StreamKey, Counter[int]] = {}  # AMR frame types of the first packets
    t0: float | None = None
    for ts, src, dst, dscp, is_tcp, data in iter_datagrams(path, stats):
        if t0 is None:
            t0 = ts
        t = ts - t0
        if is_tcp or not data or data[0] < 0x80:  # RTP and RTCP start with version 2
            if data and looks_like_sip(data):
                sip.feed(t, src, dst, bytes(data), tcp=is_tcp)
            continue
        if len(data) > 1 and 200 <= data[1] <= 207 and looks_like_rtcp(data):
            rtcp.feed(t, bytes(data))
            continue
        parsed = parse_rtp(data)
        if parsed is None:
            continue
        seq, rtp_ts, ssrc, pt, marker, payload = parsed
        key = (ssrc, src, dst)
        acc = accs.get(key)
        if acc is None:
            sport, dport = port_of(src), port_of(dst)
            known = sip.media_at(dst) or sip.media_at(src)
            if known is None:
                if ports is not None and sport not in ports and dport not in ports:
                    continue
                if ports is None and (sport in _SKIP_PORTS or dport in _SKIP_PORTS):
                    continue
            acc = accs[key] = StreamAccumulator(ssrc, src, dst, keep_packets=keep_packets)
            found[key] = known
            sdp_map = dict(known[2].rtpmap) if known else {}
            rtpmaps[key] = {**sdp_map, **user_map}
        acc.add(t, seq, rtp_ts, pt, marker, dscp, clock_for(pt, rtpmaps[key]), payload)
        if acc.total <= _AMR_SAMPLE and pt in rtpmaps[key]:
            _count_amr(amr_modes, key, rtpmaps[key][pt][0], payload, found[key], pt)
    report.notes.extend(stats.notes)
    report.frames = stats.frames
    chosen = []
    call_rtts: dict[str, list[float]] = {}
    for key, acc in sorted(accs.items(), key=lambda kv: kv[1].first_time):
        known = found[key]
        if known is None and ports is None and not acc.looks_like_rtp():
            continue
        if min_packets is not None and acc.total < min_packets:
            report.notes.append(
                f"{name}: stream SSRC {key[0]:#010x} {key[1]} -> {key[2]} has only "
                f"{acc.total} packet(s), need at least {min_packets}; skipped"
            )
            continue
        chosen.append((key, acc))
        src_rtcp = rtcp.sources.get(acc.ssrc)
        if known and src_rtcp:
            call_rtts.setdefault(known[0], []).extend(src_rtcp.rtts_ms)
    for key, acc in chosen:
        result, codec = _stream(
            name, acc, rtpmaps[key], user, found[key], sip, rtcp, delay_ms, call_rtts, amr_modes
        )
        report.streams.append(result)
        report.codecs[key] = codec
        if acc.packets is not None:
            report.packets[key] = acc.packets
    _call_notes(report, name)
    if not report.streams:
        where = f"on ports {sorted(ports)}" if ports else "(give --ports if RTP uses odd ports)"
        silent = [c for c in sip.calls.values() if c.offer is not None or c.answer is not None]
        sip_note = (
            f"; {len(silent)} SIP call(s) set up media that never came "
            f"({', '.join(c.call_id for c in silent[:3])}{', ...' if len(silent) > 3 else ''})"
            if silent
            else ""
        )
        skipped = [n for n in report.notes if n.endswith("; skipped")]
        if skipped:
            sip_note += f"; {len(skipped)} shorter stream(s) skipped: {skipped[0]}"
        report.notes.append(
            f"{name}: no RTP stream found among {stats.udp_datagrams} UDP datagram(s) "
            f"in {stats.frames} frame(s) {where}{sip_note}"
        )
    return report


def _stream(
    name: str,
    acc: StreamAccumulator,
    rtpmap: dict[int, tuple[str, int]],
    user: dict[int, Codec],
    known: tuple[str, str, Any] | None,
    sip: SipTracker,
    rtcp: RtcpTracker,
    delay_ms: float | None,
    call_rtts: dict[str, list[float]],
    amr_modes: dict[StreamKey, Counter[int]],
) -> tuple[StreamResult, Codec | None]:
    events = {pt for pt, (n, _) in rtpmap.items() if is_event(n)}
    pt = acc.main_payload_type(events)
    codec = user.get(pt) or codec_for(pt, rtpmap)
    mode_kbps = None
    if codec is not None and codec.name.lower() in ("amr", "amr-wb"):
        codec = replace(codec, octet_aligned=_octet_aligned(known, pt))
        seen = amr_modes.get((acc.ssrc, acc.src, acc.dst)) or Counter()
        speech = [ft for ft, _ in seen.most_common() if amr.mode_kbps(ft, wideband=codec.wideband)]
        mode_kbps = amr.mode_kbps(speech[0], wideband=codec.wideband) if speech else None
    clock = codec.clock_rate if codec else 0
    ws = acc.wireshark()
    mask = acc.lost_mask()
    expected = int(mask.size)
    lost = int(mask.sum())
    jitter, _ = acc.own_jitter_ms(clock)
    step = acc.timestamp_step()
    ptime = 1000 * step / clock if step and clock else math.nan
    notes = []
    call = sip.calls.get(known[0]) if known else None
    if known and known[2].ptime_ms and math.isnan(ptime):
        ptime = known[2].ptime_ms
    if known and "SAVP" in known[2].proto:
        notes.append("SRTP (RTP/SAVP): payload encrypted, header statistics only")
    dscp = acc.dscp.most_common(1)[0][0]
    if dscp != EF:
        notes.append(f"DSCP {dscp}, not EF (46): media is not prioritised")
    if acc.total < SHORT_STREAM:
        notes.append(
            f"short stream: {acc.total} packet(s); loss and jitter say little"
            if acc.total > 1
            else "one packet: no loss, jitter or MOS"
        )
    src_rtcp = rtcp.sources.get(acc.ssrc)
    rtt = statistics.fmean(src_rtcp.rtts_ms) if src_rtcp and src_rtcp.rtts_ms else math.nan
    res = StreamResult(
        capture=name, ssrc=acc.ssrc, src=acc.src, dst=acc.dst, payload_type=pt,
        codec=codec.name if codec else f"PT{pt}", packets=acc.unique, expected=expected,
        lost=lost, loss_pct=100.0 * lost / expected, burst_ratio=math.nan, jitter_ms=jitter,
        duration_s=acc.last_time - acc.first_time, r=math.nan, mos=math.nan, category="",
        jitter_mean_ms=ws.jitter_mean_ms, jitter_max_ms=ws.jitter_max_ms,
        jitter_final_ms=ws.jitter_final_ms, max_delta_ms=ws.max_delta_ms,
        mean_delta_ms=ws.mean_delta_ms, clock_rate=clock, ptime_ms=ptime, dscp=dscp,
        duplicates=acc.total - acc.unique, reordered=acc.reordered, rtcp_rtt_ms=rtt,
        xr=voip_row(src_rtcp.voip if src_rtcp else None), start_s=acc.first_time,
    )  # fmt: skip
    if src_rtcp and src_rtcp.sender_reports:
        res.rtcp_sr_packets = src_rtcp.sent_packets
    if src_rtcp and src_rtcp.last:
        blk = src_rtcp.last
        res.rtcp_far_loss_pct = 100 * blk.fraction_lost / 256
        res.rtcp_far_cum_lost = blk.cumulative_lost
        res.rtcp_far_jitter_ms = 1000 * blk.jitter / clock if clock else math.nan
    if call is not None and known is not None:
        res.call_id, res.call_from, res.call_to = call.call_id, call.from_, call.to
        res.caller_ua, res.callee_ua, res.sip_status = (
            call.caller_ua,
            call.callee_ua,
            call.status or 0,
        )
        res.call_start_s = call.start if call.start is not None else math.nan
        res.call_end_s = call.end if call.end is not None else math.nan
        receiver_side = (
            known[1] if sip.media_at(acc.dst) else ("callee" if known[1] == "caller" else "caller")
        )
        res.direction = "caller->callee" if receiver_side == "callee" else "callee->caller"
    if acc.total >= 2:
        res.burst_ratio = gilbert_from_pattern(mask).burst_ratio if not mask.all() else math.nan
        shared = call_rtts.get(res.call_id) or []
        res.delay_ms, res.delay_source = _delay(res, delay_ms, shared)
        rating = rate_stream(
            codec,
            loss_pattern=mask,
            jitter_ms=jitter,
            delay_ms=res.delay_ms,
            packet_ms=ptime,
            mode_kbps=mode_kbps,
            payload_type=pt,
        )
        res.r, res.mos, res.rating = rating.r, rating.mos, rating.scale
        res.category = category_of(rating.mos) if not math.isnan(rating.mos) else ""
        if res.delay_source.startswith("RTCP") and not math.isnan(rating.mos):
            notes.append(f"E-model one-way delay {res.delay_ms:.1f} ms = {res.delay_source}")
        if rating.note:
            notes.append(rating.note)
    res.note = "; ".join(notes)
    return res, codec


def _octet_aligned(known: tuple[str, str, Any] | None, pt: int) -> bool:
    return amr.octet_aligned(known[2].fmtp.get(pt, "") if known else "")


def _count_amr(modes: dict[StreamKey, Counter[int]], key: StreamKey, name: str,
               payload: bytes, known: tuple[str, str, Any] | None, pt: int) -> None:  # fmt: skip
    """Count the frame types (codec modes) of an AMR/AMR-WB packet, if it is one."""
    if name.lower() in ("amr", "amr-wb"):
        counter = modes.setdefault(key, Counter())
        for ft in amr.frame_types(payload, name.lower() == "amr-wb", _octet_aligned(known, pt)):
            counter[ft] += 1


def _delay(res: StreamResult, given: float | None, call_rtts: list[float]) -> tuple[float, str]:
    if given is not None:
        return given, "given (--delay)"
    if not math.isnan(res.rtcp_rtt_ms) and res.rtcp_rtt_ms > 0:
        return res.rtcp_rtt_ms / 2, "RTCP RTT/2"
    if call_rtts and statistics.fmean(call_rtts) > 0:
        return statistics.fmean(call_rtts) / 2, "RTCP RTT/2 (other direction of the call)"
    xr_rtt = res.xr.get("xr_round_trip_ms", math.nan)
    if not math.isnan(xr_rtt) and xr_rtt > 0:
        return xr_rtt / 2, "RTCP-XR RTT/2"
    return 0.0, "unknown (0 ms)"


def _call_notes(report: CallReport, name: str) -> None:
    """Note the calls whose SDP announced media that never showed up."""
    with_media = {s.call_id for s in report.streams if s.call_id}
    for call_id, call in report.sip.calls.items():
        if (call.offer is not None or call.answer is not None) and call_id not in with_media:
            report.notes.append(f"{name}: call {call_id}: SIP with SDP but no RTP media seen")
