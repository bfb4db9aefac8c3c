"""How often does the regression gate fail an unchanged model, and how often does it pass a slow one?

Real sample sets first: each MODEL is benchmarked RUNS times at each thread count by the real
harness (`edgekit.api.bench`, one worker process per run), interleaved across models and threads so
machine drift hits every set alike. Then, per set and per injected slowdown (0%, 2%, 5%, 10%, 20%,
50%, 5x), TRIALS comparisons as the gate makes them in `compare --baseline` mode:

  * the candidate is one real run, moving-block resampled (as the gate's own bootstrap does, so the
    time structure of the run survives) and multiplied by the slowdown;
  * the baseline is another real run of the same set;
  * the run-to-run noise comes from the set's other runs (repeats of the baseline: same file,
    settings and device), never from the candidate's run.

Printed per cell: how often the gate fails (regressed or inconclusive: exit 1 with --baseline),
and in parentheses how often it says "regressed". At 0% and 2% a failure is a false positive; at
10% and above a pass is a false negative; 5% is the threshold itself.

Usage:
  .venv/bin/python benchmarks/gate_power.py [--models a.tflite,b.tflite] [--threads 1,2] [--runs 5]
      [--min-time 1] [--trials 20] [--save samples.json] [--from samples.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CORAL = os.path.join(os.environ.get("EDGEKIT_SHARED", os.path.join(ROOT, "..", "shared")), "testdata", "coral", "models")
DEFAULT_MODELS = (
    "mobilenet_v1_0.25_128_quant.tflite",
    "mobilenet_v1_0.5_160_quant.tflite",
    "mobilenet_v2_1.0_224_quant.tflite",
    "keras_lstm_mnist_ptq.tflite",
)
FACTORS = (1.0, 1.02, 1.05, 1.10, 1.20, 1.50, 5.0)


def factor_label(f: float) -> str:
    return f"{f:g}x" if f >= 2 else f"+{(f - 1) * 100:.0f}%"


def collect(models: list[str], threads: list[int], runs: int, min_time: float) -> dict[str, list[dict]]:
    """{set name: [result, ...] in time order}: real runs through the harness, interleaved."""
    from edgekit import api

    sets: dict[str, list[dict]] = {}
    for i in range(runs):
        for model in models:
            for t in threads:
                r = api.bench(model, threads=t, min_time_s=min_time)
                sets.setdefault(f"{os.path.basename(model)} t{t}", []).append(r)
                print(f"run {i + 1}/{runs} {os.path.basename(model)} t{t}: p50 {r['latency_ms']['p50']:.3f} ms", file=sys.stderr)
    return sets


def _doc(samples, sha: str, created: str) -> dict:
    return {
        "status": "ok",
        "samples_ms": list(samples),
        "created": created,
        "artifact": {"path": "/m.tflite", "name": "m.tflite", "sha256": sha},
        "device": {"name": "host"},
        "runtime": {"name": "r", "threads": 1},
    }


def resample(samples, rng):
    """A moving-block bootstrap copy of one run (same block length as the gate's bootstrap)."""
    import numpy as np

    from edgekit.results.compare import _block_length

    x = np.asarray(samples, dtype=float)
    n, block = x.size, _block_length(x.size)
    starts = rng.integers(0, n - block + 1, size=-(-n // block))
    return x[(starts[:, None] + np.arange(block)).reshape(-1)[:n]]


def power(runs: list[list[float]], factor: float, trials: int, seed: int = 0, threshold: float = 0.05) -> dict:
    """Verdict counts of ``trials`` gate decisions on one set of real runs with ``factor`` injected.

    Trial i takes candidate run c = i mod k and baseline run b = the next one (cyclically); the
    other runs, b included and c excluded, are the baseline's repeats that measure the noise.
    """
    import numpy as np

    from edgekit.results import compare as C

    k = len(runs)
    if k < 2:
        raise ValueError("power needs at least two runs of a set")
    rng = np.random.default_rng(seed)
    counts = {v: 0 for v in C.VERDICTS}
    for i in range(trials):
        c, b = i % k, (i + 1) % k
        cand = resample(runs[c], rng) * factor
        repeats = [_doc(r, "a" * 64, "2000-01-01T00:00:00+00:00") for j, r in enumerate(runs) if j != c]
        base = _doc(runs[b], "a" * 64, "2000-01-01T00:00:00+00:00")
        cmp = C.compare_results(
            base, _doc(cand, "b" * 64, "2000-01-02T00:00:00+00:00"), threshold=threshold, repeated=repeats, seed=i
        )
        counts[cmp.verdict] += 1
    counts["trials"] = trials
    counts["fail"] = counts[C.REGRESSED] + counts[C.INCONCLUSIVE]
    return counts


def noise_of(runs: list[list[float]]) -> float | None:
    from edgekit.results.compare import run_noise

    return run_noise(runs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(os.path.join(CORAL, m) for m in DEFAULT_MODELS))
    p.add_argument("--threads", default="1,2")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--min-time", type=float, default=1.0)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--save", help="write the raw results here (JSON) for --from")
    p.add_argument("--from", dest="source", help="reuse raw results from --save instead of benchmarking")
    args = p.parse_args()

    if args.source:
        with open(args.source) as f:
            sets = json.load(f)
    else:
        t0 = time.time()
        sets = collect(args.models.split(","), [int(t) for t in args.threads.split(",")], args.runs, args.min_time)
        print(f"benchmarked in {time.time() - t0:.0f} s", file=sys.stderr)
        if args.save:
            from edgekit.build.artifacts import atomic_write_json

            atomic_write_json(args.save, sets)
    header = "| set | runs x samples | run-to-run noise | " + " | ".join(factor_label(f) for f in FACTORS) + " |"
    print(
        f"Gate fails (regressed + inconclusive) of {args.trials} trials per cell, (regressed) in parentheses; "
        "threshold 5%, confidence 95%, --baseline mode\n"
    )
    print(header)
    print("|---|--:|--:|" + "--:|" * len(FACTORS))
    totals = {f: [0, 0, 0] for f in FACTORS}
    for name, results in sets.items():
        runs = [r["samples_ms"] for r in results]
        cells = []
        for f in FACTORS:
            c = power(runs, f, args.trials)
            totals[f][0] += c["fail"]
            totals[f][1] += c["regressed"]
            totals[f][2] += c["trials"]
            cells.append(f"{c['fail'] / c['trials']:.0%} ({c['regressed'] / c['trials']:.0%})")
        noise = noise_of(runs)
        size = f"{len(runs)} x {min(map(len, runs))}-{max(map(len, runs))}"
        print(f"| {name} | {size} | {'-' if noise is None else f'{noise:.1%}'} | " + " | ".join(cells) + " |")
    print("| **all** | | | " + " | ".join(f"**{a / n:.0%}** ({b / n:.0%})" for a, b, n in totals.values()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
