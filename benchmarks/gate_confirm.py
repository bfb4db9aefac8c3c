"""Does --confirm clear what separate runs wrongly flag, and keep what is really slower?

Unchanged model: RUNS separate real runs of MODEL (one worker each, --threads 1), compared pairwise
as `compare` does (the run-to-run noise from the runs recorded before the candidate). Every pair
that is not "unchanged" gets a confirmation as `compare --confirm` makes it (ROUNDS alternated
rounds of fresh workers, crossover analysis, edgekit.results.confirm); counted: how many pairs the
separate runs call regressed, and how many of those the confirmation still calls regressed.

Slower model: SLOW (a heavier real model, in the place of a slower build) against MODEL, confirmed
CONFIRMS times; counted: how often the confirmation says regressed.

Usage:
  .venv/bin/python benchmarks/gate_confirm.py [--runs 8] [--rounds 6] [--min-time 0.5] [--confirms 3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CORAL = os.path.join(os.environ.get("EDGEKIT_SHARED", os.path.join(ROOT, "..", "shared")), "testdata", "coral")
MODEL = os.path.join(CORAL, "models", "mobilenet_v1_0.25_128_quant.tflite")
SLOW = os.path.join(CORAL, "more_models", "mobilenet_v1_0.75_192_quant.tflite")


def main() -> int:
    from edgekit import api
    from edgekit.results import compare as C
    from edgekit.results import confirm as K

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=K.DEFAULT_ROUNDS)
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--confirms", type=int, default=3)
    args = ap.parse_args()
    opts = dict(threads=1, min_time_s=args.min_time)
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    runs = [api.bench(MODEL, **opts) for _ in range(args.runs)]
    p50 = [r["latency_ms"]["p50"] for r in runs]
    print(f"{args.runs} separate runs of {os.path.basename(MODEL)}: p50 {min(p50):.3f}..{max(p50):.3f} ms")
    flagged = confirmed_regressed = 0
    verdicts = []
    confirm_s = []
    for i, j in itertools.permutations(range(len(runs)), 2):
        c = C.compare_results(runs[i], runs[j], repeated=runs)
        if c.verdict == C.UNCHANGED:
            continue
        flagged += c.regressed
        a, b, order, secs = K.measure_rounds(runs[i], runs[j], rounds=args.rounds)
        got = K.paired_verdict(a, b, threshold=c.threshold, confidence=c.confidence, order=order)
        confirm_s.append(secs)
        confirmed_regressed += got.verdict == C.REGRESSED
        verdicts.append((i, j, c.verdict, f"{c.change_pct:+.1f}%", got.verdict, f"{(got.ratio - 1) * 100:+.1f}%"))
    pairs = args.runs * (args.runs - 1)
    print(f"pairs not unchanged in separate runs: {len(verdicts)} of {pairs}; regressed: {flagged}")
    print(f"of those, regressed once confirmed ({args.rounds} rounds): {confirmed_regressed}")
    for v in verdicts:
        print("  ", *v)
    slow = api.bench(SLOW, **opts)
    base = runs[-1]
    hits = []
    for _ in range(args.confirms):
        a, b, order, secs = K.measure_rounds(base, slow, rounds=args.rounds)
        got = K.paired_verdict(a, b, threshold=C.DEFAULT_THRESHOLD, confidence=C.DEFAULT_CONFIDENCE, order=order)
        hits.append((got.verdict, round(got.ratio, 2)))
        confirm_s.append(secs)
    print(f"{os.path.basename(SLOW)} vs {os.path.basename(MODEL)}, confirmed {args.confirms}x: {hits}")
    if confirm_s:
        confirm_s.sort()
        print(f"one confirmation ({args.rounds} rounds): median {confirm_s[len(confirm_s) // 2]:.1f} s")
    print(f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}; {time.monotonic() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
