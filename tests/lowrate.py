"""Low-bitrate speech codecs for tests, through PyAV's bundled FFmpeg (a dev dependency).

``roundtrip(x, fs, "amrnb", 4750)`` encodes and decodes a mono float signal; the output
is trimmed or padded to the input's length (the codec's own delay is kept). Tests that
need a codec call :func:`require` first, which skips them when PyAV or the codec is
missing.
"""

from __future__ import annotations

import numpy as np
import pytest
import soxr

#: Encoder name and the rate it runs at, per short name.
CODECS = {"amrnb": ("libopencore_amrnb", 8000), "opus": ("libopus", 8000)}


def require(name: str) -> None:
    """Skip the calling test unless PyAV can encode ``name``."""
    av = pytest.importorskip("av")
    try:
        av.Codec(CODECS[name][0], "w")
    except Exception:  # the bundled FFmpeg was built without it
        pytest.skip(f"PyAV's FFmpeg has no {CODECS[name][0]} encoder")


def roundtrip(x: np.ndarray, fs: int, name: str, bitrate: int) -> np.ndarray:
    """``x`` (float, -1..1, rate ``fs``) through the codec at ``bitrate`` bit/s."""
    import av

    encoder, rate = CODECS[name]
    y = soxr.resample(x, fs, rate, quality="VHQ") if rate != fs else np.asarray(x)
    enc = av.CodecContext.create(encoder, "w")
    enc.sample_rate, enc.layout, enc.bit_rate = rate, "mono", bitrate
    enc.format = enc.codec.audio_formats[0].name
    enc.open()
    dec = av.CodecContext.create(encoder, "r")
    dec.sample_rate, dec.layout = rate, "mono"
    dec.open()
    size = enc.frame_size or rate // 50
    pcm = np.concatenate([np.clip(y, -1.0, 1.0), np.zeros(4 * size)])
    out, out_rate = [], rate

    def decode(packets) -> None:
        nonlocal out_rate
        for packet in packets:
            for frame in dec.decode(packet):
                a = frame.to_ndarray().astype(np.float64).reshape(-1)
                out.append(a / 32768.0 if frame.format.name.startswith("s16") else a)
                out_rate = frame.sample_rate

    for i in range(0, pcm.shape[0] - size + 1, size):
        block = pcm[i : i + size]
        if enc.format.name.startswith("s16"):
            data = np.round(block * 32767).astype(np.int16)[None, :]
        else:
            data = block.astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(data, format=enc.format.name, layout="mono")
        frame.sample_rate, frame.pts = rate, i
        decode(enc.encode(frame))
    decode(enc.encode(None))
    z = np.concatenate(out)
    if out_rate != fs:
        z = soxr.resample(z, out_rate, fs, quality="VHQ")
    n = x.shape[0]
    return z[:n] if z.shape[0] >= n else np.concatenate([z, np.zeros(n - z.shape[0])])
