"""`perceptq emodel` rough edges of issue 11: packetisation of codecs without a table packet
size, unverified table rows, the missing-Bpl error, the --fail-below listing and the
README's calls.csv example."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from perceptq.cli import app
from perceptq.network import codecs
from perceptq.network.emodel import MissingBplError
from perceptq.network.transport import rate_network

ROOT = Path(__file__).parents[2]
runner = CliRunner()


@pytest.mark.parametrize("codec", ["g729", "g723.1-5.3", "g726-32"])
def test_codec_without_table_packet_size_still_pays_one_packet(codec):
    res = rate_network(codec)
    net = res.network
    assert net["packet_ms"] == codecs.RTP_DEFAULT_PACKET_MS[codec] > 0
    assert net["packet_source"] == "RFC 3551 default"
    assert net["mouth_to_ear_ms"] == net["delay_ms"] + net["jitter_buffer_ms"] + net["packet_ms"]
    assert net["jitter_buffer_ms"] == net["packet_ms"]  # no jitter: one packet of buffer
    assert net["bpl"] is None  # unknown, and not needed without loss


def test_g729_without_loss_prints_its_packet_and_no_made_up_bpl():
    res = runner.invoke(app, ["emodel", "--codec", "g729", "--loss", "0"])
    assert res.exit_code == 0, res.output
    assert "packet 0 ms" not in res.stdout and "jitter buffer 0 " not in res.stdout
    assert "Bpl 1" not in res.stdout
    assert re.search(r"jitter buffer 20 \+ packet 20 \(RFC 3551 default\)", res.stdout)
    assert "no Bpl" in res.stdout


def test_unverified_codec_row_gives_a_warning_and_a_field():
    assert codecs.get_codec("gsm-efr").unverified
    res = rate_network("gsm-efr", loss_pct=1)
    assert len(res.warnings) == 1 and "unverified" in res.warnings[0]
    assert res.to_dict()["warnings"] == list(res.warnings)
    assert rate_network("gsm-efr", loss_pct=1, ie=5, bpl=10).warnings == ()  # values given
    assert rate_network("g711", loss_pct=1).warnings == ()
    cli = runner.invoke(app, ["emodel", "--codec", "gsm-efr", "--loss", "1"])
    assert cli.exit_code == 0 and "perceptq: warning: codec gsm-efr" in cli.stderr


def test_missing_bpl_error_names_the_option_or_column(tmp_path):
    with pytest.raises(MissingBplError, match="bpl="):
        rate_network("g729", loss_pct=1)
    res = runner.invoke(app, ["emodel", "--codec", "g729", "--loss", "1"])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "--bpl" in res.stderr and "g729" in res.stderr
    calls = tmp_path / "c.csv"
    calls.write_text("codec,loss\ng729,1\ng729,1\n")
    table = runner.invoke(app, ["emodel", "--input", str(calls), "-o", str(tmp_path / "o.csv")])
    assert table.exit_code == 1
    assert "line 2: codec g729" in table.stderr and "a bpl column or --bpl" in table.stderr
    ok = runner.invoke(app, ["emodel", "--input", str(calls), "--bpl", "19", "-o",
                             str(tmp_path / "o.csv")])  # fmt: skip
    assert ok.exit_code == 0, ok.output


def test_fail_below_lists_the_failing_calls(tmp_path):
    calls = tmp_path / "calls.csv"
    calls.write_text(
        "call_id,site,codec,loss,delay\nA1,paris,g711,0,20\nB2,lyon,g711,8,300\n"
        "C3,lyon,g711,0,20\nD4,nice,g723.1,10,400\n"
    )
    res = runner.invoke(app, ["emodel", "--input", str(calls), "-o", str(tmp_path / "o.csv"),
                              "--fail-below", "3.6", "--group-by", "site"])  # fmt: skip
    assert res.exit_code == 3, res.output
    out = pd.read_csv(tmp_path / "o.csv")
    low = out[out["mos"] < 3.6]
    assert sorted(low["call_id"]) == ["B2", "D4"]
    listing = res.stdout[res.stdout.index("2 call(s) below MOS 3.6:"):].splitlines()[1:]
    assert len(listing) == 2
    for _, row in low.iterrows():
        line = next(x for x in listing if f"call_id {row['call_id']}" in x)
        assert f"{row['mos']:.3f}" in line and f"call_id {row['call_id']}" in line
        assert f"site {row['site']}" in line and f"line {row.name + 2}" in line


def test_readme_calls_example_is_shipped_and_true(tmp_path):
    """The README's `perceptq emodel --input calls.csv ...` block, run on the shipped file."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"\$ perceptq emodel --input (\S+) (.*?)\n(.*?)```", readme, re.S)
    assert block, "README has no emodel --input example"
    path, args, shown = block.group(1), block.group(2), block.group(3)
    shipped = ROOT / path
    assert shipped.is_file(), f"{path} named in the README is not shipped"
    args = args.split("#")[0].split()
    shutil.copy(shipped, tmp_path / "calls.csv")
    out = tmp_path / args[args.index("-o") + 1]
    args[args.index("-o") + 1] = str(out)
    res = runner.invoke(app, ["emodel", "--input", str(tmp_path / "calls.csv"), *args])
    expected_code = int(re.search(r"# exit (\d+)", block.group(0)).group(1))
    assert res.exit_code == expected_code, res.output
    assert res.stdout.strip().splitlines() == shown.strip().splitlines()
