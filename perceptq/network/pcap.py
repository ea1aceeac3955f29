"""Packet captures: RTP packets read from and written to pcap/pcapng files.

Reads pcap and pcapng files with dpkt (Ethernet, 802.1Q, Linux cooked v1/v2, raw IP,
BSD loopback; IPv4 and IPv6) and groups plausible RTP packets by SSRC and direction,
on the given UDP ports or on all UDP but a few well-known non-RTP ports. Writes RTP
packets as Ethernet/IP/UDP frames for test calls. Stream statistics are in
:mod:`perceptq.network.rtp`.
"""

from __future__ import annotations

import socket
import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dpkt

from perceptq.errors import PerceptqError

_RTCP_TYPES = range(72, 77)  # RTCP packet types 200-204 seen as an RTP marker + PT
_SKIP_PORTS = {53, 67, 68, 123, 137, 138, 161, 162, 514, 1900, 5353}


class CaptureError(PerceptqError, ValueError):
    """The capture cannot be read, or holds no usable RTP stream."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet as captured (``time`` in seconds, addresses as ``ip:port``)."""

    time: float
    src: str
    dst: str
    seq: int
    timestamp: int
    ssrc: int
    payload_type: int
    marker: bool
    payload: bytes


def parse_rtp(data: bytes) -> tuple[int, int, int, int, bool, bytes] | None:
    """Parse an RTP header (RFC 3550 §5.1); None if ``data`` is not plausible RTP.

    Returns (seq, timestamp, ssrc, payload_type, marker, payload).
    """
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    cc, ext, pad = data[0] & 0x0F, data[0] & 0x10, data[0] & 0x20
    pt, marker = data[1] & 0x7F, bool(data[1] & 0x80)
    if pt in _RTCP_TYPES or 35 <= pt <= 95:
        return None
    seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
    start = 12 + 4 * cc
    if ext:
        if len(data) < start + 4:
            return None
        start += 4 + 4 * struct.unpack_from("!H", data, start + 2)[0]
    end = len(data) - (data[-1] if pad else 0)
    if start > end:
        return None
    return seq, ts, ssrc, pt, marker, bytes(data[start:end])


_LINKTYPES = (0, 1, 12, 14, 101, 108, 113, 228, 229, 276)
_PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
_PARSE_ERRORS = (dpkt.NeedData, dpkt.UnpackError, ValueError, struct.error, IndexError)
StreamKey = tuple[int, str, str]  # (ssrc, src, dst)


def _ip_layer(linktype: int, frame: bytes) -> Any:
    if linktype == 1:  # Ethernet (802.1Q tags are handled by dpkt)
        return dpkt.ethernet.Ethernet(frame).data
    if linktype == 113:  # Linux cooked capture v1
        return dpkt.sll.SLL(frame).data
    if linktype == 276:  # Linux cooked capture v2
        return dpkt.sll2.SLL2(frame).data
    if linktype in (0, 108):  # BSD loopback / OpenBSD loop
        return dpkt.loopback.Loopback(frame).data
    if frame and frame[0] >> 4 == 6:  # raw IP (12, 14, 101, 228, 229)
        return dpkt.ip6.IP6(frame)
    return dpkt.ip.IP(frame)


def _endpoint(ip: Any, raw: bytes, port: int) -> str:
    if isinstance(ip, dpkt.ip6.IP6):
        return f"[{socket.inet_ntop(socket.AF_INET6, raw)}]:{port}"
    return f"{socket.inet_ntop(socket.AF_INET, raw)}:{port}"


def _open_reader(path: Path, fh: Any) -> Any:
    magic = fh.read(4)
    fh.seek(0)
    if not magic:
        raise CaptureError(f"{path}: file is empty")
    if magic != b"\x0a\x0d\x0d\x0a" and magic not in _PCAP_MAGICS:
        raise CaptureError(f"{path}: not a pcap or pcapng capture (starts with {magic.hex()})")
    try:
        reader = dpkt.pcapng.Reader(fh) if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(fh)
    except _PARSE_ERRORS as exc:
        raise CaptureError(f"{path}: unreadable capture header ({exc or 'truncated'})") from None
    if reader.datalink() not in _LINKTYPES:
        raise CaptureError(f"{path}: link type {reader.datalink()} is not supported")
    return reader


@dataclass
class RawCapture:
    """RTP candidates of one capture, grouped by (SSRC, source, destination)."""

    path: Path
    groups: dict[StreamKey, list[RtpPacket]]
    notes: list[str]
    frames: int
    udp_datagrams: int


def read_capture(path: str | Path, *, ports: set[int] | None = None) -> RawCapture:
    """Read a capture and group plausible RTP packets by (SSRC, src, dst).

    With ``ports``, UDP datagrams to or from one of them are parsed as RTP; without, all
    UDP except a few well-known non-RTP ports (DNS, DHCP, NTP, …). Truncated files and
    truncated packets are noted, not fatal; IP fragments are skipped.

    Raises
    ------
    CaptureError
        If the file cannot be opened or is not a pcap/pcapng capture of a supported link type.
    """
    path = Path(path)
    notes: list[str] = []
    groups: dict[StreamKey, list[RtpPacket]] = defaultdict(list)
    frames = udp_count = truncated = 0
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open ({exc.strerror})") from None
    with fh:
        reader = _open_reader(path, fh)
        linktype = reader.datalink()
        records = iter(reader)
        while True:
            try:
                ts, frame = next(records)
            except StopIteration:
                break
            except _PARSE_ERRORS:
                notes.append(f"{path}: capture is truncated after {frames} frames")
                break
            frames += 1
            try:
                ip = _ip_layer(linktype, frame)
            except _PARSE_ERRORS:
                truncated += 1
                continue
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                continue
            if isinstance(ip, dpkt.ip.IP) and (ip.mf or ip.offset):
                continue
            udp = ip.data
            if not isinstance(udp, dpkt.udp.UDP):
                if ip.p == dpkt.ip.IP_PROTO_UDP:
                    truncated += 1
                continue
            udp_count += 1
            if len(udp.data) < udp.ulen - 8:
                truncated += 1
                continue
            if ports is not None:
                if udp.sport not in ports and udp.dport not in ports:
                    continue
            elif udp.sport in _SKIP_PORTS or udp.dport in _SKIP_PORTS:
                continue
            parsed = parse_rtp(bytes(udp.data))
            if parsed is None:
                continue
            seq, rtp_ts, ssrc, pt, marker, payload = parsed
            src = _endpoint(ip, ip.src, udp.sport)
            dst = _endpoint(ip, ip.dst, udp.dport)
            groups[(ssrc, src, dst)].append(
                RtpPacket(float(ts), src, dst, seq, rtp_ts, ssrc, pt, marker, payload)
            )
    if truncated:
        notes.append(f"{path}: {truncated} truncated packet(s) skipped (snap length or cut file)")
    return RawCapture(path, dict(groups), notes, frames, udp_count)


def _endpoint_bytes(endpoint: str) -> tuple[bytes, int, bool]:
    host, _, port = endpoint.rpartition(":")
    v6 = host.startswith("[")
    family = socket.AF_INET6 if v6 else socket.AF_INET
    return socket.inet_pton(family, host.strip("[]")), int(port), v6


def write_capture(path: str | Path, packets: list[RtpPacket], *, fmt: str = "pcap") -> Path:
    """Write RTP packets as Ethernet/IP/UDP frames to a pcap or pcapng file.

    For test calls and demonstrations: each packet is sent at ``packet.time`` from
    ``packet.src`` to ``packet.dst`` (``ip:port`` or ``[ipv6]:port``) with a plain RTP
    header (no CSRC, extension or padding).
    """
    path = Path(path)
    with path.open("wb") as fh:
        writer = dpkt.pcapng.Writer(fh) if fmt == "pcapng" else dpkt.pcap.Writer(fh)
        for p in packets:
            (src, sport, v6), (dst, dport, _) = _endpoint_bytes(p.src), _endpoint_bytes(p.dst)
            rtp_header = struct.pack(
                "!BBHII",
                0x80,
                (0x80 if p.marker else 0) | p.payload_type,
                p.seq & 0xFFFF,
                p.timestamp & 0xFFFFFFFF,
                p.ssrc,
            )
            udp = dpkt.udp.UDP(sport=sport, dport=dport, data=rtp_header + p.payload)
            udp.ulen = len(udp)
            if v6:
                ip: Any = dpkt.ip6.IP6(
                    src=src, dst=dst, nxt=dpkt.ip.IP_PROTO_UDP, hlim=64, data=udp
                )
                ip.plen = len(udp)
                eth_type = dpkt.ethernet.ETH_TYPE_IP6
            else:
                ip = dpkt.ip.IP(src=src, dst=dst, p=dpkt.ip.IP_PROTO_UDP, data=udp)
                ip.len = len(ip)
                eth_type = dpkt.ethernet.ETH_TYPE_IP
            writer.writepkt(bytes(dpkt.ethernet.Ethernet(data=ip, type=eth_type)), ts=p.time)
    return path
