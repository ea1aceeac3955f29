"""Tests for perceptq.network.rtp: captures built here from our own G.711-encoded speech."""

from __future__ import annotations

import io
import itertools
import math
import struct
from pathlib import Path

import dpkt
import numpy as np
import pytest
import soundfile as sf

from perceptq.network import calls, g711, rtp
from perceptq.network import transport as emodel_network

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CLEAN = ROOT / "reference_audio" / "clean"
FS = 8000
PKT = 160  # 20 ms of G.711
RTOL = 1e-9


def speech_8k() -> np.ndarray:
    """Speech at 8 kHz: a shipped clean recording, else a speech-like synthetic signal."""
    wavs = sorted(CLEAN.glob("*.wav")) if CLEAN.is_dir() else []
    if wavs:
        import soxr

        x, fs = sf.read(wavs[0], dtype="float64")
        x = x if x.ndim == 1 else x.mean(axis=1)
        return soxr.resample(x, fs, FS) if fs != FS else x
    rng = np.random.default_rng(0)
    t = np.arange(3 * FS) / FS
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    voiced = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / FS) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 1.5 * t), 0, None) ** 0.5
    return 0.2 * voiced * envelope + 0.003 * rng.standard_normal(t.size)


def rtp_bytes(seq, ts, ssrc, pt, payload, marker=False) -> bytes:
    header = struct.pack(
        "!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
    )
    return header + payload


def udp_frame(data: bytes, sport=40000, dport=40002, src=(10, 0, 0, 1), dst=(10, 0, 0, 2)):
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=bytes(src), dst=bytes(dst), p=dpkt.ip.IP_PROTO_UDP, data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(data=ip, type=dpkt.ethernet.ETH_TYPE_IP))


def write_capture(path: Path, frames: list[tuple[float, bytes]], fmt: str = "pcap") -> Path:
    with path.open("wb") as fh:
        writer = dpkt.pcapng.Writer(fh) if fmt == "pcapng" else dpkt.pcap.Writer(fh)
        for t, frame in frames:
            writer.writepkt(frame, ts=t)
    return path


class Call:
    """A G.711 call: codes per packet and the packets that reach the receiver."""

    def __init__(self, law="ulaw", seq0=65500, ts0=2**32 - 4000, ssrc=0x1234ABCD):
        self.law = law
        self.pt = 0 if law == "ulaw" else 8
        audio = speech_8k()
        n = audio.size // PKT
        self.codes = g711.encode(audio[: n * PKT], law).reshape(n, PKT)
        self.seq0, self.ts0, self.ssrc = seq0, ts0, ssrc
        self.n = n

    def packet(self, k: int) -> bytes:
        return rtp_bytes(
            self.seq0 + k, self.ts0 + k * PKT, self.ssrc, self.pt, self.codes[k].tobytes()
        )

    def frames(self, order, arrival):
        """Frames for packet indices ``order`` arriving at times ``arrival`` (s)."""
        return [
            (1000.0 + t, udp_frame(self.packet(k))) for k, t in zip(order, arrival, strict=True)
        ]


def independent_burst_ratio(lost: np.ndarray) -> float:
    rr = rl = lr = ll = 0
    for a, b in itertools.pairwise(lost):
        if not a:
            rl += bool(b)
            rr += not b
        else:
            lr += not b
            ll += bool(b)
    if rl + lr == 0:
        return 1.0
    return 1.0 / (rl / (rl + rr) + lr / (lr + ll))


def independent_jitter(arrival_s, rtp_ts, clock=FS) -> tuple[float, float]:
    """RFC 3550 §6.4.1 written out: returns (mean, max) of the running J in ms."""
    j, history = 0.0, []
    for i in range(1, len(arrival_s)):
        d = (arrival_s[i] - arrival_s[i - 1]) * clock - (rtp_ts[i] - rtp_ts[i - 1])
        j += (abs(d) - j) / 16
        history.append(j)
    return 1000 * np.mean(history) / clock, 1000 * np.max(history) / clock


def only_stream(report: calls.CallReport) -> calls.StreamResult:
    assert len(report.streams) == 1, report.notes
    return report.streams[0]


# --- statistics ------------------------------------------------------------------------------


def test_clean_stream_with_wraps(tmp_path):
    call = Call()
    cap = write_capture(
        tmp_path / "clean.pcap", call.frames(range(call.n), 0.02 * np.arange(call.n))
    )
    s = only_stream(calls.analyse_calls(cap))
    assert (s.packets, s.expected, s.lost, s.duplicates, s.reordered) == (call.n, call.n, 0, 0, 0)
    assert s.loss_pct == 0 and s.burst_ratio == 1.0
    assert s.jitter_ms < 1e-6  # timestamps step exactly with arrival times
    assert s.codec == "PCMU" and s.payload_type == 0 and s.ssrc == 0x1234ABCD
    assert s.src == "10.0.0.1:40000" and s.dst == "10.0.0.2:40002"
    np.testing.assert_allclose(s.duration_s, 0.02 * (call.n - 1), rtol=RTOL)
    np.testing.assert_allclose(s.packet_ms, 20.0)
    expect = emodel_network.rate_network("g711", packet_ms=20.0)
    np.testing.assert_allclose([s.r, s.mos], [expect.r, expect.mos], rtol=RTOL)
    assert s.category == expect.category


def _loss_pattern(n, rng, rate, bursty):
    if not bursty:
        return rng.random(n) < rate
    lost = np.zeros(n, dtype=bool)
    k = 0
    while k < n:  # bursts of 1-4 packets
        if rng.random() < rate / 2.5:
            lost[k : k + rng.integers(1, 5)] = True
            k += 5
        k += 1
    return lost


@pytest.mark.parametrize("bursty", [False, True])
def test_loss_and_burst_ratio_match_an_independent_count(tmp_path, bursty):
    call = Call()
    rng = np.random.default_rng(5)
    lost = _loss_pattern(call.n, rng, 0.08, bursty)
    lost[0] = lost[-1] = False  # edge losses are invisible to any receiver
    keep = np.flatnonzero(~lost)
    cap = write_capture(tmp_path / "loss.pcap", call.frames(keep, 0.02 * keep))
    s = only_stream(calls.analyse_calls(cap))
    assert s.expected == call.n and s.packets == keep.size and s.lost == int(lost.sum())
    np.testing.assert_allclose(s.loss_pct, 100 * lost.mean(), rtol=RTOL)
    np.testing.assert_allclose(s.burst_ratio, independent_burst_ratio(lost), rtol=RTOL)
    if bursty:
        assert s.burst_ratio > 1.5
    expect = emodel_network.rate_network(
        "g711", loss_pattern=lost, packet_ms=20.0, jitter_ms=s.jitter_ms
    )
    np.testing.assert_allclose(s.mos, expect.mos, rtol=RTOL)


def test_jitter_matches_rfc3550_computed_here(tmp_path):
    call = Call()
    rng = np.random.default_rng(9)
    arrival = 0.02 * np.arange(call.n) + 0.05 + rng.exponential(0.006, call.n)
    arrival = np.round(arrival * 1e6) / 1e6  # pcap keeps microseconds
    order = np.argsort(arrival, kind="stable")  # late packets overtake: reordering
    cap = write_capture(tmp_path / "jitter.pcap", call.frames(order, arrival[order]))
    s = only_stream(calls.analyse_calls(cap))
    ts = call.ts0 + order * PKT  # unwrapped RTP timestamps in arrival order
    mean_ms, max_ms = independent_jitter(arrival[order], ts)
    np.testing.assert_allclose([s.jitter_ms, s.jitter_max_ms], [mean_ms, max_ms], rtol=1e-6)
    assert s.jitter_ms > 2
    assert s.lost == 0 and s.reordered > 0
    seq = order
    assert s.reordered == int(np.sum(seq[1:] < np.maximum.accumulate(seq)[:-1]))


def test_duplicates_and_reordering_do_not_count_as_loss(tmp_path):
    call = Call()
    order = list(range(call.n))
    for k in range(10, call.n - 2, 17):  # swap neighbours
        order[k], order[k + 1] = order[k + 1], order[k]
    dup = [5, 6, 40, 41, 100]
    order = order + dup  # duplicates arrive at the end
    arrival = 0.02 * np.arange(len(order))
    cap = write_capture(tmp_path / "dup.pcap", call.frames(order, arrival))
    report = calls.analyse_calls(cap, keep_packets=True)
    s = only_stream(report)
    assert (s.packets, s.expected, s.lost, s.duplicates) == (call.n, call.n, 0, len(dup))
    assert s.reordered == len(range(10, call.n - 2, 17))
    audio = rtp.decode_g711(report.packets[(s.ssrc, s.src, s.dst)], "ulaw")
    np.testing.assert_array_equal(audio, g711.decode_ulaw(call.codes.ravel()))


# --- audio extraction ---------------------------------------------------------------------


@pytest.mark.parametrize(("law", "fmt"), [("ulaw", "pcap"), ("alaw", "pcapng")])
def test_extracted_audio_equals_encoded_audio_where_nothing_was_lost(tmp_path, law, fmt):
    call = Call(law=law, seq0=100, ts0=7)
    lost = np.zeros(call.n, dtype=bool)
    lost[[20, 21, 22, 60, 90]] = True
    keep = np.flatnonzero(~lost)
    cap = write_capture(tmp_path / f"x.{fmt}", call.frames(keep, 0.02 * keep), fmt=fmt)
    report = calls.analyse_calls(cap, keep_packets=True)
    s = only_stream(report)
    assert s.codec == ("PCMU" if law == "ulaw" else "PCMA")
    decoded = g711.decode(call.codes, law)  # (n, PKT)
    for conceal in (False, True):
        paths = rtp.extract_audio(report, tmp_path / f"out{conceal}", conceal=conceal)
        got, fs = sf.read(paths[(s.ssrc, s.src, s.dst)], dtype="float64")
        assert fs == FS and got.size == call.n * PKT
        got = got.reshape(call.n, PKT)
        np.testing.assert_array_equal(got[keep], decoded[keep])
        if not conceal:
            assert not got[lost].any()
        else:  # each lost packet repeats the last one received before it
            np.testing.assert_array_equal(got[[20, 21, 22]], decoded[[19, 19, 19]])
            np.testing.assert_array_equal(got[[60, 90]], decoded[[59, 89]])


# --- detection and bad input --------------------------------------------------------------------


def _noise_frames(rng) -> list[tuple[float, bytes]]:
    frames = []
    for k in range(60):
        dns = struct.pack("!HHHHHH", k, 0x0100, 1, 0, 0, 0) + b"\x03www\x00\x00\x01\x00\x01"
        frames.append((999.0 + 0.01 * k, udp_frame(dns, sport=5000 + k, dport=53)))
        junk = rng.integers(0, 256, 40, dtype=np.uint8).tobytes()
        frames.append((999.0 + 0.01 * k, udp_frame(junk, sport=6000, dport=6001)))
    tcp = dpkt.tcp.TCP(sport=80, dport=5555, data=b"\x80" * 60)
    ip = dpkt.ip.IP(src=b"\x0a\x00\x00\x05", dst=b"\x0a\x00\x00\x06", p=6, data=tcp)
    ip.len = len(ip)
    frames.append((999.5, bytes(dpkt.ethernet.Ethernet(data=ip, type=dpkt.ethernet.ETH_TYPE_IP))))
    return frames


def test_rtp_is_found_among_other_traffic(tmp_path):
    call = Call()
    frames = sorted(
        call.frames(range(call.n), 0.02 * np.arange(call.n))
        + _noise_frames(np.random.default_rng(1)),
        key=lambda f: f[0],
    )
    cap = write_capture(tmp_path / "mixed.pcap", frames)
    s = only_stream(calls.analyse_calls(cap))
    assert s.packets == call.n and s.lost == 0
    assert only_stream(calls.analyse_calls(cap, ports={40002})).packets == call.n
    report = calls.analyse_calls(cap, ports={7078})
    assert not report.streams and "no RTP stream found" in report.notes[-1]


def test_dynamic_payload_type_needs_a_mapping(tmp_path):
    call = Call()
    call.pt = 96
    cap = write_capture(tmp_path / "dyn.pcap", call.frames(range(call.n), 0.02 * np.arange(call.n)))
    s = only_stream(calls.analyse_calls(cap))
    assert math.isnan(s.mos) and "--payload-type 96=codec" in s.note
    pt_map = dict([rtp.parse_payload_type("96=pcmu")])
    s = only_stream(calls.analyse_calls(cap, payload_types=pt_map))
    assert s.codec == "PCMU" and s.mos > 4
    with pytest.raises(rtp.CaptureError, match="unknown codec 'opus'"):
        rtp.parse_payload_type("97=opus/48000")
    with pytest.raises(rtp.CaptureError, match="expected N=codec"):
        rtp.parse_payload_type("pcmu")


def test_stream_with_too_few_packets_is_reported(tmp_path):
    call = Call()
    cap = write_capture(tmp_path / "short.pcap", call.frames(range(4), 0.02 * np.arange(4)))
    report = calls.analyse_calls(cap, min_packets=10)
    assert not report.streams
    assert any("has only 4 packet(s), need at least 10; skipped" in n for n in report.notes)
    noted = only_stream(calls.analyse_calls(cap))  # by default reported, with a note
    assert noted.packets == 4 and "4 packet(s); loss and jitter say little" in noted.note


def test_malformed_captures_give_clear_errors(tmp_path):
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(rtp.CaptureError, match=r"empty\.pcap: file is empty"):
        calls.analyse_calls(empty)
    text = tmp_path / "notes.pcap"
    text.write_text("hello, this is not a capture\n")
    with pytest.raises(rtp.CaptureError, match="not a pcap or pcapng capture"):
        calls.analyse_calls(text)
    with pytest.raises(rtp.CaptureError, match="cannot open"):
        calls.analyse_calls(tmp_path / "missing.pcap")
    call = Call()
    for fmt in ("pcap", "pcapng"):
        cap = write_capture(
            tmp_path / f"cut.{fmt}", call.frames(range(call.n), 0.02 * np.arange(call.n)), fmt=fmt
        )
        data = cap.read_bytes()
        cap.write_bytes(data[: len(data) - 100])
        report = calls.analyse_calls(cap)
        assert report.streams and report.streams[0].packets >= call.n - 2
        assert any("truncated" in n for n in report.notes), report.notes
        header_only = tmp_path / f"hdr.{fmt}"
        header_only.write_bytes(data[:10])
        with pytest.raises(rtp.CaptureError, match="hdr"):
            calls.analyse_calls(header_only)


# --- network and perceptual MOS together ---------------------------------------------------


def test_network_and_perceptual_mos_both_fall_as_loss_rises(tmp_path):
    import perceptq

    call = Call(seq0=0, ts0=0)
    ref = tmp_path / "ref.wav"
    sf.write(ref, g711.decode(call.codes.ravel(), "ulaw"), FS, subtype="PCM_16")
    order = np.random.default_rng(4).permutation(np.arange(5, call.n - 5))
    network, perceptual = [], []
    for fraction in (0.0, 0.03, 0.08, 0.15):
        lost = np.zeros(call.n, dtype=bool)
        lost[order[: round(fraction * call.n)]] = True  # nested loss sets
        keep = np.flatnonzero(~lost)
        cap = write_capture(tmp_path / f"loss{fraction}.pcap", call.frames(keep, 0.02 * keep))
        report = calls.analyse_calls(cap, keep_packets=True)
        s = only_stream(report)
        assert s.lost == lost.sum()
        wav = rtp.extract_audio(report, tmp_path / f"x{fraction}")[(s.ssrc, s.src, s.dst)]
        network.append(s.mos)
        perceptual.append(perceptq.score(ref, wav, mode="nb").mos)
    assert np.all(np.diff(network) < 0), network
    assert np.all(np.diff(perceptual) < 0), perceptual
    assert perceptual[0] > 4.0  # nothing lost: the decoded audio is the reference itself


# --- perceptq rtp (CLI) ----------------------------------------------------------------------


def _cli():
    from typer.testing import CliRunner

    from perceptq.cli import app

    return app, CliRunner()


def test_cli_rtp_table_json_extract_and_reference(tmp_path):
    import json

    app, runner = _cli()
    call = Call()
    lost = np.zeros(call.n, dtype=bool)
    lost[[30, 31, 80]] = True
    keep = np.flatnonzero(~lost)
    cap = write_capture(tmp_path / "call.pcap", call.frames(keep, 0.02 * keep))
    res = runner.invoke(app, ["rtp", str(cap)])
    assert res.exit_code == 0, res.output
    header, row = res.stdout.splitlines()[:2]
    assert header.split()[:3] == ["ssrc", "src", "->"]
    assert "0x1234abcd" in row and "PCMU" in row and f"{100 * 3 / call.n:.2f}" in row
    js = runner.invoke(app, ["rtp", str(cap), "--json"])
    rows = json.loads(js.stdout)
    # the original columns come first, in order; the per-call and Wireshark fields follow
    assert list(rows[0])[:16] == [
        "capture",
        "ssrc",
        "src",
        "dst",
        "payload_type",
        "codec",
        "packets",
        "expected",
        "lost",
        "loss_pct",
        "burst_ratio",
        "jitter_ms",
        "duration_s",
        "r",
        "mos",
        "category",
    ]
    assert rows[0]["lost"] == 3 and rows[0]["ssrc"] == 0x1234ABCD
    ref = tmp_path / "ref.wav"
    sf.write(ref, speech_8k()[: call.n * PKT], FS, subtype="PCM_16")
    out_dir = tmp_path / "audio"
    both = runner.invoke(
        app, ["rtp", str(cap), "--extract", str(out_dir), "--reference", str(ref), "--json"]
    )
    assert both.exit_code == 0, both.output
    got = json.loads(both.stdout)[0]
    assert 1 <= got["perceptual_mos"] <= 4.6 and got["mos"] == rows[0]["mos"]
    assert len(list(out_dir.glob("call_1234abcd_*.wav"))) == 1


def test_cli_rtp_bad_input_is_one_line(tmp_path):
    app, runner = _cli()
    text = tmp_path / "notes.txt"
    text.write_text("not a capture")
    cases = {
        str(text): "not a pcap or pcapng capture",
        str(tmp_path / "missing.pcap"): "cannot open",
    }
    noise = write_capture(tmp_path / "noise.pcap", _noise_frames(np.random.default_rng(2)))
    cases[str(noise)] = "no RTP stream found"
    for path, message in cases.items():
        res = runner.invoke(app, ["rtp", path])
        assert res.exit_code == 2, (path, res.output)
        assert message in res.stderr and res.stderr.count("\n") == 1
        assert "Traceback" not in res.stderr + res.stdout
    bad_ports = runner.invoke(app, ["rtp", str(noise), "--ports", "5004-x"])
    assert bad_ports.exit_code == 2 and "--ports" in bad_ports.stderr
    bad_pt = runner.invoke(app, ["rtp", str(noise), "--payload-type", "96"])
    assert bad_pt.exit_code == 2 and "expected N=codec" in bad_pt.stderr


@pytest.mark.parametrize(
    ("src", "dst"),
    [("192.0.2.1:5004", "192.0.2.2:5006"), ("[2001:db8::1]:5004", "[2001:db8::2]:5006")],
)
def test_written_calls_read_back_over_ipv4_and_ipv6(tmp_path, src, dst):
    audio = speech_8k()
    packets = rtp.g711_call(audio, law="alaw", src=src, dst=dst, seq0=65530)
    del packets[50]
    cap = rtp.write_capture(tmp_path / "call.pcapng", packets, fmt="pcapng")
    report = calls.analyse_calls(cap, keep_packets=True)
    s = only_stream(report)
    assert (s.src, s.dst, s.codec, s.lost, s.packets) == (src, dst, "PCMA", 1, len(packets))
    decoded = rtp.decode_g711(report.packets[(s.ssrc, s.src, s.dst)], "alaw").reshape(-1, PKT)
    n = audio.size // PKT
    expect = g711.decode_alaw(g711.encode_alaw(audio[: n * PKT])).reshape(n, PKT)
    np.testing.assert_array_equal(np.delete(decoded, 50, axis=0), np.delete(expect, 50, axis=0))
    assert not decoded[50].any()


def test_cli_rtp_writes_the_stream_table_and_flags_unrated_streams(tmp_path):
    import pandas as pd

    app, runner = _cli()
    packets = rtp.g711_call(speech_8k())
    gsm = [
        rtp.RtpPacket(p.time, "192.0.2.30:7000", "192.0.2.40:7002", p.seq, p.timestamp,
                      0xABC, 3, False, p.payload[:33])
        for p in packets
    ]  # fmt: skip
    cap = rtp.write_capture(tmp_path / "two.pcap", sorted(packets + gsm, key=lambda p: p.time))
    out = tmp_path / "streams.csv"
    res = runner.invoke(app, ["rtp", str(cap), "-o", str(out)])
    assert res.exit_code == 1  # the GSM stream has no E-model parameters
    assert "no narrowband E-model parameters for GSM" in res.stderr
    df = pd.read_csv(out)
    assert list(df["codec"]) == ["PCMU", "GSM"] and df["mos"].isna().tolist() == [False, True]
    assert (df["packets"] == len(packets)).all() and (df["lost"] == 0).all()


def test_rtp_header_with_csrc_extension_and_padding():
    payload = bytes(range(20))
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 0x80 | 8, 7, 1234, 0xCAFE)
    csrc = struct.pack("!II", 1, 2)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"
    padding = b"\x00\x00\x03"
    parsed = rtp.parse_rtp(header + csrc + extension + payload + padding)
    assert parsed == (7, 1234, 0xCAFE, 8, True, payload)
    assert rtp.parse_rtp(b"\x40" + bytes(20)) is None  # version 1
    assert rtp.parse_rtp(b"\x80\xc8" + bytes(20)) is None  # RTCP sender report
    assert rtp.parse_rtp(b"\x8f\x00" + bytes(10)) is None  # 15 CSRCs do not fit


def test_linux_cooked_and_vlan_tagged_captures(tmp_path):
    packets = rtp.g711_call(speech_8k()[: 40 * PKT], src="10.1.1.1:5004", dst="10.1.1.2:5006")
    raw = rtp.write_capture(tmp_path / "eth.pcap", packets).read_bytes()
    frames = [buf for _, buf in dpkt.pcap.Reader(io.BytesIO(raw))]
    ips = [dpkt.ethernet.Ethernet(f).data for f in frames]
    sll = tmp_path / "sll.pcap"
    with sll.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh, linktype=dpkt.pcap.DLT_LINUX_SLL)
        for p, ip in zip(packets, ips, strict=True):
            frame = dpkt.sll.SLL(type=0, hrd=1, hlen=6, hdr=b"\x00" * 8, ethtype=0x0800, data=ip)
            writer.writepkt(bytes(frame), ts=p.time)
    vlan = tmp_path / "vlan.pcap"
    with vlan.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for p, f in zip(packets, frames, strict=True):
            tagged = f[:12] + b"\x81\x00\x00\x64" + f[12:]  # 802.1Q tag, VLAN 100
            writer.writepkt(tagged, ts=p.time)
    for cap in (sll, vlan):
        s = only_stream(calls.analyse_calls(cap))
        assert (s.packets, s.lost, s.src, s.codec) == (40, 0, "10.1.1.1:5004", "PCMU")


@pytest.mark.parametrize("command", ["rtp", "emodel"])
def test_cli_help_renders(command):
    app, runner = _cli()
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0, res.output
    assert "Exit codes" in res.stdout
