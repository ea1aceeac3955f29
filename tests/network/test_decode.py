"""Decoding RTP payloads beyond G.711 (PyAV's FFmpeg decoders): the shared real captures,
and G.722/Opus calls encoded here from the shipped speech, scored P.862.2 wideband."""

from __future__ import annotations

import json
from pathlib import Path

import capture_builder as cb
import numpy as np
import pytest
import soundfile as sf

from perceptq.network import calls, decode

av = pytest.importorskip("av")
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "captures"
CLEAN = ROOT / "reference_audio" / "clean" / "arctic_a0001_a0009.wav"


def _envelope(x: np.ndarray, fs: int) -> np.ndarray:
    hop = fs // 50
    n = x.size // hop
    return np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1))


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared captures not present")
def test_shared_captures_decode_to_the_same_speech(tmp_path):
    """Every codec of the shared calls decodes to 8.5 s of audio at its own rate, and the
    speech envelopes agree (the captures carry the same prompt)."""
    envelopes = {}
    for name, rate in [("g722", 16000), ("gsm", 8000), ("g729a", 8000), ("ilbc", 8000)]:
        report = calls.analyse_calls(SHARED / f"sip-rtp-{name}.pcap", keep_packets=True)
        written = decode.extract_streams(report, tmp_path)
        ((path, fs, wide),) = written.values()
        x, fs_read = sf.read(path)
        assert fs == fs_read == rate and wide == (name == "g722")
        assert 8.3 < x.size / fs < 8.7
        envelopes[name] = _envelope(x, fs)
    n = min(e.size for e in envelopes.values())
    for name, env in envelopes.items():
        r = np.corrcoef(env[10:n], envelopes["g722"][10:n])[0, 1]
        assert r > 0.6, (name, r)


def _encode(codec: str, audio16k: np.ndarray, rate: int, frame: int) -> list[bytes]:
    enc = av.CodecContext.create(codec, "w")
    enc.sample_rate, enc.layout, enc.format = rate, "mono", "s16"
    if codec == "libopus":
        enc.bit_rate = 32000
    enc.open()
    if rate != 16000:
        import soxr

        audio16k = soxr.resample(audio16k, 16000, rate)
    pcm = np.clip(audio16k * 32767, -32768, 32767).astype(np.int16)
    out = []
    for k in range(pcm.size // frame):
        fr = av.AudioFrame.from_ndarray(pcm[None, k * frame : (k + 1) * frame], format="s16",
                                        layout="mono")  # fmt: skip
        fr.sample_rate = rate
        out += [bytes(p) for p in enc.encode(fr)]
    return out


def _call(tmp_path: Path, codec: str, loss: float) -> Path:
    ref, fs = sf.read(CLEAN)
    assert fs == 16000
    rng = np.random.default_rng(int(loss * 100))
    if codec == "g722":
        payloads, pt, step, rtpmap = _encode("g722", ref, 16000, 320), 9, 160, {}
    else:
        payloads, pt, step = _encode("libopus", ref, 48000, 960), 111, 960
        rtpmap = {111: "opus/48000/2"}
    frames: list[tuple[float, bytes]] = []
    if rtpmap:
        hdr = {"Call-ID": "opus@t", "From": "<sip:a@10.0.0.1>", "To": "<sip:b@10.0.0.2>",
               "CSeq": "1 INVITE"}  # fmt: skip
        sdp = cb.sdp("10.0.0.2", 5000, [111], rtpmap)
        msg = cb.sip_message("INVITE sip:b@10.0.0.2 SIP/2.0", hdr, sdp)
        frames.append((99.0, cb.frame("10.0.0.1:5060", "10.0.0.2:5060", msg)))
    lost = rng.random(len(payloads)) < loss
    lost[:3] = False
    for k, payload in enumerate(payloads):
        if not lost[k]:
            pkt = cb.rtp(100 + k, 5000 + k * step, 0xD1, pt, payload)
            frames.append(
                (100 + 0.02 * k, cb.frame("10.0.0.1:4000", "10.0.0.2:5000", pkt, dscp=46))
            )
    return cb.write(tmp_path / f"{codec}-{loss}.pcap", frames)


@pytest.mark.parametrize("codec", ["g722", "opus"])
def test_wideband_call_decoded_and_scored_wideband(tmp_path, codec):
    from typer.testing import CliRunner

    from perceptq.cli import app

    runner = CliRunner()
    mos = []
    for loss in (0.0, 0.15):
        cap = _call(tmp_path, codec, loss)
        res = runner.invoke(app, ["rtp", str(cap), "--reference", str(CLEAN), "--json"])
        row = json.loads(res.stdout)[0]
        assert row["codec"].lower() == codec and row["perceptual_mode"] == "wb"
        mos.append(row["perceptual_mos"])
        if codec == "g722":  # G.107.1 rates G.722 without loss; never a narrowband R
            assert row["rating"] in ("MOS-CQEW G.107.1 wb", "")
            assert (row["r"] is None) == (loss > 0)
            if loss == 0:
                assert 100 < row["r"] <= 129
        else:
            assert row["r"] is None and row["rating"] == ""
    assert mos[0] > 3.0 and mos[1] < mos[0] - 0.3, mos
