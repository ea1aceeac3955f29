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
from collections.abc import Iterator
from dataclasses import dataclass, field
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


_ETH_VLAN = (0x8100, 0x88A8, 0x9100)
_TCP, _UDP = 6, 17


@dataclass
class ReadStats:
    """Counters of a capture read: frames, UDP datagrams, skipped packets, notes."""

    frames: int = 0
    udp_datagrams: int = 0
    truncated: int = 0
    fragments: int = 0
    notes: list[str] = field(default_factory=list)


def _ethertype_version(etype: int) -> int:
    return 4 if etype == 0x0800 else 6 if etype == 0x86DD else 0


def _network_offset(linktype: int, frame: bytes) -> tuple[int, int]:
    """(offset of the IP header, IP version or 0) in one frame of a link type."""
    n = len(frame)
    if linktype == 1:  # Ethernet, with 802.1Q/802.1ad tags
        if n < 14:
            return 0, 0
        off, etype = 14, (frame[12] << 8) | frame[13]
        while etype in _ETH_VLAN and n >= off + 4:
            etype, off = (frame[off + 2] << 8) | frame[off + 3], off + 4
        return off, _ethertype_version(etype)
    if linktype in (113, 276):  # Linux cooked capture v1 / v2
        off, at = (16, 14) if linktype == 113 else (20, 0)
        return (off, _ethertype_version((frame[at] << 8) | frame[at + 1])) if n >= off else (0, 0)
    if linktype in (0, 108):  # BSD loopback: address family, in either byte order
        if n < 4:
            return 0, 0
        fam = {struct.unpack_from("<I", frame)[0], struct.unpack_from(">I", frame)[0]}
        return 4, 4 if 2 in fam else 6 if fam & {24, 28, 30} else 0
    version = frame[0] >> 4 if n else 0  # raw IP (12, 14, 101, 228, 229)
    return 0, version if version in (4, 6) else 0


def _ip_text(raw: bytes, cache: dict[bytes, str]) -> str:
    text = cache.get(raw)
    if text is None:
        if len(raw) == 16:
            text = "[" + socket.inet_ntop(socket.AF_INET6, raw) + "]"
        else:
            text = socket.inet_ntop(socket.AF_INET, raw)
        cache[raw] = text
    return text


def _pcap_records(fh: Any, magic: bytes) -> Iterator[tuple[float, bytes]]:
    """Records of a classic pcap file, read with one struct call per record."""
    little = magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    divisor = 1e9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e6
    header = struct.Struct("<IIII" if little else ">IIII")
    fh.seek(24)
    read = fh.read
    while True:
        buf = read(16)
        if len(buf) < 16:
            if buf:
                raise dpkt.NeedData("cut record header")
            return
        sec, frac, caplen, _ = header.unpack(buf)
        if caplen > 0x4000000:
            raise dpkt.UnpackError(f"record of {caplen} bytes")
        data = read(caplen)
        if len(data) < caplen:
            raise dpkt.NeedData("cut record")
        yield sec + frac / divisor, data


Datagram = tuple[float, str, str, int, bool, bytes]  # time, src, dst, dscp, is_tcp, payload


def iter_datagrams(path: str | Path, stats: ReadStats | None = None) -> Iterator[Datagram]:
    """Stream the UDP datagrams and TCP segments of a capture, one at a time.

    Yields ``(time, src, dst, dscp, is_tcp, payload)``: ``time`` in seconds (capture
    clock), endpoints as ``ip:port`` (``[v6]:port``), the DSCP of the IP header. IP
    fragments and cut packets are counted in ``stats`` and skipped; a cut file ends the
    iteration with a note. Memory use does not grow with the file.

    Raises
    ------
    CaptureError
        If the file cannot be opened or is not a pcap/pcapng capture of a supported link type.
    """
    path = Path(path)
    stats = stats if stats is not None else ReadStats()
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot open ({exc.strerror})") from None
    cache: dict[bytes, str] = {}
    with fh:
        magic = fh.read(4)
        fh.seek(0)
        reader = _open_reader(path, fh)
        linktype = reader.datalink()
        records = _pcap_records(fh, magic) if magic in _PCAP_MAGICS else iter(reader)
        while True:
            try:
                ts, frame = next(records)
            except StopIteration:
                break
            except _PARSE_ERRORS:
                stats.notes.append(
                    f"{path}: capture is truncated (cut short) after {stats.frames} frames; "
                    "the rest is missing"
                )
                break
            stats.frames += 1
            off, version = _network_offset(linktype, frame)
            n = len(frame)
            if version == 4:
                if n < off + 20:
                    stats.truncated += 1
                    continue
                proto, dscp = frame[off + 9], frame[off + 1] >> 2
                if proto != _UDP and proto != _TCP:
                    continue
                if ((frame[off + 6] << 8) | frame[off + 7]) & 0x3FFF:  # MF flag or offset
                    stats.fragments += 1
                    continue
                end = off + ((frame[off + 2] << 8) | frame[off + 3])
                src_raw, dst_raw = frame[off + 12 : off + 16], frame[off + 16 : off + 20]
                l4 = off + (frame[off] & 0x0F) * 4
            elif version == 6:
                if n < off + 40:
                    stats.truncated += 1
                    continue
                proto = frame[off + 6]
                if proto != _UDP and proto != _TCP:
                    continue
                dscp = (((frame[off] & 0x0F) << 4) | (frame[off + 1] >> 4)) >> 2
                end = off + 40 + ((frame[off + 4] << 8) | frame[off + 5])
                src_raw, dst_raw = frame[off + 8 : off + 24], frame[off + 24 : off + 40]
                l4 = off + 40
            else:
                continue
            if proto == _UDP:
                stats.udp_datagrams += 1
                if n < l4 + 8:
                    stats.truncated += 1
                    continue
                sport, dport, ulen = struct.unpack_from("!HHH", frame, l4)
                end, start = l4 + ulen, l4 + 8
            else:
                if n < l4 + 20:
                    stats.truncated += 1
                    continue
                sport, dport = struct.unpack_from("!HH", frame, l4)
                start = l4 + (frame[l4 + 12] >> 4) * 4
            if end > n or start > end:
                stats.truncated += 1
                continue
            src = f"{_ip_text(src_raw, cache)}:{sport}"
            dst = f"{_ip_text(dst_raw, cache)}:{dport}"
            yield float(ts), src, dst, dscp, proto == _TCP, frame[start:end]
    if stats.truncated:
        stats.notes.append(
            f"{path}: {stats.truncated} truncated packet(s) skipped (snap length or cut file)"
        )


def port_of(endpoint: str) -> int:
    """The port of an ``ip:port`` endpoint."""
    return int(endpoint.rpartition(":")[2])


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
    truncated packets are noted, not fatal; IP fragments are skipped. Keeps every packet:
    for long captures use :mod:`perceptq.network.calls`, which streams.

    Raises
    ------
    CaptureError
        If the file cannot be opened or is not a pcap/pcapng capture of a supported link type.
    """
    stats = ReadStats()
    groups: dict[StreamKey, list[RtpPacket]] = defaultdict(list)
    for ts, src, dst, _, is_tcp, data in iter_datagrams(path, stats):
        if is_tcp:
            continue
        sport, dport = port_of(src), port_of(dst)
        if ports is not None:
            if sport not in ports and dport not in ports:
                continue
        elif sport in _SKIP_PORTS or dport in _SKIP_PORTS:
            continue
        parsed = parse_rtp(data)
        if parsed is None:
            continue
        seq, rtp_ts, ssrc, pt, marker, payload = parsed
        groups[(ssrc, src, dst)].append(
            RtpPacket(ts, src, dst, seq, rtp_ts, ssrc, pt, marker, payload)
        )
    return RawCapture(Path(path), dict(groups), stats.notes, stats.frames, stats.udp_datagrams)


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
