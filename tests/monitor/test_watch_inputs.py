"""What ``watch --once`` makes of a mixed inbox: a packet capture (one row per RTP stream,
scored perceptually against the reference), files to skip (logged once, with the reason),
a broken sidecar, a file the pattern does not match, an unreadable recording (an error
row, exit code 1), and bad options (exit code 2, one line)."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from helpers import BAD, GOOD, REF, drop, rows, run
from typer.testing import CliRunner

from perceptq.cli import app
from perceptq.network import rtp


def _capture(path, loss_every: int = 0):
    audio, _rate = sf.read(REF)
    narrow = audio[::2]  # 16 kHz -> 8 kHz (the test only needs speech-like G.711 audio)
    packets = rtp.g711_call(narrow)
    if loss_every:
        packets = [p for k, p in enumerate(packets) if k % loss_every]
    return rtp.write_capture(path, packets)


def test_once_over_a_mixed_inbox(tmp_path):
    inbox, db = tmp_path / "inbox", tmp_path / "h.sqlite"
    (inbox / "paris").mkdir(parents=True)
    _capture(inbox / "paris" / "call.pcap", loss_every=20)
    drop(GOOD, inbox / "paris" / "ok.wav")
    drop(GOOD, inbox / "paris" / "meta.wav")
    (inbox / "paris" / "meta.json").write_text("{not json")
    drop(GOOD, inbox / "loose.wav")  # not under a site folder: no match for the pattern
    (inbox / "paris" / "notes.txt").write_text("hello")
    (inbox / "paris" / "broken.wav").write_bytes(b"RIFF\x00\x00")
    (inbox / "paris" / "junk.pcap").write_bytes(b"not a capture at all")
    args = ["watch", str(inbox), "--reference", str(REF), "--db", str(db), "--once",
            "--jobs", "1", "--settle", "0.2", "--pattern", "{site}/{name}.*"]  # fmt: skip
    res = run(*args, cwd=tmp_path)
    assert res.returncode == 1, res.stderr  # the broken recording is an error row
    got = rows(db, "SELECT name, status, mos IS NOT NULL, stream, net_codec, net_lost "
                   "FROM results ORDER BY name")  # fmt: skip
    by_name = {r[0]: r[1:] for r in got}
    assert set(by_name) == {"broken", "call", "junk", "ok"}
    assert by_name["junk"][0] == "error"
    assert by_name["ok"][:2] == ("ok", 1)
    assert by_name["broken"][0] == "error"
    status, scored, stream, codec, lost = by_name["call"]
    assert (status, scored, codec) == ("ok", 1, "PCMU")
    assert stream.startswith("0x5eed0001 ") and lost > 0
    skipped = dict(rows(db, "SELECT path, reason FROM skipped"))
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in skipped.items()}
    assert set(reasons) == {"meta.wav", "loose.wav", "notes.txt"}
    assert "not readable JSON" in reasons["meta.wav"]
    assert "does not match --pattern" in reasons["loose.wav"]
    assert "not a recording or a capture" in reasons["notes.txt"]
    assert res.stderr.count("skipped ") == 3
    # fixing the sidecar makes the call complete; nothing else is scored or logged again
    (inbox / "paris" / "meta.json").write_text('{"time": "2026-05-01T10:00:00Z", "site": "nice"}')
    again = run(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "skipped" not in again.stderr.replace("0 skipped", "")
    assert rows(db, "SELECT site, call_time FROM results WHERE name = 'meta'") == [
        ("nice", "2026-05-01T10:00:00.000Z")
    ]


def test_bad_options_give_one_line_and_code_2(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cases = [
        (["watch", str(tmp_path / "nowhere")], "inbox folder not found"),
        (["watch", str(inbox), "--reference", str(tmp_path / "x.wav")], "reference file"),
        (["watch", str(inbox), "--pattern", "{site/{name}.wav"], "--pattern"),
        (["watch", str(inbox), "--alert-window", "soon"], "alert window"),
        (["watch", str(inbox), "--webhook", "ftp://x"], "--webhook"),
    ]
    for args, message in cases:
        res = CliRunner().invoke(app, [*args, "--once", "--db", str(tmp_path / "h.sqlite")])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
        assert "Traceback" not in res.stderr
    np.testing.assert_equal(list(inbox.iterdir()), [])


def test_a_file_dropped_again_with_new_content_is_scored_again(tmp_path):
    inbox, db = tmp_path / "inbox", tmp_path / "h.sqlite"
    args = ["watch", str(inbox), "--reference", str(REF), "--db", str(db), "--once",
            "--jobs", "1", "--settle", "0.1", "-q"]  # fmt: skip
    drop(GOOD, inbox / "call.wav")
    runner = CliRunner()
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, args).exit_code == 0  # same content: nothing new
    assert len(rows(db)) == 1
    drop(BAD, inbox / "call.wav")  # new content under the same name
    assert runner.invoke(app, args).exit_code == 0
    stored = rows(db, "SELECT degraded, mos FROM results ORDER BY id")
    assert [d for d, _ in stored] == [str(inbox / "call.wav")] * 2
    assert stored[0][1] > 4 > 2 > stored[1][1]
