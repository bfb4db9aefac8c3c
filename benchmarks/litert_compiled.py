"""p50 of LiteRT's Interpreter against its CompiledModel API (issue 16: the second tflite provider).

    .venv/bin/python benchmarks/litert_compiled.py [--rounds 3] [--threads 1] [--min-time 1.0]

For each CPU model of Coral's shared test data (the non-_edgetpu .tflite files CompiledModel loads),
alternates ``edgekit.api.bench`` with the default provider (ai_edge_litert's Interpreter) and with
``provider="litert-compiled"``, each a fresh worker process with the full method (warm-up, the
repeated-invoke output check, the same statistics), --rounds times. Prints a Markdown table of the
median of per-round p50s and the ratio compiled/interpreter (below 1: CompiledModel is faster).
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
MODELS = os.path.join(ROOT, "..", "shared", "testdata", "coral", "models")
# CompiledModel refuses variable tensors (the LSTM), and no runtime here has the two custom ops.
SKIP = (
    "keras_lstm_mnist_ptq.tflite",
    "model_invoking_error.tflite",
    "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite",
)  # its custom op: no runtime here has it
PROVIDERS = (("Interpreter", None), ("CompiledModel", "litert-compiled"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=1.0)
    args = ap.parse_args()
    os.environ["EDGEKIT_HISTORY"] = "off"
    from edgekit import api
    from edgekit.errors import EdgekitError

    models = [
        m
        for m in sorted(glob.glob(os.path.join(MODELS, "*.tflite")))
        if not m.endswith("_edgetpu.tflite") and os.path.basename(m) not in SKIP
    ]
    rows = []
    for path in models:
        p50: dict[str, list[float]] = {label: [] for label, _ in PROVIDERS}
        failed = None
        for r in range(args.rounds):
            order = PROVIDERS if r % 2 == 0 else PROVIDERS[::-1]  # alternate which goes first
            for label, provider in order:
                try:
                    res = api.bench(
                        path, provider=provider, threads=args.threads, warmup=10, min_runs=50, min_time_s=args.min_time
                    )
                except EdgekitError as exc:
                    failed = exc.line()
                    break
                p50[label].append(res["latency_ms"]["p50"])
            if failed:
                break
        name = os.path.basename(path)
        if failed:
            rows.append(f"| {name} | - | - | - | {failed} |")
            continue
        mi, mc = statistics.median(p50["Interpreter"]), statistics.median(p50["CompiledModel"])
        rounds = ", ".join(f"{a:.3f}/{b:.3f}" for a, b in zip(p50["Interpreter"], p50["CompiledModel"]))
        rows.append(f"| {name} | {mi:.3f} ms | {mc:.3f} ms | {mc / mi:.3f} | {rounds} |")
        print(rows[-1], file=sys.stderr, flush=True)
    print(f"threads {args.threads}, {args.rounds} alternated rounds, min-time {args.min_time} s\n")
    print("| model | Interpreter median p50 | CompiledModel median p50 | ratio compiled/interpreter | per-round p50 (ms, I/C) |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
