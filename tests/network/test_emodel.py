"""Tests for perceptq.network.emodel (ITU-T G.107 E-model and the network-statistics mapping)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from perceptq.network import codecs as emodel_codecs
from perceptq.network import emodel
from perceptq.network import transport as emodel_network
from perceptq.network.emodel import EModelError, EModelInput, evaluate

# Published figures are given to 1-2 decimals; half a unit of the last digit.
ATOL_1DP = 0.05
ATOL_2DP = 0.005


def _voip(t: float) -> EModelInput:
    return EModelInput(t=t, ta=t, tr=2 * t)


# --- G.107 reference points ----------------------------------------------------------------


def test_default_case_reproduces_r_93_2_and_mos_4_41():
    res = evaluate(EModelInput())
    np.testing.assert_allclose(res.r, 93.206, atol=0.001)  # value printed by e-model tools
    np.testing.assert_allclose(res.mos, 4.41, atol=ATOL_2DP)
    assert res.category == "Good"
    np.testing.assert_allclose(res.parts["no"], -61.179, atol=0.001)
    np.testing.assert_allclose(res.is_, 1.4136, atol=0.0001)
    np.testing.assert_allclose(res.ro, 94.77, atol=ATOL_2DP)
    np.testing.assert_allclose(res.parts["iolr"], 0.44, atol=ATOL_2DP)
    np.testing.assert_allclose(res.parts["ist"], 0.0, atol=ATOL_2DP)
    np.testing.assert_allclose(res.parts["iq"], 0.97, atol=ATOL_2DP)
    np.testing.assert_allclose(res.parts["idle"], 0.15, atol=ATOL_2DP)
    assert res.parts["idte"] == 0.0  # T < 1 ms
    assert res.parts["idd"] == 0.0


@pytest.mark.parametrize(
    ("t", "id_", "r"),
    [(150, 3.82, 89.5), (200, 7.55, 85.8), (300, 20.7, 72.7), (400, 31.1, 62.3)],
)
def test_delay_check_points(t, id_, r):
    res = evaluate(_voip(t))
    id_tol = ATOL_2DP if t < 300 else ATOL_1DP
    np.testing.assert_allclose(res.id, id_, atol=id_tol)
    # 400 ms: the design note rounds R = 62.247 (93.206 + 0.149 - 31.108) up to 62.3.
    r_tol = ATOL_1DP if t < 400 else 0.06
    np.testing.assert_allclose(res.r, r, atol=r_tol)


@pytest.mark.parametrize(("r", "mos"), [(90, 4.34), (80, 4.02), (70, 3.60), (60, 3.10), (50, 2.58)])
def test_r_to_mos_check_values(r, mos):
    np.testing.assert_allclose(emodel.r_to_mos(r), mos, atol=ATOL_2DP)


def test_r_to_mos_range_and_monotonicity():
    assert emodel.r_to_mos(-5) == 1.0
    assert emodel.r_to_mos(3) == 1.0  # the polynomial gives 0.989 here
    assert emodel.r_to_mos(100) == 4.5
    assert emodel.r_to_mos(120) == 4.5
    assert math.isnan(emodel.r_to_mos(math.nan))
    grid = np.linspace(-10, 110, 1201)
    mos = np.array([emodel.r_to_mos(r) for r in grid])
    assert np.all(np.diff(mos) >= 0)
    assert mos.min() == 1.0 and mos.max() == 4.5


# --- delay impairment details --------------------------------------------------------------


def test_idd_zero_up_to_mt_and_scale_free_in_ta_over_mt():
    assert emodel.absolute_delay_impairment(100) == 0.0
    assert emodel.absolute_delay_impairment(250, mt=300) == 0.0
    # X = log2(Ta/mT) = 1: 25·(2^(1/6) − 3·(1 + 3^-6)^(1/6) + 2)
    expected = 25 * (2 ** (1 / 6) - 3 * (1 + 3.0**-6) ** (1 / 6) + 2)
    np.testing.assert_allclose(emodel.absolute_delay_impairment(200), expected, rtol=1e-12)
    np.testing.assert_allclose(emodel.absolute_delay_impairment(300, mt=150), expected)
    sharper = 25 * (2 ** (1 / 12) - 3 * (1 + 3.0**-12) ** (1 / 12) + 2)  # exponent 6·sT
    np.testing.assert_allclose(emodel.absolute_delay_impairment(200, st=2), sharper, rtol=1e-12)


def test_talker_echo_zero_below_1ms_even_with_high_stmr():
    p = EModelInput(t=0.5, ta=0.5, tr=1, stmr=25)
    assert emodel.talker_echo_impairment(p) == 0.0


def test_talker_echo_high_stmr_adds_sidetone_impairment():
    below = EModelInput(t=150, ta=150, tr=300, stmr=20.0)
    above = EModelInput(t=150, ta=150, tr=300, stmr=20.0 + 1e-9)
    ist = emodel.simultaneous_impairments(above)["ist"]
    plain = emodel.talker_echo_impairment(below)
    special = emodel.talker_echo_impairment(above)
    assert special - plain > 1e-4  # the two branches are distinguishable at this tolerance
    np.testing.assert_allclose(special, math.hypot(plain, ist), rtol=1e-6)


def test_talker_echo_low_stmr_uses_terv_plus_half_ist():
    below = EModelInput(t=150, ta=150, tr=300, stmr=9.0 - 1e-9)
    ist = emodel.simultaneous_impairments(below)["ist"]
    special = emodel.talker_echo_impairment(below)
    plain = emodel.talker_echo_impairment(EModelInput(t=150, ta=150, tr=300, stmr=9.0))
    assert abs(special - plain) > 1e-4
    # TERVs = TERV + Ist/2: the same as raising TELR by Ist/2 without the special case
    shifted = EModelInput(t=150, ta=150, tr=300, stmr=9.0, telr=65 + ist / 2)
    np.testing.assert_allclose(special, emodel.talker_echo_impairment(shifted), rtol=1e-6)


# --- codecs and packet loss -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "slope", "atol"),
    [
        ("g711", 3.8, ATOL_1DP),
        ("g729a", 4.4, ATOL_1DP),
        ("g723.1", 5.0, ATOL_1DP),
        ("g711-noplc", 22, 0.5),  # the description gives this slope as an integer
    ],
)
def test_codec_initial_loss_slopes_match_g113_description(codec, slope, atol):
    c = emodel_codecs.get_codec(codec)
    tiny = 1e-6
    got = (emodel.effective_equipment_impairment(c.ie, c.bpl, tiny, 1.0) - c.ie) / tiny
    np.testing.assert_allclose(got, slope, atol=atol)


def test_codec_examples():
    base = evaluate(EModelInput()).r
    g729a = emodel_network.rate_network("g729a", packet_ms=0, jitter_buffer_ms=0)
    np.testing.assert_allclose(base - g729a.r, 11.0, atol=1e-9)
    assert g729a.r_loss_codec == 11.0
    # G.711 + PLC, 2 % random loss: Ie,eff = 95·2/(2 + 25.1) = 7.011
    res = emodel_network.rate_network("g711", loss_pct=2, packet_ms=0, jitter_buffer_ms=0)
    np.testing.assert_allclose(res.ie_eff, 95 * 2 / 27.1, rtol=1e-12)
    # bursty loss costs more: BurstR 2 → 95·2/(1 + 25.1) = 7.280
    bursty = emodel_network.rate_network(
        "g711", loss_pct=2, burst_ratio=2, packet_ms=0, jitter_buffer_ms=0
    )
    np.testing.assert_allclose(bursty.ie_eff, 95 * 2 / 26.1, rtol=1e-12)
    assert bursty.r < res.r < base
    # without PLC the same loss is far worse
    noplc = emodel_network.rate_network("g711-noplc", loss_pct=2, packet_ms=0, jitter_buffer_ms=0)
    assert noplc.r < res.r - 20


def test_codec_table_rows_carry_their_verification_status():
    table = emodel_codecs.codec_table()
    assert {"g711", "g711-noplc", "g729a", "g723.1"} <= set(table)
    for codec in table.values():
        assert codec.verification
    assert "UNVERIFIED" in table["gsm-efr"].verification
    assert table["g729"].bpl is None
    assert emodel_codecs.get_codec("G.711").name == "g711"
    assert emodel_codecs.get_codec("PCMU").name == "g711"
    assert emodel_codecs.get_codec("G729A").name == "g729a"


def test_unknown_codec_lists_the_known_ones():
    with pytest.raises(EModelError, match=r"unknown codec 'opus'; known codecs: g711, .*g729a"):
        emodel_codecs.get_codec("opus")


def test_codec_without_bpl_needs_one_for_loss():
    assert emodel_network.rate_network("g729", jitter_buffer_ms=0).r_loss_packet == 0.0
    with pytest.raises(EModelError, match="g729 has no packet-loss robustness Bpl"):
        emodel_network.rate_network("g729", loss_pct=1)
    res = emodel_network.rate_network("g729", loss_pct=1, bpl=19.0, jitter_buffer_ms=0)
    np.testing.assert_allclose(res.ie_eff, 10 + 85 * 1 / 20.0)


def test_ie_and_bpl_can_be_given_directly():
    res = emodel_network.rate_network(None, ie=5, bpl=10, loss_pct=1, jitter_buffer_ms=0)
    np.testing.assert_allclose(res.ie_eff, 5 + 90 / 11)
    with pytest.raises(EModelError, match="Ie"):
        emodel_network.rate_network(None, loss_pct=1)


def test_breakdown_sums_to_100():
    res = emodel_network.rate_network(
        "g729a", loss_pct=3, burst_ratio=1.7, delay_ms=120, jitter_ms=15
    )
    total = res.r + sum(res.breakdown().values())
    np.testing.assert_allclose(total, 100.0, atol=1e-9)
    assert res.r_loss_delay > 0 and res.r_loss_packet > 0
    d = res.to_dict()
    assert d["r_loss_codec"] == 11.0 and d["category"] == emodel.category_of(d["mos"])


# --- network statistics mapping ------------------------------------------------------------


def test_mouth_to_ear_delay_adds_buffer_and_packetisation():
    res = emodel_network.rate_network("g711", delay_ms=100, jitter_ms=30, packet_ms=20)
    net = res.network
    assert net["jitter_buffer_ms"] == 60.0
    assert net["mouth_to_ear_ms"] == 100 + 60 + 20
    assert res.inputs.ta == res.inputs.t == 180 and res.inputs.tr == 360
    # a small jitter still gets a buffer of one packet
    small = emodel_network.rate_network("g711", jitter_ms=1, packet_ms=20).network
    assert small["jitter_buffer_ms"] == 20.0 and small["late_loss_pct"] < 1e-6


def test_late_packets_count_as_loss():
    res = emodel_network.rate_network("g711", loss_pct=2, jitter_ms=30, packet_ms=20)
    late = res.network["late_loss_pct"]
    np.testing.assert_allclose(late, 100 * 0.5 * math.erfc(2 / (math.sqrt(math.pi / 2))))
    np.testing.assert_allclose(res.inputs.ppl, 100 * (1 - 0.98 * (1 - late / 100)))
    no_jitter = emodel_network.rate_network("g711", loss_pct=2, packet_ms=20)
    assert no_jitter.inputs.ppl == 2 and res.r < no_jitter.r


def test_jitter_buffer_model_against_simulated_gaussian_transit():
    rng = np.random.default_rng(7)
    sigma = 12.0
    transit = rng.normal(0.0, sigma, 400_000)
    # RFC 3550 §6.4.1 estimator over consecutive packets (equal send spacing)
    j = 0.0
    for d in np.abs(np.diff(transit[:20_000])):
        j += (d - j) / 16
    mean_abs = float(np.mean(np.abs(np.diff(transit))))
    np.testing.assert_allclose(mean_abs, 2 * sigma / math.sqrt(math.pi), rtol=0.01)
    buf, late = emodel_network.jitter_buffer(mean_abs)
    np.testing.assert_allclose(buf, 2 * mean_abs)
    np.testing.assert_allclose(late, 100 * np.mean(transit > buf), rtol=0.05)
    assert 0.5 * mean_abs < j < 1.5 * mean_abs  # the running estimate tracks the mean


def test_gilbert_on_a_hand_counted_pattern():
    pattern = [0, 0, 1, 1, 0, 0, 0, 1, 1, 0]
    g = emodel_network.gilbert_from_pattern(pattern)
    # received followed by a packet: indices 0,1,4,5,6 → 2 go lost; lost: 2,3,7,8 → 2 recover
    np.testing.assert_allclose([g.p, g.q], [2 / 5, 2 / 4])
    np.testing.assert_allclose(g.burst_ratio, 1 / (0.4 + 0.5))
    assert g.loss_pct == 40.0


def _gilbert_pattern(rng, n, p, q):
    lost = np.zeros(n, dtype=bool)
    u = rng.random(n)
    state = False
    for i in range(n):
        state = (u[i] < p) if not state else (u[i] >= q)
        lost[i] = state
    return lost


@pytest.mark.parametrize(("p", "q"), [(0.01, 0.25), (0.03, 0.6), (0.05, 0.95)])
def test_gilbert_estimate_recovers_synthetic_parameters(p, q):
    rng = np.random.default_rng(11)
    lost = _gilbert_pattern(rng, 200_000, p, q)
    g = emodel_network.gilbert_from_pattern(lost)
    np.testing.assert_allclose([g.p, g.q], [p, q], rtol=0.08)
    np.testing.assert_allclose(g.burst_ratio, 1 / (p + q), rtol=0.08)
    # equivalent estimator: mean loss-run length × (1 − loss fraction)
    edges = np.diff(np.concatenate([[0], lost.astype(int), [0]]))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    np.testing.assert_allclose(g.burst_ratio, runs.mean() * (1 - lost.mean()), rtol=0.01)


def test_random_loss_has_burst_ratio_near_one():
    rng = np.random.default_rng(3)
    g = emodel_network.gilbert_from_pattern(rng.random(200_000) < 0.05)
    np.testing.assert_allclose(g.burst_ratio, 1.0, atol=0.03)
    assert emodel_network.gilbert_from_pattern(np.zeros(50, bool)).burst_ratio == 1.0


def test_loss_pattern_drives_rate_network():
    pattern = np.zeros(1000, dtype=bool)
    pattern[100:104] = pattern[500:504] = True
    res = emodel_network.rate_network("g711", loss_pattern=pattern, jitter_buffer_ms=0)
    assert res.network["network_loss_pct"] == 0.8
    g = emodel_network.gilbert_from_pattern(pattern)
    assert res.inputs.burst_r == g.burst_ratio > 3


def test_bad_inputs_are_rejected():
    with pytest.raises(EModelError, match="empty"):
        emodel_network.gilbert_from_pattern([])
    with pytest.raises(EModelError, match="no received packet"):
        emodel_network.gilbert_from_pattern([1, 1, 1])
    with pytest.raises(EModelError, match="ppl=120"):
        EModelInput(ppl=120)
    with pytest.raises(EModelError, match=r"burst_r=0\.5"):
        EModelInput(burst_r=0.5)
    with pytest.raises(EModelError, match="must be a finite number"):
        EModelInput(t=math.nan)
    with pytest.raises(EModelError, match="loss -1"):
        emodel_network.rate_network("g711", loss_pct=-1)
    with pytest.raises(EModelError, match="must not exceed 100"):
        emodel_network.rate_network("g711", loss_pct=101)
    with pytest.raises(EModelError, match="jitter"):
        emodel_network.rate_network("g711", jitter_ms=-3)


# --- perceptq emodel (CLI) ----------------------------------------------------------------


def _cli():
    from typer.testing import CliRunner

    from perceptq.cli import app

    return app, CliRunner()


def test_cli_single_call_prints_r_mos_and_breakdown():
    app, runner = _cli()
    args = ["emodel", "--codec", "g711", "--loss", "2", "--burst-ratio", "1.5"]
    res = runner.invoke(app, [*args, "--delay", "150", "--jitter", "30"])
    assert res.exit_code == 0, res.output
    expect = emodel_network.rate_network(
        "g711", loss_pct=2, burst_ratio=1.5, delay_ms=150, jitter_ms=30
    )
    shown = {
        m.group(1).strip(): float(m.group(2))
        for m in re.finditer(r"^\s*([A-Za-z -]+?)\s+(-?\d+\.\d+)", res.stdout, re.M)
    }
    expected = {
        "R": expect.r,
        "MOS-CQE": expect.mos,
        "delay": expect.r_loss_delay,
        "codec": expect.r_loss_codec,
        "packet loss": expect.r_loss_packet,
        "other": expect.r_loss_other,
    }
    for label, value in expected.items():
        np.testing.assert_allclose(shown[label], value, atol=ATOL_2DP, err_msg=label)
    assert f"({expect.category})" in res.stdout
    js = runner.invoke(app, [*args, "--json"])
    data = json.loads(js.stdout)
    again = emodel_network.rate_network("g711", loss_pct=2, burst_ratio=1.5)
    np.testing.assert_allclose(data["r"], again.r, rtol=1e-12)
    assert data["category"] == again.category and "r_loss_other" in data


def test_cli_single_call_errors_are_one_line():
    app, runner = _cli()
    res = runner.invoke(app, ["emodel", "--codec", "opus"])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "known codecs: g711" in res.stderr
    res = runner.invoke(app, ["emodel", "--loss-pattern", "00x1"])
    assert res.exit_code == 2 and "expected 0/1 per packet" in res.stderr
    res = runner.invoke(app, ["emodel", "-o", "x.csv"])
    assert res.exit_code == 2 and "need --input" in res.stderr
    pattern = runner.invoke(app, ["emodel", "--loss-pattern", "0000110000", "--json"])
    assert json.loads(pattern.stdout)["network"]["network_loss_pct"] == 20.0


CALLS = """call_id,site,codec,loss,burst_ratio,delay,jitter
1,paris,g711,0,,20,2
2,paris,g711,2,1.5,150,30
3,lyon,g729a,1,,80,10
4,lyon,g729,1,,80,10
"""


def test_cli_table_of_calls(tmp_path):
    import pandas as pd

    app, runner = _cli()
    calls = tmp_path / "calls.csv"
    calls.write_text(CALLS)
    out = tmp_path / "out.csv"
    res = runner.invoke(
        app, ["emodel", "--input", str(calls), "-o", str(out), "--group-by", "site"]
    )
    assert res.exit_code == 1, res.output  # row 4: G.729 without Bpl cannot rate a loss
    assert "MOS summary" in res.stdout and "paris" in res.stdout and "lyon" in res.stdout
    assert "line 5: codec g729 has no packet-loss robustness Bpl" in res.stderr
    df = pd.read_csv(out)
    assert list(df.columns[:7]) == [
        "call_id",
        "site",
        "codec",
        "loss",
        "burst_ratio",
        "delay",
        "jitter",
    ]
    assert list(df["status"]) == ["ok", "ok", "ok", "error"]
    expect = emodel_network.rate_network(
        "g711", loss_pct=2, burst_ratio=1.5, delay_ms=150, jitter_ms=30
    )
    row = df.iloc[1]
    np.testing.assert_allclose([row["r"], row["mos"]], [expect.r, expect.mos], rtol=1e-12)
    for column, value in expect.breakdown().items():
        np.testing.assert_allclose(row[column], value, rtol=1e-9, atol=1e-12)
    low = runner.invoke(app, ["emodel", "--input", str(calls), "-o", str(out), "--fail-below", "4"])
    assert low.exit_code == 3 and "2 call(s) below MOS 4" in low.stdout
    bad = runner.invoke(app, ["emodel", "--input", str(calls), "--group-by", "carrier"])
    assert bad.exit_code == 2 and "unknown column(s) carrier" in bad.stderr
    missing = runner.invoke(app, ["emodel", "--input", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "nope.csv: file not found" in missing.stderr
