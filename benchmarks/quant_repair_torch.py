"""Plain int8 vs repaired int8 vs dynamic int8 vs fp32 for the BERT-style encoder (issue 19).

    python benchmarks/quant_repair_torch.py [--workdir DIR] [--threads 2] [--min-time 2]

Builds examples/torch_encoder through ``edgekit.api.build`` (64 calibration sentences, 32 held-out
sentences for the drift check) to executorch-xnnpack (fp32), executorch-xnnpack-int8,
executorch-xnnpack-dynamic-int8 and executorch-xnnpack-int8-mixed (repair to min_cosine 0.99),
then measures each .pte through ``edgekit.api.bench`` (one worker process per measurement). The
cosine is the build's drift check: worst held-out sentence, lowered .pte against the float model.
The static artifact is kept even when the drift gate fails it (that is what the row shows).

Prints Markdown (the BENCHMARKS.md section is pasted from it) with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TARGETS = ["executorch-xnnpack", "executorch-xnnpack-int8", "executorch-xnnpack-dynamic-int8", "executorch-xnnpack-int8-mixed"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=2.0)
    args = ap.parse_args()
    from edgekit import api
    from examples.torch_encoder.encoder import prepare

    work = args.workdir or tempfile.mkdtemp(prefix="quant-repair-torch-")
    info = prepare(work)
    t0 = time.perf_counter()
    report = api.build(info["spec"], force=True)
    build_s = time.perf_counter() - t0
    rows = []
    for e in report.entries:
        acc = e.accuracy or {}
        row = {"target": e.target, "status": e.status, "size": e.size_bytes, "cosine": acc.get("cosine"), "p50": None, "note": ""}
        if e.file and os.path.exists(os.path.join(report.outdir, e.file)):
            r = api.bench(os.path.join(report.outdir, e.file), threads=args.threads, min_time_s=args.min_time)
            row["p50"] = r["latency_ms"]["p50"]
        if e.status not in ("built", "cached"):
            row["note"] = "gate: " + (e.error or {}).get("message", "")[:110]
        rep = e.extra.get("repair")
        if rep:
            split = rep.get("split") or {}
            row["note"] = (
                f"kept float: {', '.join(rep['kept_layers']) or 'none'}; search cosine "
                f"{rep['baseline_score']:.4f} -> {rep['score']:.4f} (aim {rep.get('search_target', 0.99):.3f}) "
                f"in {rep['evaluations']} evaluations on {split.get('search_samples', rep.get('search_samples'))} "
                f"sentences held apart from the {split.get('calibration_samples', '?')} calibrated on; "
                f"repair {'met' if rep.get('met') else 'NOT met'} held out"
            )
        rows.append(row)
        print(f"  {row}", file=sys.stderr, flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import torch

    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f} at the end; "
        f"threads {args.threads}; torch {torch.__version__}; build {build_s:.0f} s\n"
    )
    fp32 = next((r for r in rows if r["target"] == "executorch-xnnpack"), None)
    print("| target | status | cosine (worst held-out) | size | p50 | vs fp32 size / p50 | notes |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        rel = ""
        if fp32 and fp32["size"] and r["size"] and fp32["p50"] and r["p50"]:
            rel = f"{r['size'] / fp32['size']:.2f} / {r['p50'] / fp32['p50']:.2f}"
        cos = f"{r['cosine']:.4f}" if r["cosine"] is not None else "-"
        size = f"{r['size'] / 1e6:.2f} MB" if r["size"] else "-"
        p50 = f"{r['p50']:.2f} ms" if r["p50"] else "-"
        print(f"| {r['target']} | {r['status']} | {cos} | {size} | {p50} | {rel} | {r['note']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
