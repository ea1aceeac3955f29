"""perceptq's capture analysis against Wireshark's (Debian's ``tshark``, installed by .ci/run).

Per RTP stream: packets and lost exactly (Wireshark counts duplicates as received), max
delta and mean/max jitter within 0.02 ms or 1 %; RTCP round-trip within 1 ms; RTCP-XR VoIP
metrics equal. On the shared real captures and on captures built here with known loss,
reordering, duplicates, jitter, marker bits, comfort noise, IPv6, SIP/SDP and RTCP.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import capture_builder as cb
import numpy as np
import pytest

from perceptq.network.calls import analyse_calls

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed (see .ci/run)")
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "captures"
_LINE = re.compile(
    r"^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+(.*?)\s+(\d+)\s+"
    r"(-?\d+) \(([-\d.]+)%\)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+"
    r"([-\d.]+)\s*X?\s*$"
)


def _ep(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tshark_streams(path: Path) -> dict[tuple[int, str, str], dict[str, float]]:
    """``tshark -z rtp,streams`` (RTP heuristic on, for captures without SIP), by stream."""
    out = subprocess.run(
        [TSHARK, "-q", "-n", "-r", str(path), "--enable-heuristic", "rtp_udp", "-z",
         "rtp,streams"], capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    streams = {}
    for line in out.splitlines():
        m = _LINE.match(line)
        if m:
            g = m.groups()
            key = (int(g[4], 16), _ep(g[0], g[1]), _ep(g[2], g[3]))
            streams[key] = {"packets": int(g[6]), "lost": int(g[7]), "max_delta": float(g[11]),
                            "mean_jitter": float(g[13]), "max_jitter": float(g[14])}  # fmt: skip
    return streams


def _close(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= max(0.02, 0.01 * abs(theirs))


def agreement(path: Path) -> tuple[int, list[str]]:
    """(streams compared, disagreements) between perceptq and tshark for one capture."""
    theirs = tshark_streams(path)
    ours = {(s.ssrc, s.src, s.dst): s for s in analyse_calls(path).streams}
    problems = []
    for key, t in theirs.items():
        s = ours.get(key)
        if s is None:
            problems.append(f"{path.name} {key}: not found by perceptq")
            continue
        got = {"packets": s.packets + s.duplicates, "lost": s.lost - s.duplicates,
               "max_delta": s.max_delta_ms, "mean_jitter": s.jitter_mean_ms,
               "max_jitter": s.jitter_max_ms}  # fmt: skip
        for name in ("packets", "lost"):
            if got[name] != t[name]:
                problems.append(f"{path.name} {key}: {name} {got[name]} != tshark {t[name]}")
        for name in ("max_delta", "mean_jitter", "max_jitter"):
            if not _close(got[name], t[name]):
                problems.append(f"{path.name} {key}: {name} {got[name]:.4f} vs {t[name]}")
    return len(theirs), problems


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared captures not present")
def test_shared_real_captures_agree_with_tshark():
    total, problems = 0, []
    for path in sorted(SHARED.glob("*.pcap")):
        n, p = agreement(path)
        total, problems = total + n, problems + p
    assert total >= 8 and not problems, problems


SCENARIOS = {
    "clean-wrap": {},
    "random-loss": {"loss": 0.05},
    "burst-loss": {"loss": 0.08, "burst": 4},
    "jitter": {"jitter_ms": 6.0},
    "reordering": {"reorder": 6, "jitter_ms": 1.0},
    "duplicates": {"duplicates": 5},
    "markers-cn": {"markers": 4, "cn_gap": True, "jitter_ms": 2.0},
    "all": {"loss": 0.03, "burst": 2, "jitter_ms": 4.0, "reorder": 3, "duplicates": 3},
    "ipv6": {"src": "[2001:db8::1]:4000", "dst": "[2001:db8::2]:5000", "jitter_ms": 3.0},
    "pcma-30ms": {"pt": 8, "ptime_ms": 30.0, "jitter_ms": 2.0, "loss": 0.02},
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_built_captures_agree_with_tshark(tmp_path, name):
    rng = np.random.default_rng(sorted(SCENARIOS).index(name))
    stream = cb.impaired_stream(rng, 400, **SCENARIOS[name])
    path = cb.write(tmp_path / f"{name}.pcap", stream.frames())
    n, problems = agreement(path)
    assert n == 1 and not problems, problems
    s = analyse_calls(path).streams[0]
    lost = s.lost
    if "loss" in SCENARIOS[name]:
        assert lost > 0
    if "duplicates" in SCENARIOS[name]:
        assert s.duplicates == SCENARIOS[name]["duplicates"]
        assert s.lost == 0 or "loss" in SCENARIOS[name]
    if "reorder" in SCENARIOS[name]:
        assert s.reordered >= 1


# --- a SIP capture: two calls, both directions, RTCP SR/RR and XR ----------------------------

A, B = "10.0.0.1", "10.0.0.2"
XR_VALUES = {"loss": 13, "discard": 5, "bd": 40, "gd": 3, "bdur": 120, "gdur": 2300, "rtd": 84,
             "esd": 45, "sig": -20, "noise": -60, "rerl": 30, "gmin": 16, "r": 85, "xr": 127,
             "mlq": 39, "mcq": 37, "rxc": 0, "jbn": 40, "jbm": 80, "jba": 200}  # fmt: skip


def _invite(call_id, t, a_port, b_port, pts, rtpmap, frames, *, ua="perceptq-test-ua/1"):
    hdr = {
        "Via": f"SIP/2.0/UDP {A}:5060",
        "From": f"<sip:alice@{A}>;tag=1",
        "To": f"<sip:bob@{B}>",
        "Call-ID": call_id,
        "CSeq": "1 INVITE",
        "User-Agent": ua,
    }
    frames.append(
        (
            t,
            cb.frame(
                f"{A}:5060",
                f"{B}:5060",
                cb.sip_message(f"INVITE sip:bob@{B} SIP/2.0", hdr, cb.sdp(A, a_port, pts, rtpmap)),
            ),
        )
    )
    ok = {**hdr, "To": f"<sip:bob@{B}>;tag=2", "Server": "callee-pbx/9"}
    del ok["User-Agent"]
    frames.append((t + 0.05, cb.frame(f"{B}:5060", f"{A}:5060", cb.sip_message(
        "SIP/2.0 200 OK", ok, cb.sdp(B, b_port, pts, rtpmap)), tcp=False)))  # fmt: skip


def sip_call_capture(path: Path, rng: np.random.Generator) -> Path:
    frames: list[tuple[float, bytes]] = []
    t0 = 5000.0
    # call 1: PCMU + telephone-event, caller->callee marked EF, callee->caller not marked
    _invite("call-one@test", t0, 4000, 5000, [0, 101], {0: "PCMU/8000",
            101: "telephone-event/8000"}, frames)  # fmt: skip
    fwd = cb.impaired_stream(rng, 300, src=f"{A}:4000", dst=f"{B}:5000", ssrc=0xA1, t0=t0 + 1,
                             loss=0.03, jitter_ms=3.0, dscp=46)  # fmt: skip
    rev = cb.impaired_stream(rng, 300, src=f"{B}:5000", dst=f"{A}:4000", ssrc=0xB1, t0=t0 + 1.01,
                             jitter_ms=5.0, dscp=0)  # fmt: skip
    frames += fwd.frames() + rev.frames()
    for k in range(3):  # DTMF: telephone events in the caller's stream, same timestamp
        pkt = cb.rtp(65000 + 300 + k, 123456, 0xA1, 101, bytes(4), marker=k == 0)
        frames.append((t0 + 8.0 + 0.02 * k, cb.frame(f"{A}:4000", f"{B}:5000", pkt, dscp=46)))
    # RTCP (capture point at B): B's SR, A's RR 80 ms + DLSR later; then the reverse
    for i, ts in enumerate((t0 + 2.0, t0 + 4.0)):
        sec, frac = cb.ntp(ts)
        mid = ((sec & 0xFFFF) << 16) | (frac >> 16)
        frames.append(
            (ts, cb.frame(f"{B}:5001", f"{A}:4001", cb.sender_report(0xB1, ts, 1000 * i)))
        )
        dlsr = int(0.25 * 65536)
        rr = cb.receiver_report(0xA1, [(0xB1, 3, 4 + i, 300, 40, mid, dlsr)])
        frames.append((ts + 0.080 + 0.25, cb.frame(f"{A}:4001", f"{B}:5001", rr)))
    xr = cb.xr_voip(0xA1, 0xB1, XR_VALUES)
    frames.append((t0 + 6.0, cb.frame(f"{A}:4001", f"{B}:5001", xr)))
    bye = {
        "Via": f"SIP/2.0/UDP {A}:5060",
        "From": f"<sip:alice@{A}>;tag=1",
        "To": f"<sip:bob@{B}>;tag=2",
        "Call-ID": "call-one@test",
        "CSeq": "2 BYE",
    }
    frames.append(
        (
            t0 + 9.0,
            cb.frame(f"{A}:5060", f"{B}:5060", cb.sip_message(f"BYE sip:bob@{B} SIP/2.0", bye)),
        )
    )
    # call 2: Opus on dynamic payload type 111 (48 kHz RTP clock from the SDP)
    _invite("call-two@test", t0 + 20, 4100, 5100, [111], {111: "opus/48000/2"}, frames)
    opus = cb.impaired_stream(rng, 200, src=f"{B}:5100", dst=f"{A}:4100", ssrc=0xC1, t0=t0 + 21,
                              pt=111, clock=48000, jitter_ms=2.0)  # fmt: skip
    frames += opus.frames()
    return cb.write(path, frames)


def test_sip_calls_rtcp_and_xr_agree_with_tshark(tmp_path):
    path = sip_call_capture(tmp_path / "sip.pcap", np.random.default_rng(7))
    n, problems = agreement(path)
    assert n == 3 and not problems, problems
    report = analyse_calls(path)
    by = {s.ssrc: s for s in report.streams}
    one_fwd, one_rev, two = by[0xA1], by[0xB1], by[0xC1]
    assert one_fwd.call_id == one_rev.call_id == "call-one@test" and two.call_id == "call-two@test"
    assert (one_fwd.direction, one_rev.direction) == ("caller->callee", "callee->caller")
    assert one_fwd.caller_ua == "perceptq-test-ua/1" and one_fwd.callee_ua == "callee-pbx/9"
    assert one_fwd.codec == "PCMU" and one_fwd.dscp == 46 and "DSCP" not in one_fwd.note
    assert one_rev.dscp == 0 and "not EF" in one_rev.note
    assert (one_fwd.lost, one_fwd.packets, one_fwd.expected) == (9, 294, 303)  # 3 % + 3 DTMF
    assert (two.codec, two.clock_rate, two.ptime_ms) == ("opus", 48000, 20.0)
    assert "no narrowband R" in two.note and np.isnan(two.mos)
    assert one_fwd.sip_status == 200 and one_fwd.call_end_s == pytest.approx(9.0 + 0, abs=20)
    # RTCP: Wireshark's round-trip per RR, our mean RTT within 1 ms
    out = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-o", "rtcp.show_roundtrip_calculation:TRUE", "-o",
         "rtcp.roundtrip_min_threshhold:1", "-Y", "rtcp.roundtrip-delay", "-T", "fields", "-e",
         "rtcp.roundtrip-delay"], capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert len(out) == 2
    assert abs(one_rev.rtcp_rtt_ms - np.mean([float(x) for x in out])) <= 1.0
    assert one_rev.delay_source == "RTCP RTT/2" and one_rev.delay_ms == pytest.approx(40, abs=1)
    assert one_fwd.delay_source.startswith("RTCP RTT/2")  # the reverse direction's RTT
    assert one_rev.rtcp_far_loss_pct == pytest.approx(100 * 3 / 256)
    assert one_rev.rtcp_far_jitter_ms == pytest.approx(5.0)
    # XR VoIP metrics: tshark's fields equal ours
    fields = ["rtcp.xr.voipmetrics.burstdensity", "rtcp.xr.voipmetrics.gapdensity",
              "rtcp.xr.voipmetrics.burstduration", "rtcp.xr.voipmetrics.gapduration",
              "rtcp.xr.voipmetrics.rtdelay", "rtcp.xr.voipmetrics.esdelay",
              "rtcp.xr.voipmetrics.signallevel", "rtcp.xr.voipmetrics.noiselevel",
              "rtcp.xr.voipmetrics.rfactor", "rtcp.xr.voipmetrics.moslq",
              "rtcp.xr.voipmetrics.moscq", "rtcp.xr.voipmetrics.jbnominal",
              "rtcp.xr.voipmetrics.jbmax", "rtcp.xr.voipmetrics.jbabsmax",
              "rtcp.ssrc.fraction", "rtcp.ssrc.discarded"]  # fmt: skip
    cmd = [TSHARK, "-n", "-r", str(path), "-Y", "rtcp.xr.bt == 7", "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    theirs = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split("\t")
    xr = one_rev.xr
    ours = [xr["xr_burst_density"] * 256, xr["xr_gap_density"] * 256, xr["xr_burst_duration_ms"],
            xr["xr_gap_duration_ms"], xr["xr_round_trip_ms"], xr["xr_end_system_delay_ms"],
            xr["xr_signal_level_db"], xr["xr_noise_level_db"], xr["xr_r_factor"], xr["xr_mos_lq"],
            xr["xr_mos_cq"], xr["xr_jb_nominal_ms"], xr["xr_jb_maximum_ms"], xr["xr_jb_abs_max_ms"],
            xr["xr_loss_rate"] * 256, xr["xr_discard_rate"] * 256]  # fmt: skip
    assert [float(t) for t in theirs] == pytest.approx(ours, abs=1e-6)


def test_random_impairment_mixes_agree_with_tshark(tmp_path):
    """Twelve streams with random mixes of every impairment, in one capture."""
    rng = np.random.default_rng(2026)
    frames = []
    for k in range(12):
        opts = {
            "loss": float(rng.choice([0, 0.01, 0.05, 0.1])),
            "burst": int(rng.choice([1, 2, 5])),
            "jitter_ms": float(rng.choice([0, 1, 5, 15])),
            "reorder": int(rng.choice([0, 2, 5])),
            "duplicates": int(rng.choice([0, 1, 4])),
            "markers": int(rng.choice([0, 3])),
            "cn_gap": bool(rng.integers(2)),
            "pt": int(rng.choice([0, 8, 9, 18])),
            "ptime_ms": float(rng.choice([10, 20, 30])),
            "seq0": int(rng.integers(0, 65536)),
            "ts0": int(rng.integers(0, 2**32)),
        }
        stream = cb.impaired_stream(rng, 250, src=f"10.2.{k}.1:4000", dst=f"10.2.{k}.2:5000",
                                    ssrc=0x5000 + k, t0=1000.0 + k, **opts)  # fmt: skip
        frames += stream.frames()
    path = cb.write(tmp_path / "mixes.pcap", frames)
    n, problems = agreement(path)
    assert n == 12 and not problems, problems


def test_cli_prints_rtcp_and_xr_beside_our_figures(tmp_path):
    from typer.testing import CliRunner

    from perceptq.cli import app

    path = sip_call_capture(tmp_path / "sip.pcap", np.random.default_rng(7))
    res = CliRunner().invoke(app, ["rtp", str(path)])
    out = res.stdout
    assert "call-one@test callee->caller: RTCP RTT 80.0 ms" in out
    assert "receiver reports loss 1.2 % (perceptq 0.0 %)" in out
    assert "XR loss 5.1 %, discard 2.0 %" in out and "MOS-LQ 3.9, MOS-CQ 3.7" in out
    assert "E-model delay 40.0 ms one way = RTCP RTT/2" in out
    assert "46/0!" in out  # DSCP of each direction, the unmarked one flagged
