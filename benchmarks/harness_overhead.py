"""How much does edgekit's harness add to what it measures, and how repeatable is its p50?

In one run on one model, interleaved so machine drift hits both sides alike:
  * bare:    a fresh process with a plain ai_edge_litert Interpreter and an invoke() loop
  * edgekit: `edgekit.api.bench` (a fresh worker process, the full method)
Each side is measured ROUNDS times with the same threads, warmup and run count. Printed:
  * ratio = median of edgekit p50s / median of bare p50s     (goal <= 1.02)
  * CV of edgekit's p50 over the rounds                       (goal <= 3%)

Usage: .venv/bin/python benchmarks/harness_overhead.py [MODEL] [--rounds 5] [--runs 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DEFAULT_MODEL = os.path.join(ROOT, "..", "shared", "testdata", "coral", "models", "mobilenet_v2_1.0_224_quant.tflite")

BARE = r"""
import sys, time, json
import numpy as np
from ai_edge_litert.interpreter import Interpreter
path, threads, warmup, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
it = Interpreter(model_path=path, num_threads=threads)
it.allocate_tensors()
d = it.get_input_details()[0]
info = np.iinfo(d["dtype"]) if np.dtype(d["dtype"]).kind in "iu" else None
x = (np.random.default_rng(0).integers(info.min, info.max + 1, size=d["shape"], dtype=d["dtype"]) if info
     else np.random.default_rng(0).uniform(-1, 1, size=d["shape"]).astype(d["dtype"]))
it.set_tensor(d["index"], x)
it.invoke()
for _ in range(warmup):
    it.invoke()
samples = []
for _ in range(runs):
    t0 = time.perf_counter_ns(); it.invoke(); samples.append((time.perf_counter_ns() - t0) / 1e6)
samples.sort()
print(json.dumps({"p50": float(np.percentile(samples, 50))}))
"""


def bare_p50(model: str, threads: int, warmup: int, runs: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", BARE, model, str(threads), str(warmup), str(runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["p50"]


def main() -> int:
    from edgekit import api

    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--settle", type=int, default=1, help="unreported rounds first (the machine settles)")
    a = p.parse_args()
    for _ in range(a.settle):  # like pyperf's warmup process: the first round runs on a cold machine
        bare_p50(a.model, a.threads, a.warmup, a.runs)
        api.bench(a.model, threads=a.threads, warmup=a.warmup, min_runs=a.runs, min_time_s=0.0, max_runs=a.runs)
    bare, kit = [], []
    for i in range(a.rounds):
        bare.append(bare_p50(a.model, a.threads, a.warmup, a.runs))
        r = api.bench(a.model, threads=a.threads, warmup=a.warmup, min_runs=a.runs, min_time_s=0.0, max_runs=a.runs)
        kit.append(r["latency_ms"]["p50"])
        print(f"round {i + 1}: bare p50 {bare[-1]:.3f} ms   edgekit p50 {kit[-1]:.3f} ms", flush=True)
    ratio = statistics.median(kit) / statistics.median(bare)
    cv = statistics.stdev(kit) / statistics.mean(kit)
    bare_cv = statistics.stdev(bare) / statistics.mean(bare)
    print(f"model: {os.path.basename(a.model)}  threads={a.threads} runs={a.runs} rounds={a.rounds}")
    print(f"median p50: bare {statistics.median(bare):.3f} ms, edgekit {statistics.median(kit):.3f} ms")
    print(f"overhead ratio (edgekit/bare): {ratio:.3f}  (goal <= 1.02): {'met' if ratio <= 1.02 else 'NOT met'}")
    print(
        f"p50 repeatability over {a.rounds} runs: CV {cv:.2%}  (goal <= 3%): {'met' if cv <= 0.03 else 'NOT met'}"
        f"   [the bare loop's own CV on this machine: {bare_cv:.2%}]"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
