"""The wideband E-model (ITU-T G.107.1) and which model rates which codec."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perceptq.network import emodel, payload, wideband
from perceptq.network.emodel import EModelError


def test_wideband_r_scale_and_mos_mapping():
    res = wideband.rate_wideband("g722", delay_ms=0, jitter_ms=0, packet_ms=20)
    inp = emodel.EModelInput(t=40, ta=40, tr=80)  # jitter buffer one packet + one packet
    id_nb = emodel.delay_impairments(inp)["id"]
    assert res.r == pytest.approx(129 - 13 - id_nb) and 100 < res.r <= 129
    assert res.mos == pytest.approx(emodel.r_to_mos(res.r / 1.29))
    assert "G.107.1" in res.scale and res.verification.startswith("UNVERIFIED")
    best = wideband.rate_wideband("amr-wb", mode_kbps=23.05, packet_ms=20)
    worst = wideband.rate_wideband("amr-wb", mode_kbps=6.6, packet_ms=20)
    assert best.ie == 1 and worst.ie == 41 and best.r - worst.r == pytest.approx(40)
    far = wideband.rate_wideband("g722", delay_ms=300, packet_ms=20)
    assert far.r < res.r - 10  # the delay impairment applies on the wideband scale too


def test_no_rating_without_published_values():
    with pytest.raises(EModelError, match="no published Bpl,WB"):
        wideband.rate_wideband("g722", loss_pct=1.0)
    with pytest.raises(EModelError, match="no wideband Ie,WB known"):
        wideband.rate_wideband("opus")
    with pytest.raises(EModelError, match="no wideband Ie,WB known"):
        wideband.rate_wideband("amr-wb", mode_kbps=None)


def test_each_codec_gets_the_model_of_its_band():
    clean = np.zeros(100, dtype=bool)
    rate = {"loss_pattern": clean, "jitter_ms": 0.0, "delay_ms": 0.0, "packet_ms": 20.0}
    pcmu = payload.rate_stream(payload.codec_for(0, None), **rate)
    g722 = payload.rate_stream(payload.codec_for(9, None), **rate)
    opus = payload.rate_stream(payload.codec_for(111, {111: ("opus", 48000)}), **rate)
    speex_wb = payload.rate_stream(payload.describe("speex", 16000), **rate)
    assert pcmu.scale.startswith("MOS-CQE G.107 ") and pcmu.r <= 93.2
    assert g722.scale.startswith("MOS-CQEW G.107.1") and g722.r > 100
    for unrated in (opus, speex_wb):
        assert math.isnan(unrated.r) and "no narrowband R for a wideband call" in unrated.note
    assert payload.codec_for(9, None).audio_rate == 16000  # G.722: 8 kHz RTP clock
    assert payload.clock_for(9, None) == 8000 and payload.clock_for(101, None) == 0
    assert payload.clock_for(101, {101: ("telephone-event", 8000)}) == 0
    assert payload.clock_for(96, {96: ("AMR-WB", 16000)}) == 16000
