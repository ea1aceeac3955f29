"""Fidelity report: perceptq vs the ITU reference implementation on the test corpus.

Builds the same deterministic corpus as tests/test_fidelity.py (tests/corpus.py), scores
every pair with both and prints the |Δ| distribution per mode as a Markdown table, then the
worst pairs. Usage: ``python benchmarks/fidelity.py [--worst N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worst", type=int, default=10, help="worst pairs to list per mode")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    pairs = corpus.build_corpus()
    t1 = time.perf_counter()
    ref = corpus.reference_scores(pairs)
    t2 = time.perf_counter()
    ours = corpus.perceptq_scores(pairs)
    t3 = time.perf_counter()
    rows = corpus.combine(ref, ours)
    print(
        f"corpus: {len(pairs)} pairs ({sum(p.rate == 8000 for p in pairs)} at 8 kHz, "
        f"{sum(p.rate == 16000 for p in pairs)} at 16 kHz) built in {t1 - t0:.1f} s; "
        f"reference scored in {t2 - t1:.1f} s, perceptq in {t3 - t2:.1f} s "
        "(perceptq time includes numba compilation or cache loading)\n"
    )
    print("| mode | pairs | errors | within 0.02 | median |d| | p95 |d| | max |d| | Pearson r |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode in ("nb", "wb"):
        s = corpus.statistics([r for r in rows if r.mode == mode])
        if s["errors"] == s["count"]:
            print(f"| {mode} | {s['count']} | {s['errors']} | - | - | - | - | - |")
            continue
        print(
            f"| {mode} | {s['count']} | {s['errors']} | {s['within_0.02']:.1%} | "
            f"{s['median']:.4f} | {s['p95']:.4f} | {s['max']:.4f} | {s['pearson_r']:.5f} |"
        )
    for mode in ("nb", "wb"):
        print(f"\nworst {mode} pairs:")
        print(corpus.worst([r for r in rows if r.mode == mode], args.worst))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
