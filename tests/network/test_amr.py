"""AMR and AMR-WB over RTP (RFC 4867): payloads packed here from storage-format frames are
unpacked, decoded and rated; the decoded audio equals FFmpeg's decoding of the frames."""

from __future__ import annotations

import capture_builder as cb
import numpy as np
import pytest

from perceptq.network import amr, calls, decode

av = pytest.importorskip("av")


def pack(frames: list[bytes], *, wideband: bool, octet_aligned: bool) -> bytes:
    """RFC 4867 payload from storage frames (header byte FT<<3|Q<<2, then speech bytes)."""
    bits_table = amr.WB_BITS if wideband else amr.NB_BITS
    if octet_aligned:
        toc = bytes(((i < len(frames) - 1) << 7) | (f[0] & 0x7C) for i, f in enumerate(frames))
        return bytes([0xF0]) + toc + b"".join(f[1:] for f in frames)
    value, nbits = 0xF, 4  # CMR 15: no request
    for i, f in enumerate(frames):
        value = (value << 6) | ((i < len(frames) - 1) << 5) | (f[0] >> 2 & 0x1F)
        nbits += 6
    for f in frames:
        bits = bits_table[f[0] >> 3]
        value = (value << bits) | (int.from_bytes(f[1:], "big") >> (8 * (len(f) - 1) - bits))
        nbits += bits
    pad = (-nbits) % 8
    return (value << pad).to_bytes((nbits + pad) // 8, "big")


def _decode_frames(name: str, rate: int, frames: list[bytes]) -> np.ndarray:
    ctx = av.CodecContext.create(name, "r")
    ctx.sample_rate, ctx.layout = rate, "mono"
    out = [fr.to_ndarray().ravel() for f in frames for fr in ctx.decode(av.Packet(f))]
    x = np.concatenate(out)
    return x.astype(np.float32) / 32768 if x.dtype == np.int16 else x.astype(np.float32)


def _capture(tmp_path, payloads, rtpmap, fmtp, step):
    clock = int(rtpmap.split("/")[1])
    body = cb.sdp("10.0.0.2", 5000, [97], {97: rtpmap})
    if fmtp:
        body += f"a=fmtp:97 {fmtp}\r\n"
    hdr = {"Call-ID": "amr@t", "From": "<sip:a@x>", "To": "<sip:b@y>", "CSeq": "1 INVITE"}
    msg = cb.sip_message("INVITE sip:b@10.0.0.2 SIP/2.0", hdr, body)
    frames = [(9.0, cb.frame("10.0.0.1:5060", "10.0.0.2:5060", msg))]
    for k, p in enumerate(payloads):
        pkt = cb.rtp(k, k * step, 0xA3, 97, p)
        frames.append(
            (10 + k * step / clock, cb.frame("10.0.0.1:4000", "10.0.0.2:5000", pkt, dscp=46))
        )
    return cb.write(tmp_path / "amr.pcap", frames)


def _nb_frames() -> list[bytes]:
    import soxr
    from speech import sentence

    enc = av.CodecContext.create("libopencore_amrnb", "w")
    enc.sample_rate, enc.layout, enc.format, enc.bit_rate = 8000, "mono", "s16", 12200
    enc.open()
    x = soxr.resample(sentence("arctic_a0001.wav"), 16000, 8000)[: 8000 * 2]
    pcm = np.clip(x / (np.abs(x).max() + 1e-9) * 16000, -32768, 32767).astype(np.int16)
    out = []
    for k in range(pcm.size // 160):
        fr = av.AudioFrame.from_ndarray(pcm[None, k * 160 : (k + 1) * 160], format="s16",
                                        layout="mono")  # fmt: skip
        fr.sample_rate = 8000
        out += [bytes(p) for p in enc.encode(fr)]
    return out


@pytest.mark.parametrize("octet_aligned", [False, True])
def test_amr_nb_payloads_decode_like_their_frames(tmp_path, octet_aligned):
    frames = _nb_frames()
    assert {f[0] >> 3 for f in frames} == {7}  # 12.2 kbit/s
    payloads = [pack([f], wideband=False, octet_aligned=octet_aligned) for f in frames]
    fmtp = "octet-align=1" if octet_aligned else ""
    report = calls.analyse_calls(_capture(tmp_path, payloads, "AMR/8000", fmtp, 160),
                                 keep_packets=True)  # fmt: skip
    (s,) = report.streams
    assert (s.codec, s.clock_rate, s.call_id) == ("AMR", 8000, "amr@t")
    assert "no narrowband E-model parameters for AMR" in s.note  # G.113 has no AMR value
    audio, rate = decode.decode_stream(report.packets[(s.ssrc, s.src, s.dst)],
                                       report.codecs[(s.ssrc, s.src, s.dst)])  # fmt: skip
    expect = _decode_frames("amrnb", 8000, frames)
    assert rate == 8000 and np.array_equal(audio[: expect.size], expect)
    assert np.abs(expect).max() > 0.05


def test_amr_wb_mode_from_payload_rates_wideband_and_decodes(tmp_path):
    rng = np.random.default_rng(5)
    ft, bits = 2, amr.WB_BITS[2]  # 12.65 kbit/s
    frames = []
    for _ in range(100):
        value = int(rng.integers(0, 2**62)) << (bits - 62) | int(rng.integers(0, 2**62)) % 2 ** (
            bits - 62
        )
        pad = (-bits) % 8
        frames.append(bytes([(ft << 3) | 4]) + (value << pad).to_bytes((bits + pad) // 8, "big"))
    two = [pack(frames[k : k + 2], wideband=True, octet_aligned=False) for k in range(0, 100, 2)]
    assert [f[:2] for f in amr.frames(two[0], wideband=True, octet_aligned=False)] == [(2, 1)] * 2
    assert amr.storage_frames(two[3], wideband=True, octet_aligned=False) == frames[6:8]
    report = calls.analyse_calls(_capture(tmp_path, two, "AMR-WB/16000", "", 640),
                                 keep_packets=True)  # fmt: skip
    (s,) = report.streams
    assert s.codec == "AMR-WB" and s.clock_rate == 16000 and s.ptime_ms == 40
    assert s.rating == "MOS-CQEW G.107.1 wb", s.note
    assert 100 < s.r < 129 - 13 + 1e-9  # Ie,WB 13
    audio, rate = decode.decode_stream(report.packets[(s.ssrc, s.src, s.dst)],
                                       report.codecs[(s.ssrc, s.src, s.dst)])  # fmt: skip
    expect = _decode_frames("amrwb", 16000, frames)
    assert rate == 16000 and np.array_equal(audio[: expect.size], expect)
    with pytest.raises(ValueError, match="shorter"):
        amr.frames(two[0][:10], wideband=True, octet_aligned=False)
