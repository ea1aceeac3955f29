"""``perceptq history`` against the batch summary computed on the same rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from perceptq.batch.sqlite_table import insert_row, iso_utc, transaction
from perceptq.batch.summary import summarise
from perceptq.cli import app
from perceptq.monitor.history import HistoryQueryError, Query, history
from perceptq.monitor.store import open_store

RTOL = 1e-9
T0 = 1_780_000_000.0  # 2026-05-28, a Thursday


def _rows(rng, n=600):
    out = []
    for i in range(n):
        ts = T0 + rng.uniform(0, 9 * 86400)
        status = "error" if rng.random() < 0.05 else "ok"
        mos = None if status == "error" else float(rng.uniform(1.0, 4.6))
        if status == "ok" and rng.random() < 0.03:
            mos = None  # a capture stream without a perceptual score
        out.append({"reference": "r.wav", "degraded": f"d{i}.wav", "status": status,
                    "mos": mos, "call_ts": ts, "file_path": f"/in/d{i}.wav",
                    "site": str(rng.choice(["lyon", "paris", "nice"])),
                    "codec": str(rng.choice(["g711", "opus"])) if i % 7 else None})  # fmt: skip
    return out


@pytest.fixture
def db(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "h.sqlite"
    con = open_store(path)
    rows = _rows(rng)
    with transaction(con):
        for row in rows:
            insert_row(con, row)
    yield path, con, pd.DataFrame(rows)
    con.close()


@pytest.mark.parametrize("every", ["hour", "day", "week"])
@pytest.mark.parametrize("group_by", [(), ("site",), ("site", "codec")])
def test_history_matches_the_batch_summary(db, every, group_by):
    _, con, frame = db
    got = history(con, Query(group_by, every, threshold=3.0))
    seconds, offset = {"hour": (3600, 0), "day": (86400, 0), "week": (604800, 3 * 86400)}[every]
    start = ((frame["call_ts"] + offset) // seconds) * seconds - offset
    frame = frame.assign(period=[iso_utc(t)[: 13 if every == "hour" else 10] for t in start])
    expected = summarise(frame, group_by=["period", *group_by])["groups"]
    assert len(got) == len(expected)
    by_key = {tuple(g["key"].values()): g for g in expected}
    for row in got:
        period = row["period"][:13] if every == "hour" else row["period"]
        key = (period, *("(none)" if row[c] is None else row[c] for c in group_by))
        want = by_key[key]
        members = frame[(frame["period"] == period)]
        for c in group_by:
            same = members[c].isna() if row[c] is None else members[c] == row[c]
            members = members[same]
        unscored = int(((members["status"] == "ok") & members["mos"].isna()).sum())
        assert row["calls"] == want["count"] == len(members)
        assert row["scored"] == want["ok"]
        assert row["errors"] == want["errors"] - unscored  # the summary counts them as errors
        for stat in ("mean", "median", "p5"):
            if want["ok"]:
                np.testing.assert_allclose(row[stat], want[stat], rtol=RTOL)
            else:
                assert math.isnan(row[stat])
        scored = members[(members["status"] == "ok") & members["mos"].notna()]["mos"]
        if len(scored):
            assert row["below"] == pytest.approx((scored < 3.0).mean())


def test_history_range_and_bad_columns(db):
    _, con, frame = db
    since, until = T0 + 86400, T0 + 3 * 86400
    got = history(con, Query((), "day", since=since, until=until))
    inside = frame[(frame["call_ts"] >= since) & (frame["call_ts"] < until)]
    assert sum(r["calls"] for r in got) == len(inside)
    with pytest.raises(HistoryQueryError, match="carrier"):
        history(con, Query(("carrier",)))
    with pytest.raises(HistoryQueryError, match="month"):
        history(con, Query((), "month"))


def test_history_cli(db, tmp_path):
    path, _, frame = db
    runner = CliRunner()
    res = runner.invoke(app, ["history", "--db", str(path), "--group-by", "site", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert sum(r["calls"] for r in rows) == len(frame)
    out = tmp_path / "trend.csv"
    res = runner.invoke(app, ["history", "--db", str(path), "--every", "week", "-o", str(out)])
    assert res.exit_code == 0
    assert pd.read_csv(out)["calls"].sum() == len(frame)
    res = runner.invoke(app, ["history", "--db", str(tmp_path / "none.sqlite")])
    assert res.exit_code == 2 and "no such database" in res.stderr
    res = runner.invoke(app, ["history", "--db", str(path), "--since", "yesterday"])
    assert res.exit_code == 2 and "--since" in res.stderr


@pytest.mark.parametrize("command", ["watch", "history"])
def test_help_pages(command):
    res = CliRunner().invoke(app, [command, "--help"], prog_name="perceptq",
                             env={"COLUMNS": "100", "NO_COLOR": "1"})  # fmt: skip
    assert res.exit_code == 0
    usage = next(line for line in res.output.splitlines() if "Usage:" in line)
    assert "{" not in usage and "<bool>" not in res.output and "…" not in res.output
    assert "Exit codes" in res.output
