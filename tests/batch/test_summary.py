"""Tests of perceptq.batch.summary on synthetic result tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from perceptq.batch.summary import below, format_summary, summarise
from perceptq.result import CATEGORIES, category_of


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 60
    mos = rng.uniform(1.0, 4.6, n)
    status = np.where(rng.random(n) < 0.1, "error", "ok")
    mos[status == "error"] = np.nan
    return pd.DataFrame(
        {
            "status": status,
            "mos": mos,
            "codec": rng.choice(["g711", "amr", "opus"], n),
            "bitrate": rng.choice([8, 16, 64], n),
        }
    )


def test_overall_counts_and_statistics(table):
    s = summarise(table)
    ok = table[table.status == "ok"].mos.to_numpy()
    o = s["overall"]
    assert o["count"] == len(table)
    assert o["ok"] == len(ok)
    assert o["errors"] == int((table.status == "error").sum())
    assert o["mean"] == pytest.approx(ok.mean())
    assert o["median"] == pytest.approx(np.median(ok))
    assert o["p5"] == pytest.approx(np.percentile(ok, 5))
    assert o["min"] == pytest.approx(ok.min())
    assert list(o["categories"]) == list(CATEGORIES)
    expected = {c: sum(category_of(m) == c for m in ok) for c in CATEGORIES}
    assert o["categories"] == expected
    assert sum(o["categories"].values()) == o["ok"]
    assert s["groups"] == []


def test_known_values_and_category_edges():
    df = pd.DataFrame({"status": ["ok"] * 5, "mos": [4.5, 4.0, 3.5, 3.0, 2.99]})
    o = summarise(df)["overall"]
    assert o["categories"] == {"Excellent": 1, "Good": 1, "Fair": 1, "Poor": 1, "Bad": 1}
    assert o["min"] == pytest.approx(2.99)
    assert o["median"] == pytest.approx(3.5)
    assert o["mean"] == pytest.approx((4.5 + 4.0 + 3.5 + 3.0 + 2.99) / 5)


def test_groups_match_subsets(table):
    s = summarise(table, group_by=["codec", "bitrate"])
    assert sum(g["count"] for g in s["groups"]) == len(table)
    for g in s["groups"]:
        sub = table[(table.codec == g["key"]["codec"]) & (table.bitrate == g["key"]["bitrate"])]
        ok = sub[sub.status == "ok"].mos
        assert g["count"] == len(sub)
        assert g["ok"] == len(ok)
        if len(ok):
            assert g["mean"] == pytest.approx(ok.mean())
            assert g["min"] == pytest.approx(ok.min())
    keys = [(g["key"]["codec"], g["key"]["bitrate"]) for g in s["groups"]]
    assert keys == sorted(keys)


def test_numeric_groups_sort_numerically():
    df = pd.DataFrame({"status": ["ok"] * 3, "mos": [3.0, 3.1, 3.2], "kbps": [64, 8, 16]})
    s = summarise(df, group_by=["kbps"])
    assert [g["key"]["kbps"] for g in s["groups"]] == [8, 16, 64]


def test_missing_group_values_and_all_error_group():
    df = pd.DataFrame(
        {
            "status": ["ok", "error", "ok"],
            "mos": [4.0, math.nan, 2.0],
            "site": ["a", "b", None],
        }
    )
    s = summarise(df, group_by=["site"])
    by_key = {g["key"]["site"]: g for g in s["groups"]}
    assert set(by_key) == {"a", "b", "(none)"}
    assert by_key["b"]["ok"] == 0 and by_key["b"]["errors"] == 1
    assert math.isnan(by_key["b"]["mean"])
    text = format_summary(s)
    assert "(none)" in text


def test_unknown_group_column_raises():
    df = pd.DataFrame({"status": ["ok"], "mos": [3.0]})
    with pytest.raises(KeyError, match="'codec'"):
        summarise(df, group_by=["codec"])


def test_without_status_column_finite_mos_is_ok():
    df = pd.DataFrame({"mos": [3.0, math.nan, 4.2]})
    o = summarise(df)["overall"]
    assert (o["ok"], o["errors"]) == (2, 1)


def test_ok_status_with_missing_mos_counts_as_error():
    df = pd.DataFrame({"status": ["ok", "ok"], "mos": [3.0, None]})
    assert summarise(df)["overall"]["errors"] == 1


def test_custom_mos_column():
    df = pd.DataFrame({"status": ["ok", "ok"], "score": [1.5, 4.6]})
    s = summarise(df, mos_column="score")
    assert s["overall"]["mean"] == pytest.approx(3.05)
    assert "score" in format_summary(s)


def test_format_summary_table(table):
    s = summarise(table, group_by=["codec"])
    text = format_summary(s)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("codec"))
    for name in ["ok", "errors", "mean", "median", "p5", "min", *CATEGORIES]:
        assert name in header.split()
    rows = {line.split()[0]: line.split() for line in lines if line.split()}
    for g in s["groups"]:
        cells = rows[g["key"]["codec"]]
        assert int(cells[1]) == g["ok"]
        assert float(cells[3]) == pytest.approx(g["mean"], abs=0.005)
    last = lines[-1].split()
    assert last[0] == "all"
    assert int(last[1]) == s["overall"]["ok"]
    assert int(last[2]) == s["overall"]["errors"]
    assert [int(x) for x in last[-5:]] == list(s["overall"]["categories"].values())


def test_format_summary_empty_table():
    s = summarise(pd.DataFrame({"status": [], "mos": []}))
    last = format_summary(s).splitlines()[-1].split()
    assert last[:3] == ["all", "0", "0"]
    assert last[3] == "-"


def test_below(table):
    hit = below(table, 3.0)
    expected = table[(table.status == "ok") & (table.mos < 3.0)]
    assert sorted(hit.index) == sorted(expected.index)
    assert list(hit.mos) == sorted(hit.mos)
    assert below(table, 0.5).empty


def test_below_ignores_error_rows():
    df = pd.DataFrame({"status": ["error", "ok"], "mos": [1.0, 1.2]})
    assert list(below(df, 2.0).mos) == [1.2]
