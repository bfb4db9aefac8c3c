"""Size, p50 latency and accuracy of every PyTorch target, and edgekit's .pte vs a hand-written export.

    python benchmarks/torch_targets.py [--workdir DIR] [--threads 2] [--min-time 2] [--skip-mobilenet]

1. The digits CNN (examples/torch_digits): every PyTorch target built through ``edgekit.api.build``
   (calibrated on training digits, accuracy on the 449 held-out digits), each artifact benchmarked
   through ``edgekit.api.bench`` (one worker process per measurement).
2. The MobileNetV2-like network with random weights (examples/torch_mobilenet): size and latency
   only (its accuracy means nothing), calibrated on random images.
3. For each model, the ratio of edgekit's executorch-xnnpack p50 to a hand-written export of the
   same model (torch.export -> to_edge_transform_and_lower(XnnpackPartitioner) -> to_executorch),
   both measured by the same harness, interleaved A/B/A/B and the lower p50 of each kept. Goal <= 1.00.

Prints Markdown (the BENCHMARKS.md section is pasted from it). Timings are from whatever machine
runs it; the machine's CPU and load are printed alongside.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DIGITS_TARGETS = [
    "executorch-portable",
    "executorch-xnnpack",
    "executorch-xnnpack-int8",
    "executorch-xnnpack-dynamic-int8",
    "executorch-coreml",
    "ptl",
    "tflite-from-torch",
]
MOBILENET_TARGETS = [
    "executorch-portable",
    "executorch-xnnpack",
    "executorch-xnnpack-int8",
    "executorch-xnnpack-dynamic-int8",
    "ptl",
    "tflite-from-torch",
]


def bench_opts(args, target: str) -> dict:
    slow = target == "executorch-portable"  # portable kernels: seconds per MobileNet inference
    return dict(
        threads=args.threads, warmup=1 if slow else 10, min_runs=5 if slow else 50, min_time_s=0.0 if slow else args.min_time
    )


def measure(report, args) -> list[dict]:
    from edgekit import api

    rows = []
    for e in report.entries:
        row = {
            "target": e.target,
            "status": e.status,
            "size": e.size_bytes,
            "p50": None,
            "accuracy": (e.accuracy or {}).get("accuracy"),
            "reference": (e.accuracy or {}).get("reference_accuracy"),
            "cosine": (e.accuracy or {}).get("cosine"),
            "note": "",
        }
        if e.status not in ("built", "cached"):
            row["note"] = (e.error or {}).get("message", "")[:120]
        elif e.extra.get("not_run"):
            row["note"] = "built, not run: needs Apple hardware"
        else:
            r = api.bench(os.path.join(report.outdir, e.file), **bench_opts(args, e.target))
            row["p50"] = r["latency_ms"]["p50"]
            d = (r.get("delegates") or [{}])[0]
            row["note"] = f"{d.get('name', '')} {d.get('nodes', '')}/{d.get('total_nodes', '')} nodes" if d else ""
        rows.append(row)
        print(f"  {e.target}: {row}", file=sys.stderr, flush=True)
    return rows


def hand_written_pte(model, example, path: str) -> None:
    """What a user writes by hand with the ExecuTorch docs, fp32 XNNPACK."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    ep = torch.export.export(model, example)
    program = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    with open(path, "wb") as f:
        f.write(program.buffer)


def ratio(edgekit_pte: str, hand_pte: str, args) -> tuple[float, float, float]:
    from edgekit import api

    best = {edgekit_pte: float("inf"), hand_pte: float("inf")}
    for _ in range(2):
        for p in (edgekit_pte, hand_pte):
            r = api.bench(p, threads=args.threads, warmup=10, min_runs=50, min_time_s=args.min_time)
            best[p] = min(best[p], r["latency_ms"]["p50"])
    return best[edgekit_pte], best[hand_pte], best[edgekit_pte] / best[hand_pte]


def fmt_size(n) -> str:
    return "-" if n is None else (f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB")


def table(title: str, rows: list[dict], with_accuracy: bool) -> str:
    head = "| target | size | p50 | " + ("accuracy (float) | " if with_accuracy else "") + "notes |"
    lines = [f"### {title}", "", head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        p50 = "-" if r["p50"] is None else f"{r['p50']:.3f} ms"
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.2f}% ({r['reference']:.2f}%)"
        lines.append(
            f"| {r['target']} | {fmt_size(r['size'])} | {p50} | " + (f"{acc} | " if with_accuracy else "") + f"{r['note']} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default=os.path.join(ROOT, "out", "bench_torch"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-time", type=float, default=2.0)
    p.add_argument("--skip-mobilenet", action="store_true")
    args = p.parse_args()

    import torch

    from edgekit import api
    from edgekit.build.calibration import DataSpec
    from examples.torch_digits.digits import prepare

    out = []
    t0 = time.time()
    digits_dir = os.path.join(args.workdir, "digits")
    info = prepare(digits_dir)
    report = api.build(info["spec"])
    digits_rows = measure(report, args)
    out.append(table("Digits CNN (8x8, held-out accuracy on 449 digits)", digits_rows, True))
    ratios = []
    xnn = report.manifest.entries["executorch-xnnpack"]
    ep = torch.export.load(info["model"])
    hand = os.path.join(digits_dir, "hand_written.pte")
    hand_written_pte(ep.module(), (torch.zeros(1, 1, 8, 8),), hand)
    ratios.append(("digits CNN", *ratio(os.path.join(report.outdir, xnn.file), hand, args)))

    if not args.skip_mobilenet:
        import numpy as np

        from examples.torch_mobilenet.mobilenet import mobilenet_v2, random_images

        mdir = os.path.join(args.workdir, "mobilenet")
        os.makedirs(mdir, exist_ok=True)
        cal = os.path.join(mdir, "random_images.npz")
        np.savez(cal, **random_images(32))
        report = api.build(
            source="examples.torch_mobilenet.mobilenet:mobilenet_v2",
            targets=MOBILENET_TARGETS,
            outdir=os.path.join(mdir, "artifacts"),
            calibration=DataSpec(path=cal, count=16, eval_count=16),
        )
        m_rows = measure(report, args)
        out.append(table("MobileNetV2-like, 224x224, random weights (size and latency only)", m_rows, False))
        model, example = mobilenet_v2()
        hand = os.path.join(mdir, "hand_written.pte")
        hand_written_pte(model, example, hand)
        xnn = report.manifest.entries["executorch-xnnpack"]
        ratios.append(("MobileNetV2-like", *ratio(os.path.join(report.outdir, xnn.file), hand, args)))

    lines = [
        "### edgekit executorch-xnnpack vs a hand-written export (same harness, lower p50 of 2 interleaved runs)",
        "",
        "| model | edgekit p50 | hand-written p50 | ratio (goal <= 1.00) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {n} | {a:.3f} ms | {b:.3f} ms | {r:.2f} |" for n, a, b, r in ratios]
    out.append("\n".join(lines))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f} at the end; "
        f"threads {args.threads}; torch {torch.__version__}; total {time.time() - t0:.0f} s\n"
    )
    print("\n\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
