"""perceptq rtp on awkward captures: one-line answers, notes instead of refusals, and the
SIP/SDP and RTCP parsing underneath the per-call view."""

from __future__ import annotations

import json
import math

import capture_builder as cb
import numpy as np
import pytest
from typer.testing import CliRunner

from perceptq.cli import app
from perceptq.network import calls, rtcp, sip

RUNNER = CliRunner()
HDR = {"Call-ID": "c1@t", "From": "<sip:a@10.0.0.1>;tag=9", "To": "<sip:b@10.0.0.2>",
       "CSeq": "1 INVITE", "User-Agent": "ua-a"}  # fmt: skip


def _invite(sdp_text: str, call_id: str = "c1@t") -> bytes:
    return cb.sip_message("INVITE sip:b@10.0.0.2 SIP/2.0", {**HDR, "Call-ID": call_id}, sdp_text)


def _run(*args: str):
    return RUNNER.invoke(app, ["rtp", *map(str, args)])


def test_sip_without_media_is_one_line(tmp_path):
    msg = _invite(cb.sdp("10.0.0.1", 4000, [0], {0: "PCMU/8000"}))
    cap = cb.write(
        tmp_path / "nomedia.pcap", [(1.0, cb.frame("10.0.0.1:5060", "10.0.0.2:5060", msg))]
    )
    res = _run(cap)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert "no RTP stream found" in res.stderr and "1 SIP call(s) set up media" in res.stderr
    assert "c1@t" in res.stderr and "Traceback" not in res.output


def test_one_packet_stream_is_reported_with_a_note(tmp_path):
    msg = _invite(cb.sdp("10.0.0.1", 4000, [0], {0: "PCMU/8000"}))
    pkt = cb.rtp(1, 160, 0x77, 0, bytes(160))
    cap = cb.write(tmp_path / "one.pcap", [
        (1.0, cb.frame("10.0.0.1:5060", "10.0.0.2:5060", msg)),
        (1.5, cb.frame("10.0.0.2:5000", "10.0.0.1:4000", pkt, dscp=46)),
    ])  # fmt: skip
    res = _run(cap, "--json")
    assert res.exit_code == 1, res.output  # no MOS for one packet
    (row,) = json.loads(res.stdout)
    assert row["packets"] == 1 and row["call_id"] == "c1@t" and row["mos"] is None
    assert "one packet" in row["note"] and "one packet" in res.stderr


def test_short_stream_reported_not_refused(tmp_path):
    s = cb.impaired_stream(np.random.default_rng(1), 30, dscp=46)
    s.packets = s.packets[:9]
    res = _run(cb.write(tmp_path / "short.pcap", s.frames()), "--json")
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert row["packets"] == 9 and row["mos"] > 4 and "short stream: 9 packet(s)" in row["note"]
    skipped = _run(tmp_path / "short.pcap", "--min-packets", "10")
    assert skipped.exit_code == 2 and "need at least 10" in skipped.stderr


def test_srtp_is_noted_and_not_decoded(tmp_path):
    sdp_text = cb.sdp("10.0.0.1", 4000, [0], {0: "PCMU/8000"}).replace("RTP/AVP", "RTP/SAVP")
    s = cb.impaired_stream(np.random.default_rng(2), 60, src="10.0.0.2:5000", dst="10.0.0.1:4000")
    frames = [(0.5, cb.frame("10.0.0.1:5060", "10.0.0.2:5060", _invite(sdp_text))), *s.frames()]
    cap = cb.write(tmp_path / "srtp.pcap", frames)
    res = _run(cap, "--json", "--extract", tmp_path / "wav")
    (row,) = json.loads(res.stdout)
    assert "SRTP" in row["note"] and row["packets"] == 60
    assert "SRTP payload is encrypted; not extracted" in res.stderr
    assert not list((tmp_path / "wav").glob("*.wav"))


def test_cut_capture_and_non_captures(tmp_path):
    s = cb.impaired_stream(np.random.default_rng(3), 100)
    data = cb.write(tmp_path / "full.pcap", s.frames()).read_bytes()
    (tmp_path / "cut.pcap").write_bytes(data[: len(data) // 2 + 7])
    res = _run(tmp_path / "cut.pcap", "--json")
    assert res.exit_code == 0 and "truncated (cut short) after 49 frames" in res.stderr
    assert json.loads(res.stdout)[0]["packets"] == 49
    (tmp_path / "web.pcap").write_text("GET / HTTP/1.1\r\n")
    for path, message in [(tmp_path / "web.pcap", "not a pcap or pcapng capture"),
                          (tmp_path / "none.pcap", "cannot open")]:  # fmt: skip
        res = _run(path)
        assert res.exit_code == 2 and res.stderr.count("\n") == 1 and message in res.stderr


def test_dscp_other_than_ef_is_warned(tmp_path):
    s = cb.impaired_stream(np.random.default_rng(4), 50, dscp=0)
    report = calls.analyse_calls(cb.write(tmp_path / "be.pcap", s.frames()))
    assert report.streams[0].dscp == 0 and "not EF (46)" in report.streams[0].note
    v6 = cb.impaired_stream(np.random.default_rng(4), 50, dscp=34, src="[2001:db8::1]:4000",
                            dst="[2001:db8::2]:5000")  # fmt: skip
    assert calls.analyse_calls(cb.write(tmp_path / "v6.pcap", v6.frames())).streams[0].dscp == 34


def test_sip_over_tcp_and_sdp_parsing(tmp_path):
    body = cb.sdp("10.0.0.1", 4000, [96, 0, 101], {96: "opus/48000/2", 0: "PCMU/8000",
                  101: "telephone-event/8000"}, ptime=40)  # fmt: skip
    (media,) = sip.parse_sdp(body)
    assert (media.endpoint(), media.payload_types, media.ptime_ms) == (
        "10.0.0.1:4000",
        [96, 0, 101],
        40.0,
    )
    assert media.rtpmap[96] == ("opus", 48000)
    tracker = sip.SipTracker()
    assert tracker.feed(1.0, "10.0.0.1:5060", "10.0.0.2:5060", _invite(body), tcp=True)
    cut = _invite(body, "c2@t")
    assert tracker.feed(1.1, "10.0.0.1:5060", "10.0.0.2:5060", cut[:-20], tcp=True)
    assert tracker.incomplete == 1 and "c2@t" not in tracker.calls
    call = tracker.calls["c1@t"]
    assert call.caller_ua == "ua-a" and call.from_ == "<sip:a@10.0.0.1>"
    assert call.negotiated() == (96, "opus", 48000, 40.0)
    assert tracker.media_at("10.0.0.1:4000")[:2] == ("c1@t", "caller")
    assert not sip.looks_like_sip(b"\x80\x00rtp")


def test_rtcp_round_trip_and_far_end_figures():
    tr = rtcp.RtcpTracker()
    sec, frac = cb.ntp(10.0)
    tr.feed(10.0, cb.sender_report(0xB, 10.0, 0))
    mid = ((sec & 0xFFFF) << 16) | (frac >> 16)
    tr.feed(10.5, cb.receiver_report(0xA, [(0xB, 64, 7, 100, 80, mid, 65536 // 4)]))
    info = tr.sources[0xB]
    assert info.rtts_ms == pytest.approx([250.0], abs=0.1)  # 500 ms − DLSR 250 ms
    assert (info.last.fraction_lost, info.last.cumulative_lost, info.last.jitter) == (64, 7, 80)
    zero = ["loss", "discard", "bd", "gd", "bdur", "gdur", "rtd", "esd", "sig", "noise", "rerl",
            "gmin", "xr", "rxc", "jbn", "jbm", "jba"]  # fmt: skip
    tr.feed(11.0, cb.xr_voip(0xA, 0xB, {**dict.fromkeys(zero, 0), "r": 127, "mlq": 41, "mcq": 127}))
    voip = tr.sources[0xB].voip
    assert math.isnan(voip.r_factor) and voip.mos_lq == 4.1 and math.isnan(voip.mos_cq)
    assert not rtcp.looks_like_rtcp(cb.rtp(1, 1, 1, 0, bytes(20)))
