"""Tests of ``perceptq report``: content, self-containment, alerts, bad input, rendering."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from perceptq.cli import app
from perceptq.report.alerts import find_alerts, parse_window

T0 = pd.Timestamp("2026-03-02T00:00:00Z")
LEVELS = {"north": 4.3, "south": 3.95, "west": 3.7}  # every ordinary call scores >= 3.55
EPISODE = [  # four low calls of "south" within 45 minutes: one alert episode
    (pd.Timedelta(days=1, hours=10, minutes=0), 2.9),
    (pd.Timedelta(days=1, hours=10, minutes=15), 3.1),
    (pd.Timedelta(days=1, hours=10, minutes=30), 2.6),
    (pd.Timedelta(days=1, hours=10, minutes=45), 3.3),
]
WEST_PAIR = [  # two low calls of "west" 30 minutes apart: under a count of 3
    (pd.Timedelta(hours=5, minutes=2), 3.2),
    (pd.Timedelta(hours=5, minutes=32), 3.0),
]
N_ERRORS = 5

runner = CliRunner()


def make_results() -> pd.DataFrame:
    """Three sites over three days (a call every 20 min each), an episode, errors."""
    rng = np.random.default_rng(7)
    rows = []
    for site, level in LEVELS.items():
        for k in range(3 * 72):
            offset = pd.Timedelta(minutes=20 * k + 7 * list(LEVELS).index(site))
            rows.append((site, offset, level + rng.uniform(-0.15, 0.15)))
    rows += [("south", t, m) for t, m in EPISODE] + [("west", t, m) for t, m in WEST_PAIR]
    out = []
    for i, (site, offset, mos) in enumerate(rows):
        out.append(
            {
                "reference": f"refs/clip{i % 9:02d}.wav",
                "degraded": f"calls/{site}/call{i:04d}.wav",
                "status": "ok",
                "error": "",
                "mode": "nb",
                "mos": mos,
                "delay_ms": 40.0 + i % 13,
                "degraded_mtime": (T0 + offset).isoformat(),
                "site": site,
                "codec": "g711u" if i % 2 else "amr-wb",
                "diag_snr_db": 30.0 - (i % 5),
            }
        )
    for j in range(N_ERRORS):
        out.append(
            {
                "reference": "refs/clip00.wav",
                "degraded": f"calls/north/broken{j}.wav",
                "status": "error",
                "error": f"calls/north/broken{j}.wav: file is empty",
                "mos": np.nan,
                "degraded_mtime": (T0 + pd.Timedelta(hours=30 + j)).isoformat(),
                "site": "north",
                "codec": "g711u",
            }
        )
    return pd.DataFrame(out)


def run(*args: str):
    return runner.invoke(app, ["report", *map(str, args)])


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_results()


@pytest.fixture(scope="module")
def built(tmp_path_factory, table):
    """One report over the synthetic table, grouped by site, with its alerts JSON."""
    folder = tmp_path_factory.mktemp("report")
    csv = folder / "results.csv"
    table.to_csv(csv, index=False)
    out, alerts = folder / "report.html", folder / "alerts.json"
    result = run(csv, "-o", out, "--group-by", "site", "--alerts-json", alerts)
    return result, out.read_text(encoding="utf-8"), json.loads(alerts.read_text()), folder


def tile(page: str, key: str) -> str:
    match = re.search(rf'<div class="k">{re.escape(key)}</div><div class="v">([^<]*)</div>', page)
    assert match, f"tile {key!r} not found"
    return html.unescape(match.group(1))


def test_report_is_self_contained(built):
    result, page, _, _ = built
    assert result.exit_code == 3, result.output
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    external = [r for r in refs if re.match(r"(?:https?:)?//", r, flags=re.I)]
    assert external == []
    assert "@import" not in page and "<link" not in page.lower()
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(images) >= 3
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_headline_numbers(built, table):
    _, page, _, _ = built
    ok = table[table["status"] == "ok"]["mos"].to_numpy()
    assert tile(page, "Scored") == f"{ok.size:,}"
    assert tile(page, "Mean MOS") == f"{ok.mean():.2f}"
    assert tile(page, "Median MOS") == f"{np.median(ok):.2f}"
    assert tile(page, "Below 3.5") == f"{100 * np.mean(ok < 3.5):.1f}%"
    assert tile(page, "Lowest MOS") == f"{ok.min():.2f}"
    assert tile(page, "Errors") == str(N_ERRORS)
    bounds = [("Excellent", 4.5, 9), ("Good", 4.0, 4.5), ("Fair", 3.5, 4.0),
              ("Poor", 3.0, 3.5), ("Bad", -9, 3.0)]  # fmt: skip
    for name, low, high in bounds:
        n = int(((ok >= low) & (ok < high)).sum())
        assert f"{name} {n:,} ({100 * n / ok.size:.1f}%)" in page


def test_groups_sorted_worst_first(built, table):
    _, page, _, _ = built
    ok = table[table["status"] == "ok"]
    expected = ok.groupby("site")["mos"].mean().sort_values().index.tolist()
    section = page[page.index('id="groups-0"') :]
    section = section[: section.index("</table>")]
    body = section[section.index("<tbody>") :]
    first_cells = re.findall(r"<tr><td>([^<]*)</td><td class=\"num\">(\d+)</td>", body)
    assert [name for name, _ in first_cells] == expected == ["west", "south", "north"]
    counts = ok["site"].value_counts()
    assert [int(n) for _, n in first_cells] == [counts[s] for s in expected]


def test_alert_episode_found(built):
    result, page, doc, _ = built
    assert result.exit_code == 3
    assert doc["threshold"] == 3.5 and doc["min_count"] == 3 and doc["window_seconds"] == 3600
    assert len(doc["alerts"]) == 1
    alert = doc["alerts"][0]
    assert alert["group"] == {"site": "south"}
    assert alert["count_below"] == len(EPISODE)
    assert pd.Timestamp(alert["start"]) == T0 + EPISODE[0][0]
    assert pd.Timestamp(alert["end"]) == T0 + EPISODE[-1][0]
    assert alert["min_mos"] == pytest.approx(min(m for _, m in EPISODE))
    assert len(alert["calls"]) == len(EPISODE)
    assert page.index('id="alerts"') < page.index('id="headline"')  # alerts on top
    assert "1 alert episode" in page


def test_no_alert_under_the_count(built, tmp_path):
    _, _, _, folder = built
    alerts = tmp_path / "alerts.json"
    out = tmp_path / "r.html"
    result = run(folder / "results.csv", "-o", out, "--group-by", "site",
                 "--alert-min-count", "5", "--alerts-json", alerts)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(alerts.read_text())["alerts"] == []
    assert "No alerts" in out.read_text(encoding="utf-8")
    # two low calls of "west" 30 min apart fire with a count of 2, not with a 20 min window
    result = run(folder / "results.csv", "-o", out, "--group-by", "site", "--alert-min-count",
                 "2", "--alert-window", "20min", "--alerts-json", alerts)  # fmt: skip
    groups = [a["group"]["site"] for a in json.loads(alerts.read_text())["alerts"]]
    assert result.exit_code == 3 and groups == ["south"]
    result = run(folder / "results.csv", "-o", out, "--group-by", "site", "--alert-min-count",
                 "2", "--alert-window", "30min", "--alerts-json", alerts)  # fmt: skip
    groups = sorted(a["group"]["site"] for a in json.loads(alerts.read_text())["alerts"])
    assert result.exit_code == 3 and groups == ["south", "west"]


def test_find_alerts_window_edges_and_merging():
    times = T0 + pd.to_timedelta([0, 30, 60, 61, 200, 230, 262, 500], unit="min")
    df = pd.DataFrame({"t": times, "mos": [3.0, 3.1, 3.2, 3.4, 2.0, 2.5, 2.2, 1.0],
                       "degraded": [f"c{i}.wav" for i in range(8)]})  # fmt: skip
    hour = parse_window("1h")
    found = find_alerts(df, time_column="t", min_count=3, window=hour)
    # 0, 30, 60 and 61 min chain into one episode (0-60 and 30-61 share calls); 200-262 spans
    # 62 min, over the window; 500 is alone
    assert [(a.start, a.end, a.count) for a in found] == [(times[0], times[3], 4)]
    assert find_alerts(df, time_column="t", min_count=3, window="62min")[1].calls == (
        "c4.wav", "c5.wav", "c6.wav")  # fmt: skip
    assert find_alerts(df, time_column="t", min_count=5, window=hour) == []
    assert find_alerts(df, time_column="t", min_count=0, window=hour) == []
    # "below" is strict: a call exactly at the threshold does not count
    pairs = find_alerts(df, time_column="t", threshold=3.1, min_count=2, window=hour)
    assert [a.start for a in pairs] == [times[4]]
    pairs = find_alerts(df, time_column="t", threshold=3.1001, min_count=2, window=hour)
    assert [a.start for a in pairs] == [times[0], times[4]]


def test_bad_window_is_a_clear_error(built):
    _, _, _, folder = built
    result = run(folder / "results.csv", "-o", folder / "x.html", "--alert-window", "soon")
    assert result.exit_code == 2
    assert "alert window 'soon'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_optional_columns(tmp_path):
    mos = np.array([4.2, 3.1, 2.5, 4.6, np.nan])
    pd.DataFrame({"mos": mos}).to_csv(tmp_path / "only_mos.csv", index=False)
    out = tmp_path / "r.html"
    result = run(tmp_path / "only_mos.csv", "-o", out)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert tile(page, "Scored") == "4" and tile(page, "Errors") == "1"
    assert tile(page, "Mean MOS") == f"{np.nanmean(mos):.2f}"
    assert "Alerts not evaluated" in page and "No time column" in page


def test_folder_of_mixed_formats_is_concatenated(tmp_path, table):
    folder = tmp_path / "history"
    (folder / "day2").mkdir(parents=True)
    half = len(table) // 2
    table.iloc[:half].to_csv(folder / "day1.csv", index=False)
    table.iloc[half:].to_json(folder / "day2" / "part.jsonl", orient="records", lines=True)
    # an rtp-like stream table: no status, no degraded path, no time
    rtp = pd.DataFrame({"capture": ["a.pcap"] * 3, "ssrc": [1, 2, 3], "mos": [4.1, 3.9, 2.0]})
    rtp.to_parquet(folder / "streams.parquet")
    out = tmp_path / "r.html"
    result = run(folder, "-o", out, "--group-by", "site", "--alert-min-count", "0")
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    n_ok = int((table["status"] == "ok").sum()) + 3
    assert tile(page, "Scored") == f"{n_ok:,}"
    assert "3 file(s)" in page and "(none)" in page  # rtp rows have no site


def test_plot_links(built, tmp_path, table):
    _, _, _, folder = built
    plots = tmp_path / "plots"
    plots.mkdir()
    worst = table[table["status"] == "ok"].nsmallest(1, "mos")["degraded"].iloc[0]
    (plots / (Path(worst).stem + ".png")).write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "out" / "r.html"
    out.parent.mkdir()
    result = run(folder / "results.csv", "-o", out, "--plots", plots, "--worst", "3")
    assert result.exit_code == 3, result.output
    page = out.read_text(encoding="utf-8")
    assert f'href="../plots/{Path(worst).stem}.png"' in page
    assert page.count("<span class=\"note\">none</span>") == 2  # the two other worst pairs


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (None, "missing.csv", "does not exist"),
        ("reference,degraded\na.wav,b.wav\n", "no_mos.csv", "has no 'mos' column"),
        ("PAR1 this is not parquet", "broken.parquet", "cannot read results file"),
        ("", "empty.csv", "cannot read results file"),
    ],
)
def test_bad_results_file(tmp_path, content, name, expected):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = run(path, "-o", tmp_path / "r.html")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and name in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_unknown_group_column(built, tmp_path):
    _, _, _, folder = built
    result = run(folder / "results.csv", "-o", tmp_path / "r.html", "--group-by", "carrier")
    assert result.exit_code == 2 and "'carrier'" in result.stderr


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--enable-logging=stderr",
                  "--v=0"]  # fmt: skip


@pytest.mark.skipif(
    _chromium() is None,
    reason="headless Chromium is not installed (Debian package 'chromium'; .ci/run installs it)",
)
def test_report_renders_in_chromium(built, tmp_path):
    _, _, _, folder = built
    page = (folder / "report.html").resolve().as_uri()
    shot = tmp_path / "shot.png"
    common = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    screenshot = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,3000", page],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot.exists(), screenshot.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (3000, 1280)
    assert pixels.std() > 0.1  # not blank
    # the top of the page shows the red alert box
    top = pixels[:400].reshape(-1, 3)
    assert np.any((top[:, 0] > 0.9) & (top[:, 1] < 0.9) & (top[:, 2] < 0.9))
    dom = subprocess.run(
        [*common, "--dump-dom", page], capture_output=True, text=True, timeout=120, check=False
    )
    console = [line for line in (screenshot.stderr + dom.stderr).splitlines() if "CONSOLE" in line]
    assert console == []  # the page logs nothing, not even a figure that fails to decode
    figures = re.search(r'<body data-figures="(\d+)/(\d+)"', dom.stdout)
    assert figures, dom.stdout[:500]
    assert figures.group(1) == figures.group(2) and int(figures.group(1)) >= 3
    assert "Worst 20 calls" in dom.stdout and "alert episode" in dom.stdout


def test_trend_lists_the_hours_below_the_threshold(tmp_path):
    start = pd.Timestamp("2026-05-04T00:00:00Z")
    times = start + pd.to_timedelta(np.arange(0, 48 * 60, 10), unit="min")  # every 10 min, 2 days
    mos = np.full(times.size, 4.2)
    low = (times >= start + pd.Timedelta(hours=30)) & (times < start + pd.Timedelta(hours=33))
    mos[low] = 2.8
    df = pd.DataFrame({"mos": mos, "when": times.strftime("%Y-%m-%d %H:%M:%S")})
    df.to_json(tmp_path / "calls.jsonl", orient="records", lines=True)
    out = tmp_path / "r.html"
    result = run(tmp_path / "calls.jsonl", "-o", out, "--time-column", "when", "--alerts-json",
                 tmp_path / "a.json")  # fmt: skip
    assert result.exit_code == 3, result.output
    page = out.read_text(encoding="utf-8")
    assert "aggregated per hour" in page and "Periods below 3.5 (1)" in page
    listing = page[page.index("Periods below 3.5 (1)") :]
    assert "2026-05-05 06:00" in listing and "2026-05-05 09:00" in listing
    alerts = json.loads((tmp_path / "a.json").read_text())["alerts"]
    assert len(alerts) == 1 and alerts[0]["count_below"] == int(low.sum())
    assert alerts[0]["group"] == {} and alerts[0]["group_label"] == "all"


def test_unknown_time_column(built, tmp_path):
    _, _, _, folder = built
    result = run(folder / "results.csv", "-o", tmp_path / "r.html", "--time-column", "started")
    assert result.exit_code == 2 and "time column 'started'" in result.stderr


def test_large_table_gives_a_small_page(tmp_path):
    rng = np.random.default_rng(11)
    n, n_err = 20_000, 1_000
    status = np.array(["ok"] * (n - n_err) + ["error"] * n_err)
    df = pd.DataFrame({
        "degraded": [f"d/call{i:05d}.wav" for i in range(n)],
        "status": status,
        "error": np.where(status == "error", "unreadable", ""),
        "mos": np.where(status == "ok", rng.uniform(1.5, 4.6, n), np.nan),
        "degraded_mtime": (T0 + pd.to_timedelta(rng.uniform(0, 20 * 86400, n), unit="s"))
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "site": rng.choice(["a", "b", "c", "d"], n),
    })  # fmt: skip
    df.to_parquet(tmp_path / "big.parquet")
    out = tmp_path / "r.html"
    result = run(tmp_path / "big.parquet", "-o", out, "--group-by", "site", "--worst", "7")
    assert result.exit_code == 3, result.output
    page = out.read_text(encoding="utf-8")
    assert len(page.encode()) < 700_000
    assert "Showing 200 of 1000 error rows" in page
    assert "Worst 7 calls / pairs" in page and page.count("d/call") <= 7 + 200 + 10


def test_unwritable_output(built, tmp_path):
    _, _, _, folder = built
    result = run(folder / "results.csv", "-o", tmp_path / "no" / "such" / "r.html")
    assert result.exit_code == 2
    assert "cannot write report" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_find_plot_by_folder_and_never_a_wrong_one(tmp_path):
    from perceptq.report.sections import find_plot, index_plots

    for rel in ("g711u/a01.png", "gsm/a01.png", "gsm/a02.png", "flat/b07.score.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"png")
    index = index_plots(tmp_path)
    assert find_plot("deg/gsm/a01.wav", index, tmp_path) == tmp_path / "gsm/a01.png"
    assert find_plot("deg/g711u/a01.wav", index, tmp_path) == tmp_path / "g711u/a01.png"
    assert find_plot("deg/opus/a01.wav", index, tmp_path) is None  # ambiguous: no guess
    assert find_plot("deg/opus/a02.wav", index, tmp_path) == tmp_path / "gsm/a02.png"  # unique
    assert find_plot("x/b07.wav", index, tmp_path) == tmp_path / "flat/b07.score.png"
    assert find_plot("x/b0.wav", index, tmp_path) is None


def test_header_only_and_all_error_tables(tmp_path):
    header = "degraded,status,error,mos,site,degraded_mtime\n"
    (tmp_path / "empty.csv").write_text(header)
    (tmp_path / "failed.csv").write_text(
        header + "a.wav,error,boom,,x,2026-01-01T00:00:00Z\nb.wav,error,boom,,y,2026-01-01T01:00Z\n"
    )
    for name, scored, errors in (("empty.csv", "0", "0"), ("failed.csv", "0", "2")):
        out = tmp_path / f"{name}.html"
        result = run(tmp_path / name, "-o", out, "--group-by", "site")
        assert result.exit_code == 0, result.output
        page = out.read_text(encoding="utf-8")
        assert tile(page, "Scored") == scored and tile(page, "Errors") == errors
