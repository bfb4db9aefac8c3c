"""onnxruntime vs ai-edge-litert (and ExecuTorch) on the same network, and edgekit's onnxruntime
p50 against a bare ``InferenceSession.run`` loop (issue 18).

    .venv/bin/python benchmarks/onnx_runtimes.py [--workdir out/bench/onnx] [--rounds 5] [--runs 1000] [--threads 1]

Part 1, digits: the PyTorch digits CNN (examples/torch_digits) built to ``onnx``, ``onnx-int8`` and
``executorch-xnnpack-int8``, and the same architecture from the Keras digits example
(examples/keras_digits) built to ``tflite-int8`` (PyTorch -> int8 TFLite is not in the main
environment). Every artifact is measured by ``edgekit.api.bench`` (a fresh worker process each,
the same method for every format) with the same threads, warmup and run count; the rounds
alternate the artifacts (the order rotates each round) so machine drift hits all alike; the table
shows the median over rounds of each artifact's p50.

Part 2, harness overhead on onnxruntime: the shared RapidOCR classifier at 1x3x48x192, alternating
a bare loop in a fresh process (``InferenceSession`` with the same intra-op threads, one
``run`` per sample timed with perf_counter_ns) and ``edgekit.api.bench``; ratio of median p50s
(goal <= 1.02). Prints Markdown.
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
CLS = os.path.join(ROOT, "..", "shared", "testdata", "onnx", "rapidocr", "ch_ppocr_mobile_v2.0_cls_infer.onnx")

BARE = r"""
import sys, time, json
import numpy as np
import onnxruntime as ort
path, threads, warmup, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
s = ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).uniform(-1, 1, size=(1, 3, 48, 192)).astype(np.float32)
feed = {"x": x}; names = [o.name for o in s.get_outputs()]
s.run(names, feed)
for _ in range(warmup):
    s.run(names, feed)
samples = []
for _ in range(runs):
    t0 = time.perf_counter_ns(); s.run(names, feed); samples.append((time.perf_counter_ns() - t0) / 1e6)
print(json.dumps({"p50": float(np.percentile(samples, 50))}))
"""


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT, EDGEKIT_HISTORY="off")
    env.pop("EDGEKIT_DEBUG", None)
    return env


def build_digits(workdir: str) -> dict[str, str]:
    """{label: artifact path} for the four digits artifacts."""
    from edgekit import api
    from examples.keras_digits import digits as keras_digits
    from examples.torch_digits import digits as torch_digits

    torch_dir, keras_dir = os.path.join(workdir, "torch"), os.path.join(workdir, "keras")
    torch_digits.prepare(torch_dir)
    keras_digits.prepare(keras_dir)
    out = {}
    rep = api.build(os.path.join(torch_dir, "edgekit.toml"), targets=["onnx", "onnx-int8", "executorch-xnnpack-int8"])
    for e in rep.entries:
        if e.status not in ("built", "cached"):
            raise SystemExit(f"{e.target} failed: {e.error}")
        out[e.target] = os.path.join(rep.outdir, e.file)
    rep = api.build(os.path.join(keras_dir, "edgekit.toml"), targets=["tflite-int8"])
    (e,) = rep.entries
    if e.status not in ("built", "cached"):
        raise SystemExit(f"tflite-int8 failed: {e.error}")
    out["tflite-int8 (Keras twin)"] = os.path.join(rep.outdir, e.file)
    return out


def bench_p50(path: str, threads: int, warmup: int, runs: int, **extra) -> tuple[float, str]:
    from edgekit import api

    r = api.bench(path, threads=threads, warmup=warmup, min_runs=runs, min_time_s=0.0, max_runs=runs, **extra)
    rt = r["runtime"]
    return r["latency_ms"]["p50"], f"{rt['name']} {rt.get('version') or ''}".strip()


def bare_p50(path: str, threads: int, warmup: int, runs: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", BARE, path, str(threads), str(warmup), str(runs)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["p50"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=os.path.join(ROOT, "out", "bench", "onnx"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    arts = build_digits(a.workdir)
    labels = list(arts)
    p50s: dict[str, list[float]] = {k: [] for k in labels}
    runtime: dict[str, str] = {}
    for k in labels:  # one unreported settling pass
        bench_p50(arts[k], a.threads, a.warmup, a.runs)
    for r in range(a.rounds):
        order = labels[r % len(labels) :] + labels[: r % len(labels)]
        for k in order:
            p, runtime[k] = bench_p50(arts[k], a.threads, a.warmup, a.runs)
            p50s[k].append(p)
        print(f"round {r + 1}: " + ", ".join(f"{k} {p50s[k][-1] * 1e3:.1f} us" for k in labels), file=sys.stderr, flush=True)
    base = statistics.median(p50s["onnx"])
    print(f"\n### digits CNN, {a.threads} thread(s), {a.runs} runs x {a.rounds} alternating rounds\n")
    print("| artifact | runtime | size | median p50 | per-round p50 (us) | vs onnx |")
    print("|---|---|---|---|---|---|")
    for k in labels:
        med = statistics.median(p50s[k])
        size = os.path.getsize(arts[k])
        print(
            f"| {k} | {runtime[k]} | {size / 1024:.1f} KiB | {med * 1e3:.1f} us | "
            f"{', '.join(f'{p * 1e3:.1f}' for p in p50s[k])} | {med / base:.2f}x |"
        )

    shape = {"x": [1, 3, 48, 192]}
    bare_p50(CLS, a.threads, a.warmup, a.runs)
    bench_p50(CLS, a.threads, a.warmup, a.runs, input_shapes=shape)
    bare, kit = [], []
    for r in range(a.rounds):
        bare.append(bare_p50(CLS, a.threads, a.warmup, a.runs))
        kit.append(bench_p50(CLS, a.threads, a.warmup, a.runs, input_shapes=shape)[0])
        print(f"round {r + 1}: bare {bare[-1]:.3f} ms, edgekit {kit[-1]:.3f} ms", file=sys.stderr, flush=True)
    ratio = statistics.median(kit) / statistics.median(bare)
    print(
        f"\n### harness overhead on onnxruntime: RapidOCR classifier 1x3x48x192, {a.threads} thread(s), "
        f"{a.runs} runs x {a.rounds} alternating rounds\n"
    )
    print("| | median p50 | per-round p50 (ms) |")
    print("|---|---|---|")
    print(f"| bare InferenceSession.run loop | {statistics.median(bare):.3f} ms | {', '.join(f'{p:.3f}' for p in bare)} |")
    print(f"| edgekit bench | {statistics.median(kit):.3f} ms | {', '.join(f'{p:.3f}' for p in kit)} |")
    print(f"\nratio edgekit/bare: {ratio:.3f} (goal <= 1.02: {'met' if ratio <= 1.02 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
