"""tflite-int8 from PyTorch (litert toolchain) against executorch-xnnpack-int8, on the same models, one run.

    python benchmarks/torch_tflite_int8.py [--workdir DIR] [--threads 2] [--min-time 2] [--rounds 3]

For the digits CNN (examples/torch_digits, calibrated on 300 training digits, accuracy on the 449
held-out digits) and the MobileNetV2-shaped network (examples/torch_mobilenet, random weights,
calibrated on 24 random images, drift on 8): build ``tflite-fp32``, ``tflite-int8`` and
``executorch-xnnpack-int8`` with ``edgekit.api.build`` (the TFLite ones convert in the litert
toolchain), then measure the two int8 artifacts with ``edgekit.api.bench`` (one worker process per
measurement) alternately A/B/A/B for ``--rounds`` rounds and report the median of each artifact's
per-round p50s and their ratio. Also prints the conversion time of each target. Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TARGETS = ["tflite-fp32", "tflite-int8", "executorch-xnnpack-int8"]
PAIR = ("tflite-int8", "executorch-xnnpack-int8")


def fmt_size(n) -> str:
    return "-" if n is None else (f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB")


def alternate(report, args) -> dict[str, list[float]]:
    from edgekit import api

    entries = report.manifest.entries
    if any(entries[t].status not in ("built", "cached") for t in PAIR):
        return {}
    paths = {t: os.path.join(report.outdir, entries[t].file) for t in PAIR}
    p50s: dict[str, list[float]] = {t: [] for t in PAIR}
    for _ in range(args.rounds):
        for t in PAIR:
            r = api.bench(paths[t], threads=args.threads, warmup=10, min_runs=50, min_time_s=args.min_time)
            p50s[t].append(r["latency_ms"]["p50"])
            print(f"  {t}: p50 {p50s[t][-1]:.3f} ms", file=sys.stderr, flush=True)
    return p50s


def section(title: str, report, p50s: dict[str, list[float]], with_accuracy: bool) -> str:
    e = report.manifest.entries
    head = (
        "| artifact | size | size / fp32 | build | p50 (median of rounds) | "
        + ("accuracy (eager float) | " if with_accuracy else "cosine vs float | ")
        + "I/O |"
    )
    lines = [f"### {title}", "", head, "|" + "---|" * (head.count("|") - 1)]
    fp32 = e["tflite-fp32"].size_bytes
    for t in TARGETS:
        x = e[t]
        if x.status not in ("built", "cached"):
            lines.append(f"| {t} | - | - | - | - | {(x.error or {}).get('message', '')[:80]} | - |")
            continue
        p50 = f"{statistics.median(p50s[t]):.3f} ms" if t in p50s else "-"
        acc = x.accuracy or {}
        quality = (
            f"{acc.get('accuracy', 0):.2f}% ({acc.get('reference_accuracy', 0):.2f}%)"
            if with_accuracy
            else f"{acc.get('cosine', float('nan')):.4f}"
        )
        io = "/".join(sorted({s["dtype"] for s in x.inputs + x.outputs})) if x.inputs else "-"
        lines.append(
            f"| {t} | {fmt_size(x.size_bytes)} | {x.size_bytes / fp32:.2f}x | {x.build_time_s:.0f} s | {p50} | {quality} | {io} |"
        )
    if not p50s:
        return "\n".join(lines)
    a, b = (statistics.median(p50s[t]) for t in PAIR)
    lines.append("")
    lines.append(
        f"tflite-int8 / executorch-xnnpack-int8 p50: {a / b:.2f} (rounds: "
        + ", ".join(f"{x:.3f}/{y:.3f}" for x, y in zip(*(p50s[t] for t in PAIR)))
        + " ms)"
    )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default=os.path.join(ROOT, "out", "bench_torch_tflite"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-time", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--skip-mobilenet", action="store_true")
    args = p.parse_args()

    import numpy as np

    from edgekit import api
    from edgekit.build.calibration import DataSpec
    from examples.torch_digits.digits import prepare

    t0 = time.time()
    out = []
    info = prepare(os.path.join(args.workdir, "digits"))
    report = api.build(info["spec"], targets=TARGETS, outdir=os.path.join(args.workdir, "digits", "artifacts"))
    out.append(section("Digits CNN (8x8, 449 held-out digits)", report, alternate(report, args), True))
    if not args.skip_mobilenet:
        from examples.torch_mobilenet.mobilenet import random_images

        mdir = os.path.join(args.workdir, "mobilenet")
        os.makedirs(mdir, exist_ok=True)
        cal = os.path.join(mdir, "random_images.npz")
        np.savez(cal, **random_images(32))
        report = api.build(
            source="examples.torch_mobilenet.mobilenet:mobilenet_v2",
            targets=TARGETS,
            outdir=os.path.join(mdir, "artifacts"),
            calibration=DataSpec(path=cal, count=24, eval_count=8),
        )
        out.append(
            section("MobileNetV2-shaped, 224x224, random weights (size, latency, drift)", report, alternate(report, args), False)
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f} at the end; "
        f"threads {args.threads}; {args.rounds} alternated rounds; total {time.time() - t0:.0f} s\n"
    )
    print("\n\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
