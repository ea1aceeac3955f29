"""Captures with known impairments for the Wireshark comparisons: RTP with loss,
reordering, duplicates, jitter, marker bits, comfort noise and DSCP; SIP/SDP calls with
RTCP SR/RR and XR VoIP metrics. Everything here is written from the RFCs (3261, 4566,
3550, 3611), not copied from a capture."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import dpkt
import numpy as np

NTP_EPOCH = 2208988800


def frame(src: str, dst: str, data: bytes, *, dscp: int = 0, tcp: bool = False) -> bytes:
    """An Ethernet frame carrying ``data`` over UDP (or one TCP segment), IPv4 or IPv6."""
    (sh, sp), (dh, dp) = (_split(src), _split(dst))
    if tcp:
        l4 = dpkt.tcp.TCP(sport=sp, dport=dp, seq=1, flags=dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH,
                          data=data)  # fmt: skip
        proto = dpkt.ip.IP_PROTO_TCP
    else:
        l4 = dpkt.udp.UDP(sport=sp, dport=dp, data=data)
        l4.ulen = len(l4)
        proto = dpkt.ip.IP_PROTO_UDP
    if ":" in sh:
        import socket

        ip = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, sh),
                          dst=socket.inet_pton(socket.AF_INET6, dh), nxt=proto, hlim=64,
                          data=l4, fc=dscp << 2)  # fmt: skip
        ip.plen = len(l4)
        etype = dpkt.ethernet.ETH_TYPE_IP6
    else:
        ip = dpkt.ip.IP(src=bytes(map(int, sh.split("."))), dst=bytes(map(int, dh.split("."))),
                        p=proto, tos=dscp << 2, data=l4)  # fmt: skip
        ip.len = len(ip)
        etype = dpkt.ethernet.ETH_TYPE_IP
    if tcp:
        l4.sum = 0
    return bytes(dpkt.ethernet.Ethernet(data=ip, type=etype))


def _split(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


def rtp(seq: int, ts: int, ssrc: int, pt: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                       ts & 0xFFFFFFFF, ssrc) + payload  # fmt: skip


def write(path: Path, frames: list[tuple[float, bytes]]) -> Path:
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for t, f in sorted(frames, key=lambda x: x[0]):
            writer.writepkt(f, ts=t)
    return path


@dataclass
class Stream:
    """One RTP stream; ``packets`` lists (arrival time, seq, ts, pt, marker) as sent."""

    src: str
    dst: str
    ssrc: int
    pt: int = 0
    step: int = 160
    clock: int = 8000
    size: int = 160
    dscp: int = 46
    packets: list[tuple[float, int, int, int, bool]] = field(default_factory=list)

    def frames(self) -> list[tuple[float, bytes]]:
        payload = bytes(self.size)
        return [(t, frame(self.src, self.dst, rtp(s, ts, self.ssrc, pt, payload, m),
                          dscp=self.dscp)) for t, s, ts, pt, m in self.packets]  # fmt: skip


def impaired_stream(
    rng: np.random.Generator,
    n: int,
    *,
    src: str = "10.1.0.1:4000",
    dst: str = "10.1.0.2:5000",
    ssrc: int = 0x1111,
    seq0: int = 65000,
    ts0: int = 4294960000,
    t0: float = 1000.0,
    loss: float = 0.0,
    burst: int = 1,
    jitter_ms: float = 0.0,
    reorder: int = 0,
    duplicates: int = 0,
    markers: int = 0,
    cn_gap: bool = False,
    pt: int = 0,
    clock: int = 8000,
    ptime_ms: float = 20.0,
    dscp: int = 46,
) -> Stream:
    """A stream with known loss (bursts of ``burst``), Gaussian transit jitter, swapped
    neighbours, repeated packets, marker bits and a comfort-noise gap; the first and last
    ten packets are left clean so that the last packet to arrive is the highest."""
    step = round(clock * ptime_ms / 1000)
    s = Stream(src, dst, ssrc, pt, step, clock, dscp=dscp)
    lost = np.zeros(n, dtype=bool)
    if loss:
        starts = rng.choice(
            np.arange(10, n - 10 - burst), size=int(loss * n / burst), replace=False
        )
        for b in starts:
            lost[b : b + burst] = True
    sent = [k for k in range(n) if not lost[k]]
    times = t0 + np.array(sent) * ptime_ms / 1000
    times = times + np.abs(rng.normal(0, jitter_ms / 1000, len(sent))) if jitter_ms else times
    order = list(range(len(sent)))
    times = np.maximum.accumulate(times) + 1e-6 * np.arange(len(sent))
    for i in rng.choice(np.arange(10, len(sent) - 12), size=reorder, replace=False):
        order[i], order[i + 1] = order[i + 1], order[i]
    pkts = []
    for slot, i in enumerate(order):
        k = sent[i]
        pt_k = pt
        if cn_gap and n // 2 <= k < n // 2 + 5:
            pt_k = 13
        pkts.append((float(times[slot]), seq0 + k, ts0 + k * step, pt_k, False))
    if markers:
        for i in rng.choice(np.arange(10, len(pkts) - 10), size=markers, replace=False):
            t, q, ts, p, _ = pkts[i]
            pkts[i] = (t, q, ts, p, True)
    for i in rng.choice(np.arange(10, len(pkts) - 10), size=duplicates, replace=False):
        t, q, ts, p, m = pkts[i]
        pkts.append((t + 0.0005, q, ts, p, m))
    s.packets = sorted(pkts, key=lambda x: x[0])
    return s


def sip_message(first: str, headers: dict[str, str], sdp: str = "") -> bytes:
    lines = [first] + [f"{k}: {v}" for k, v in headers.items()]
    if sdp:
        lines += ["Content-Type: application/sdp"]
    lines += [f"Content-Length: {len(sdp.encode())}", "", ""]
    return ("\r\n".join(lines) + sdp).encode()


def sdp(addr: str, port: int, pts: list[int], rtpmap: dict[int, str], ptime: int = 20) -> str:
    body = [
        "v=0", f"o=- 1 1 IN IP4 {addr}", "s=call", f"c=IN IP4 {addr}", "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(map(str, pts))}",
        *[f"a=rtpmap:{pt} {enc}" for pt, enc in rtpmap.items()], f"a=ptime:{ptime}", "a=sendrecv",
    ]  # fmt: skip
    return "\r\n".join(body) + "\r\n"


def ntp(t: float) -> tuple[int, int]:
    sec = int(t) + NTP_EPOCH
    return sec & 0xFFFFFFFF, int((t - int(t)) * 2**32) & 0xFFFFFFFF


def sender_report(ssrc: int, t: float, rtp_ts: int, blocks: list[tuple] = ()) -> bytes:
    sec, frac = ntp(t)
    body = struct.pack("!IIIIII", ssrc, sec, frac, rtp_ts, 100, 16000)
    body += b"".join(_block(*b) for b in blocks)
    return struct.pack("!BBH", 0x80 | len(blocks), 200, len(body) // 4) + body


def receiver_report(ssrc: int, blocks: list[tuple]) -> bytes:
    body = struct.pack("!I", ssrc) + b"".join(_block(*b) for b in blocks)
    return struct.pack("!BBH", 0x80 | len(blocks), 201, len(body) // 4) + body


def _block(source: int, fraction: int, cum: int, hseq: int, jitter: int, lsr: int, dlsr: int):
    return struct.pack("!IIIIII", source, (fraction << 24) | (cum & 0xFFFFFF), hseq, jitter,
                       lsr, dlsr)  # fmt: skip


def xr_voip(reporter: int, source: int, values: dict[str, int]) -> bytes:
    v = values
    block = struct.pack(
        "!IBBBBHHHHBBBBBBBBBBHHH", source, v["loss"], v["discard"], v["bd"], v["gd"], v["bdur"],
        v["gdur"], v["rtd"], v["esd"], v["sig"] & 0xFF, v["noise"] & 0xFF, v["rerl"], v["gmin"],
        v["r"], v["xr"], v["mlq"], v["mcq"], v["rxc"], 0, v["jbn"], v["jbm"], v["jba"],
    )  # fmt: skip
    body = struct.pack("!I", reporter) + struct.pack("!BBH", 7, 0, 8) + block
    return struct.pack("!BBH", 0x80, 207, len(body) // 4) + body
