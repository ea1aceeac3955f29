"""Read a generated 1 GB capture with perceptq's per-call analysis: time and peak memory.

Writes a pcap of G.711 calls (SIP INVITE/200 OK with SDP, then both directions of RTP,
20 ms packets, 1 % random loss, EF marking) of about ``--size-mb`` megabytes to a temporary
folder (never into the repository), then analyses it in a child process for each size in
``--sizes`` and prints wall time, packets per second and the child's peak RSS, so that a
bounded memory shows as the same peak for a tenth of the file and for the whole of it.
Each call's statistics are checked against the loss written.

    python benchmarks/capture_1gb.py                  # 100 MB and 1000 MB
    python benchmarks/capture_1gb.py --sizes 50       # a quick run
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FRAME = 14 + 20 + 8 + 12 + 160  # Ethernet + IPv4 + UDP + RTP + 20 ms of G.711
RECORD = 16 + FRAME
PACKETS_PER_DIRECTION = 15000  # 5 minutes per call


def _sip(call: int, src: str, dst: str, port: int, response: bool) -> bytes:
    sdp = (f"v=0\r\no=- {call} 1 IN IP4 {src}\r\ns=-\r\nc=IN IP4 {src}\r\nt=0 0\r\n"
           f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
           f"a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n")  # fmt: skip
    first = "SIP/2.0 200 OK" if response else f"INVITE sip:b@{dst} SIP/2.0"
    head = (f"{first}\r\nVia: SIP/2.0/UDP {src}:5060\r\nFrom: <sip:a{call}@x>;tag=1\r\n"
            f"To: <sip:b{call}@y>\r\nCall-ID: bench-{call}\r\nCSeq: 1 INVITE\r\n"
            f"User-Agent: bench\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp)}\r\n\r\n")  # fmt: skip
    return (head + sdp).encode()


def _ip(a: str) -> bytes:
    return bytes(map(int, a.split(".")))


def _frame(src: str, sport: int, dst: str, dport: int, payload: bytes, tos: int = 0xB8) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(udp), 0, 0, 64, 17, 0, _ip(src),
                     _ip(dst))  # fmt: skip
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp


def _rtp_block(src: str, sport: int, dst: str, dport: int, ssrc: int, n: int, t0: float,
               keep: np.ndarray) -> bytes:  # fmt: skip
    """The pcap records of one RTP direction, built with numpy (one template frame)."""
    template = np.frombuffer(_frame(src, sport, dst, dport, bytes(12 + 160)), dtype=np.uint8)
    k = np.flatnonzero(keep)
    rec = np.zeros((k.size, RECORD), dtype=np.uint8)
    t = t0 + 0.02 * k
    sec, usec = np.floor(t).astype(np.uint32), np.round((t % 1) * 1e6).astype(np.uint32)
    hdr = np.stack([sec, usec, np.full_like(sec, FRAME), np.full_like(sec, FRAME)], axis=1)
    rec[:, :16] = hdr.astype("<u4").view(np.uint8).reshape(-1, 16)
    rec[:, 16:] = template
    rtp = 16 + 42
    rec[:, rtp] = 0x80
    seq = (k & 0xFFFF).astype(">u2")
    rec[:, rtp + 2 : rtp + 4] = seq.view(np.uint8).reshape(-1, 2)
    ts = ((k * 160) & 0xFFFFFFFF).astype(">u4")
    rec[:, rtp + 4 : rtp + 8] = ts.view(np.uint8).reshape(-1, 4)
    rec[:, rtp + 8 : rtp + 12] = np.frombuffer(struct.pack("!I", ssrc), dtype=np.uint8)
    return rec.tobytes()


def write_capture(path: Path, size_mb: int, seed: int = 0) -> dict[str, int]:
    """Calls of two directions until the file holds ``size_mb`` MB; returns lost counts."""
    rng = np.random.default_rng(seed)
    lost: dict[str, int] = {}
    with path.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        call = 0
        while fh.tell() < size_mb * 1_000_000:
            a, b = (
                f"10.{call // 250 % 250}.{call % 250}.1",
                f"10.{call // 250 % 250}.{call % 250}.2",
            )
            t0 = 1_700_000_000 + 10.0 * call
            for i, (src, dst, port, resp) in enumerate([(a, b, 4000, False), (b, a, 5000, True)]):
                payload = _sip(call, src, dst, port, resp)
                frame = _frame(src, 5060, dst, 5060, payload, tos=0)
                fh.write(struct.pack("<IIII", int(t0), 1000 * (i + 1), len(frame), len(frame)))
                fh.write(frame)
            for d, (src, sport, dst, dport) in enumerate([(a, 4000, b, 5000), (b, 5000, a, 4000)]):
                keep = rng.random(PACKETS_PER_DIRECTION) >= 0.01
                keep[[0, -1]] = True
                ssrc = 0x10000 * (call + 1) + d
                lost[f"{ssrc}"] = int((~keep).sum())
                fh.write(_rtp_block(src, sport, dst, dport, ssrc, PACKETS_PER_DIRECTION,
                                    t0 + 1 + 0.001 * d, keep))  # fmt: skip
            call += 1
    return lost


def _child(path: str) -> None:
    """Analyse one capture; print time, packets and peak RSS as JSON (run in a subprocess)."""
    from perceptq.network.calls import analyse_calls

    start = time.perf_counter()
    report = analyse_calls(path)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    streams = {str(s.ssrc): s.lost for s in report.streams}
    calls = len({s.call_id for s in report.streams if s.call_id})
    packets = sum(s.packets for s in report.streams)
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib, "streams": streams,
                      "calls": calls, "packets": packets, "frames": report.frames}))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000], help="MB per capture")
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = ap.parse_args()
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"calls-{size}mb.pcap"
            t = time.perf_counter()
            lost = write_capture(path, size)
            written = time.perf_counter() - t
            out = subprocess.run([sys.executable, __file__, "--child", str(path)],
                                 capture_output=True, text=True, check=True)  # fmt: skip
            res = json.loads(out.stdout)
            ok = res["streams"] == lost
            mb = path.stat().st_size / 1e6
            print(f"{mb:7.0f} MB  {res['frames']:>9} frames  {res['calls']:>4} calls  "
                  f"{len(res['streams']):>5} streams  read in {res['seconds']:6.1f} s "
                  f"({res['frames'] / res['seconds'] / 1000:5.1f} k frames/s, "
                  f"{mb / res['seconds']:5.1f} MB/s)  peak RSS {res['peak_mib']:6.0f} MiB  "
                  f"lost per stream {'as written' if ok else 'MISMATCH'}  "
                  f"(written in {written:.0f} s)")  # fmt: skip
            path.unlink()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        main()
