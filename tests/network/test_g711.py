"""Tests for perceptq.network.g711 (ITU-T G.711 µ-law and A-law)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from perceptq.network import g711

ATOL = 1e-12


def _int16_grid() -> np.ndarray:
    return np.arange(-32768, 32768, dtype=np.int64)


def _audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pytest.importorskip("audioop")


# Known code values from G.711 Tables 1 and 2, on the 16-bit PCM scale.
ULAW_KNOWN = [(0xFF, 0), (0x7F, 0), (0x80, 32124), (0x00, -32124), (0xFE, 8), (0xEF, 132)]
ALAW_KNOWN = [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256), (0xD4, 24)]


@pytest.mark.parametrize(("code", "pcm16"), ULAW_KNOWN)
def test_ulaw_known_decoded_values(code, pcm16):
    out = g711.decode_ulaw(np.array([code], dtype=np.uint8))
    np.testing.assert_allclose(out, [pcm16 / 32768], atol=ATOL)


@pytest.mark.parametrize(("code", "pcm16"), ALAW_KNOWN)
def test_alaw_known_decoded_values(code, pcm16):
    out = g711.decode_alaw(np.array([code], dtype=np.uint8))
    np.testing.assert_allclose(out, [pcm16 / 32768], atol=ATOL)


def test_zero_encodes_to_the_zero_codes():
    assert g711.encode_ulaw(np.zeros(3)).tolist() == [0xFF] * 3
    assert g711.encode_alaw(np.zeros(3)).tolist() == [0xD5] * 3
    assert g711.decode_alaw(np.array([0xD5], dtype=np.uint8))[0] > 0


def test_full_scale_clips_to_largest_codes():
    assert g711.encode_ulaw(np.array([1.0, -1.0, 5.0])).tolist() == [0x80, 0x00, 0x80]
    assert g711.encode_alaw(np.array([1.0, -1.0, 5.0])).tolist() == [0xAA, 0x2A, 0xAA]


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_every_code_round_trips(law):
    codes = np.arange(256, dtype=np.uint8)
    values = g711.decode(codes, law)
    again = g711.encode(values, law)
    # µ-law has two zero codes (0xFF, 0x7F); both decode to 0 which encodes as 0xFF.
    expected = np.where(codes == 0x7F, 0xFF, codes) if law == "ulaw" else codes
    np.testing.assert_array_equal(again, expected)


def test_ulaw_round_trip_error_within_half_step():
    x = _int16_grid() / 32768.0
    inside = np.abs(x) * g711.ULAW_SCALE < 8159
    x = x[inside]
    err = np.abs(g711.decode_ulaw(g711.encode_ulaw(x)) - x) * g711.ULAW_SCALE
    # In segment s the step is 2**(s+1) and (|x|·8192 + 33) >= 32·2**s.
    bound = np.maximum(1.0, (np.abs(x) * g711.ULAW_SCALE + 33) / 32)
    assert np.all(err <= bound + 1e-9)
    assert err.max() > 0.5 * bound[np.argmax(err)]  # the bound is tight, not vacuous


def test_alaw_round_trip_error_within_half_step():
    x = _int16_grid() / 32768.0
    err = np.abs(g711.decode_alaw(g711.encode_alaw(x)) - x) * g711.ALAW_SCALE
    bound = np.maximum(1.0, np.abs(x) * g711.ALAW_SCALE / 32)
    assert np.all(err <= bound + 1e-9)


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_quantiser_is_monotonic_and_odd(law):
    x = np.linspace(-1, 1, 40001)
    y = g711.decode(g711.encode(x, law), law)
    assert np.all(np.diff(y) >= 0)
    np.testing.assert_allclose(y[x > 0], -y[x < 0][::-1], atol=ATOL)


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_sine_snr_is_that_of_8_bit_log_pcm(law):
    t = np.arange(8000) / 8000
    x = 0.5 * np.sin(2 * np.pi * 441 * t)
    y = g711.decode(g711.encode(x, law), law)
    snr = 10 * np.log10(np.sum(x**2) / np.sum((y - x) ** 2))
    assert 35 < snr < 42  # G.711 gives about 38 dB over a wide level range


def test_decoding_agrees_with_an_independent_codec():
    audioop = _audioop()
    codes = bytes(range(256))
    ulaw = np.frombuffer(audioop.ulaw2lin(codes, 2), dtype="<i2") / 32768
    alaw = np.frombuffer(audioop.alaw2lin(codes, 2), dtype="<i2") / 32768
    all_codes = np.arange(256, dtype=np.uint8)
    np.testing.assert_allclose(g711.decode_ulaw(all_codes), ulaw, atol=ATOL)
    np.testing.assert_allclose(g711.decode_alaw(all_codes), alaw, atol=ATOL)


def test_encoding_agrees_with_an_independent_codec():
    # The 16 → 14/13-bit truncation of negative samples is outside G.711, so compare
    # on values that need none: multiples of 4 (µ-law) and non-negative multiples of 8
    # (A-law; the other codec offsets negative A-law inputs by one 13-bit step).
    audioop = _audioop()
    pcm = _int16_grid()
    mu = pcm[pcm % 4 == 0]
    ref = np.frombuffer(audioop.lin2ulaw(mu.astype("<i2").tobytes(), 2), dtype=np.uint8)
    np.testing.assert_array_equal(g711.encode_ulaw(mu / 32768), ref)
    a = pcm[(pcm % 8 == 0) & (pcm >= 0)]
    ref = np.frombuffer(audioop.lin2alaw(a.astype("<i2").tobytes(), 2), dtype=np.uint8)
    np.testing.assert_array_equal(g711.encode_alaw(a / 32768), ref)


def test_shape_is_preserved():
    x = np.linspace(-0.9, 0.9, 24).reshape(2, 3, 4)
    assert g711.encode_ulaw(x).shape == (2, 3, 4)
    assert g711.decode_alaw(g711.encode_alaw(x)).shape == (2, 3, 4)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="NaN or infinite"):
        g711.encode_ulaw(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="must be integers"):
        g711.decode_ulaw(np.array([0.5]))
    with pytest.raises(ValueError, match="0 … 255"):
        g711.decode_alaw(np.array([256]))
    with pytest.raises(ValueError, match="law must be"):
        g711.encode(np.zeros(2), "mulaw")
