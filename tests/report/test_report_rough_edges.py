"""Report rough edges of issue 11: the worst-calls table layout, "nan" in the errors table,
whole-number histogram counts, the trend bar of a single hour, and results that mix
MOS-LQO (batch) with MOS-CQE (emodel/rtp)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from perceptq.batch.table import DIAG_COLUMNS
from perceptq.cli import app
from perceptq.report import figures
from perceptq.report.html import ReportOptions, build_report

runner = CliRunner()


def batch_table(n: int = 12, *, long_names: bool = True) -> pd.DataFrame:
    """A perceptq batch table: long file names, every diagnostic column, one error row
    without a reference."""
    rng = np.random.default_rng(4)
    rows = []
    for i in range(n):
        name = (f"site-paris_carrier-orange_2026-11-30T10-{i:02d}-00_call-{i:06d}.wav"
                if long_names else f"c{i}.wav")  # fmt: skip
        rows.append({"reference": f"refs/clean/speech_{i % 3}.wav",
                     "degraded": f"captures/paris/orange/{name}", "status": "ok", "error": "",
                     "mode": "nb", "raw": 2.0, "mos": float(rng.uniform(1.2, 4.4)),
                     "delay_ms": 40.0, "degraded_mtime": f"2026-11-30T10:{i:02d}:00Z",
                     "site": "paris", **{c: float(rng.uniform(0, 50)) for c in DIAG_COLUMNS}})
    rows.append({"reference": "", "degraded": "captures/paris/orphan.wav", "status": "error",
                 "error": "captures/paris/orphan.wav: no reference found", "mode": "",
                 "mos": np.nan, "degraded_mtime": "2026-11-30T10:30:00Z", "site": "paris"})
    return pd.DataFrame(rows)  # fmt: skip


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}"')
    return page[start : page.index("</section>", start)]


def test_worst_table_leads_with_name_mos_and_plot_and_keeps_details_in_one_cell(tmp_path):
    table = batch_table()
    csv = tmp_path / "results.csv"
    table.to_csv(csv, index=False)
    plots = tmp_path / "plots"
    plots.mkdir()
    worst = table.nsmallest(1, "mos")["degraded"].iloc[0]
    (plots / (Path(worst).stem + ".png")).write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", str(csv), "-o", str(out), "--plots", str(plots),
                              "--group-by", "site"])  # fmt: skip
    assert res.exit_code in (0, 3), res.output
    section = _section(out.read_text(encoding="utf-8"), "worst")
    header = re.findall(r"<th[^>]*>([^<]*)</th>", section)
    assert header == ["#", "call / pair", "MOS", "plot", "details"]  # 18 columns before
    first = re.search(r"<tbody><tr>(.*?)</tr>", section).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", first)
    assert f'title="{worst}"' in cells[1] and 'class="name"' in cells[1]
    assert Path(worst).name in cells[1] and "class=\"mos" in cells[2]
    assert f'href="plots/{Path(worst).stem}.png"' in cells[3]
    for column in ("snr_db", "level_diff_db", "delay_ms", "site", "reference"):
        assert f"<b>{column}</b>" in cells[4]  # diagnostics and the rest: in the details
    assert "nan" not in section


def test_errors_table_shows_no_nan_for_a_missing_reference():
    report = build_report(batch_table(3), ReportOptions(), sources=["t.csv"], out_dir=Path("."))
    section = _section(report.html, "errors")
    assert "orphan.wav" in section and ">nan<" not in section and "nan" not in section


def test_paths_and_names_never_break_letter_by_letter():
    css = build_report(batch_table(2), ReportOptions(), sources=["t"], out_dir=Path(".")).html
    assert "overflow-wrap: anywhere" not in css and "break-all" not in css
    assert re.search(r"\.name \{[^}]*white-space: nowrap", css)


def test_histogram_counts_are_whole_numbers():
    fig = figures.histogram(np.array([3.05, 3.12, 3.31, 3.62]), 3.5)
    ticks = fig.axes[0].get_yticks()
    assert len(ticks) >= 2 and np.allclose(ticks, np.round(ticks))


def test_trend_of_four_calls_in_one_hour_draws_the_hour(monkeypatch):
    drawn = []
    real = figures.to_img
    monkeypatch.setattr(figures, "to_img", lambda fig, alt: drawn.append((alt, fig)) or
                        real(fig, alt))  # fmt: skip
    times = ["2026-11-30T10:05:00Z", "2026-11-30T10:20:00Z", "2026-11-30T10:40:00Z",
             "2026-11-30T10:55:00Z"]  # fmt: skip
    df = pd.DataFrame({"mos": [3.1, 3.3, 3.0, 3.6], "degraded_mtime": times})
    build_report(df, ReportOptions(alert_min_count=0), sources=["t"], out_dir=Path("."))
    fig = next(fig for alt, fig in drawn if "over time" in alt)
    calls = fig.axes[1]
    bars = [p for p in calls.patches if p.get_height() > 0]
    assert len(bars) == 1 and bars[0].get_height() == 4
    start = mdates.num2date(bars[0].get_x())
    end = mdates.num2date(bars[0].get_x() + bars[0].get_width())
    hour = pd.Timestamp("2026-11-30T10:00:00Z")
    assert hour <= start and end <= hour + pd.Timedelta(hours=1)
    assert (end - start) >= pd.Timedelta(minutes=50)  # the bar is its hour, not a sliver
    middle = start + (end - start) / 2
    assert abs(middle - (hour + pd.Timedelta(minutes=30))) < pd.Timedelta(seconds=1)
    lo, hi = (mdates.num2date(v) for v in calls.get_xlim())
    assert lo <= hour and hi >= hour + pd.Timedelta(hours=1)  # the whole hour is shown
    ticks = calls.get_yticks()
    assert np.allclose(ticks, np.round(ticks))


def test_batch_and_emodel_rows_are_not_pooled_in_one_histogram_without_a_word(tmp_path):
    batch = batch_table(6, long_names=False)
    batch.to_csv(tmp_path / "batch.csv", index=False)
    calls = tmp_path / "calls.csv"
    calls.write_text("call_id,site,codec,loss,delay\n1,paris,g711,1,50\n2,paris,g729a,3,150\n")
    emodel = runner.invoke(app, ["emodel", "--input", str(calls), "-o",
                                 str(tmp_path / "emodel.csv")])  # fmt: skip
    assert emodel.exit_code == 0, emodel.output
    out = tmp_path / "mixed.html"
    res = runner.invoke(app, ["report", str(tmp_path / "batch.csv"), str(tmp_path / "emodel.csv"),
                              "-o", str(out), "--alert-min-count", "0"])  # fmt: skip
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    dist = _section(page, "distribution")
    assert dist.count('<img class="fig"') == 2
    assert 'alt="MOS-LQO histogram' in dist and 'alt="MOS-CQE histogram' in dist
    assert "MOS-LQO: 6 rows" in dist and "MOS-CQE: 2 rows" in dist
    assert "mix 2 MOS scales" in dist and "mix 2 MOS scales" in page[: page.index(dist)]
    single = tmp_path / "single.html"
    runner.invoke(app, ["report", str(tmp_path / "batch.csv"), "-o", str(single)])
    assert "MOS scales" not in single.read_text(encoding="utf-8")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


MEASURE = """<script>
window.addEventListener("load", function () {
  var names = Array.from(document.querySelectorAll("#worst .name"));
  var box = document.querySelector("#worst .scroll");
  var out = {names: names.length,
             wrapped: names.filter(function (e) { return e.getClientRects().length !== 1 ||
                                   e.getBoundingClientRect().height > 24; }).length,
             overflow: box.scrollWidth - box.clientWidth};
  document.body.setAttribute("data-layout", JSON.stringify(out));
});
</script></body>"""


@pytest.mark.skipif(
    _chromium() is None,
    reason="headless Chromium is not installed (Debian package 'chromium'; .ci/run installs it)",
)
def test_worst_table_fits_the_page_in_chromium(tmp_path):
    csv = tmp_path / "results.csv"
    batch_table(20).to_csv(csv, index=False)
    out = tmp_path / "r.html"
    runner.invoke(app, ["report", str(csv), "-o", str(out), "--group-by", "site"])
    page = out.read_text(encoding="utf-8").replace("</body>", MEASURE)
    out.write_text(page, encoding="utf-8")
    dom = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000",
         "--virtual-time-budget=5000", "--dump-dom", out.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    found = re.search(r"data-layout=\"([^\"]*)\"", dom.stdout)
    assert found, dom.stderr[-2000:]
    layout = json.loads(found.group(1).replace("&quot;", '"'))
    assert layout["names"] == 20
    assert layout["wrapped"] == 0  # every file name on one line
    assert layout["overflow"] <= 0  # no horizontal scrolling in a 1280 px window
