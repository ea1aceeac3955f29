"""Fidelity against the ITU reference on VoIP-like time-warped pairs (issue 10).

The corpus (tests/voip_corpus.py): 160 pairs at 8 kHz (nb) and 160 at 16 kHz (wb), 8-15 s,
delay jumps inside speech and in pauses, jitter-buffer-like pause stretching and
shrinking, dropouts with delay changes, 0.2-3 s (16 kHz: 0.2-5 s) of silence at both ends,
with and without codec or noise, as 16-bit recordings (dithered: no exact digital silence).
These make the reference split utterances with its damaged break-point window
(perceptq.p862.align.effective_window). Pairs flagged ``reference_unstable`` are those
whose reference score depends on float32 rounding; on all others, for nb and wb
separately: |Δ| ≤ 0.005 for at least 99 % and max |Δ| ≤ 0.02.
"""

from __future__ import annotations

import corpus
import numpy as np
import pytest
import voip_corpus

WITHIN = 0.005
MIN_SHARE_WITHIN = 0.99
MAX_DELTA = 0.02
#: Sanity bound: the flag marks the pairs the reference decides by rounding, not a whole
#: class (measured on this corpus: 19 % of the nb pairs, 6 % of the wb pairs).
MAX_SHARE_FLAGGED = 0.25

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def voip_pairs() -> list[voip_corpus.Pair]:
    return voip_corpus.build()


@pytest.fixture(scope="module")
def voip_rows(voip_pairs) -> list[voip_corpus.Scored]:
    ref = corpus.reference_scores(voip_pairs, workers=2)
    ours = voip_corpus.perceptq_scores(voip_pairs)
    return [voip_corpus.Scored(p.name, p.mode, ref[(p.name, p.mode)], *ours[p.name])
            for p in voip_pairs]


def test_corpus_covers_the_brief(voip_pairs):
    assert len(voip_pairs) >= 300
    assert len({p.name for p in voip_pairs}) == len(voip_pairs)
    for fs, mode in voip_corpus.RATES.items():
        mine = [p for p in voip_pairs if p.rate == fs]
        assert {p.mode for p in mine} == {mode}
        assert {p.family for p in mine} == set(voip_corpus.FAMILIES)
        seconds = [p.ref.shape[0] / fs for p in mine]
        assert min(seconds) >= 8.0 and max(seconds) <= 15.3
    again = voip_corpus.make_pair(7, 16000, corpus.load_clean(16000))
    first = next(p for p in voip_pairs if p.name == again.name)
    assert np.array_equal(first.ref, again.ref) and np.array_equal(first.deg, again.deg)


def test_edge_silence_spans_both_sides_of_the_window_limits():
    """Leading and trailing silence from 0.2 s to 3 s (8 kHz) or 5 s (16 kHz): utterance
    pieces both shorter and longer than the 3.1 s / 6.2 s at which the reference's window
    is overwritten."""
    rng = np.random.default_rng(0)
    for fs, longest in ((8000, 2.5), (16000, 4.5)):
        clean = corpus.load_clean(fs)
        talks = [voip_corpus.talk(clean, fs, rng) for _ in range(40)]
        lead = [t.speech[0][0] / fs for t in talks]
        trail = [(t.x.shape[0] - t.speech[-1][1]) / fs for t in talks]
        for edge in (lead, trail):
            assert min(edge) < 0.5 and max(edge) > longest


@pytest.mark.parametrize("mode", ["nb", "wb"])
def test_agreement_with_the_reference_on_unflagged_pairs(voip_rows, mode):
    rows = [r for r in voip_rows if r.mode == mode]
    flagged = [r for r in rows if r.unstable]
    kept = [r for r in rows if not r.unstable]
    stats = voip_corpus.statistics([r.delta for r in kept])
    worst = sorted(kept, key=lambda r: -r.delta)[:10]
    report = (
        f"{mode}: {len(rows)} pairs, {len(flagged)} flagged (|Δ| "
        f"{', '.join(f'{r.delta:.3f}' for r in flagged)}); unflagged: "
        f"{stats['within_0.005']:.1%} within {WITHIN}, median {stats['median']:.4f}, "
        f"p95 {stats['p95']:.4f}, p99 {stats['p99']:.4f}, max {stats['max']:.4f}\nworst:\n"
        + "\n".join(f"  {r.name} ref={r.ref:.4f} ours={r.ours:.4f}" for r in worst)
    )
    print(report)
    assert stats["within_0.005"] >= MIN_SHARE_WITHIN, report
    assert stats["max"] <= MAX_DELTA, report
    assert len(flagged) <= MAX_SHARE_FLAGGED * len(rows), report


def test_the_corpus_reaches_the_damaged_window(voip_pairs, voip_rows):
    """With the intact window (alignment="stable") a fair share of the pairs score
    differently from the reference: the corpus exercises the behaviour under test."""
    sample = voip_pairs[::8]
    stable = voip_corpus.perceptq_scores(sample, alignment="stable")
    ref = {r.name: r.ref for r in voip_rows}
    differ = [p.name for p in sample if abs(stable[p.name][0] - ref[p.name]) > WITHIN]
    assert len(differ) >= 0.1 * len(sample), differ
    assert not any(unstable for _, unstable in stable.values())
