"""Real-time episodes agree with the report's rule applied to the whole history afterwards,
and each opening and closing is recorded once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perceptq.batch.sqlite_table import insert_row, transaction
from perceptq.monitor.episodes import Rule, evaluate, start
from perceptq.monitor.store import open_store
from perceptq.report.alerts import find_alerts

T0 = 1_780_000_000.0
MIN = 60.0


def _calls(rng, n=400):
    """Calls of three sites over two days, with bursts of bad ones."""
    ts = np.sort(rng.uniform(0, 2 * 86400, n))
    site = rng.choice(["lyon", "paris", "nice"], n)
    mos = rng.uniform(3.6, 4.5, n)
    for centre in rng.uniform(0, 2 * 86400, 6):  # bad spells
        mos[np.abs(ts - centre) < 40 * MIN] = rng.uniform(1.2, 3.4)
    return [(T0 + t, s, float(m)) for t, s, m in zip(ts, site, mos, strict=True)]


@pytest.mark.parametrize("seed", [1, 2])
def test_real_time_episodes_match_the_report_rule(tmp_path, seed):
    rng = np.random.default_rng(seed)
    rule = Rule(threshold=3.5, min_count=3, window_s=30 * MIN, group_by=("site",))
    con = open_store(tmp_path / "h.sqlite")
    start(con, rule)
    calls = _calls(rng)
    events = []
    for k, (ts, site, mos) in enumerate(calls):  # one call at a time, clock = its time
        with transaction(con):
            insert_row(con, {"reference": "r.wav", "degraded": f"c{k}.wav", "status": "ok",
                             "mos": mos, "call_ts": ts, "file_path": f"/in/c{k}.wav",
                             "site": site})  # fmt: skip
        events += evaluate(con, rule, now=ts)
    events += evaluate(con, rule, now=calls[-1][0] + 86400)  # a day later: all closed
    df = pd.DataFrame(calls, columns=["ts", "site", "mos"])
    df["t"] = pd.to_datetime(df["ts"], unit="s", utc=True)
    df["degraded"] = [f"c{k}.wav" for k in range(len(df))]
    expected = find_alerts(df, time_column="t", threshold=3.5, min_count=3, window="30min",
                           group_by=["site"])  # fmt: skip
    assert expected, "the bad spells should make episodes"
    got = con.execute("SELECT group_label, opened_ts, last_low_ts, calls_below, calls_total, "
                      "closed_ts FROM alerts ORDER BY opened_ts").fetchall()  # fmt: skip
    want = sorted((a.group_label, a.start.timestamp(), a.end.timestamp(), a.count, a.total)
                  for a in expected)  # fmt: skip
    have = sorted(g[:5] for g in got)
    assert [(g[0], g[3], g[4]) for g in have] == [(w[0], w[3], w[4]) for w in want]
    times = [t for g in have for t in g[1:3]]
    assert times == pytest.approx([t for w in want for t in w[1:3]])
    assert all(g[5] is not None and g[5] > g[2] for g in got)  # closed after its last low call
    kinds = [(e["episode"], e["event"]) for e in events]
    assert len(kinds) == len(set(kinds)) == 2 * len(expected)  # each once
    notes = con.execute("SELECT count(*) FROM notifications").fetchone()[0]
    assert notes == 2 * len(expected)
    con.close()
