"""One network, three runtimes' files: the RapidOCR text-orientation classifier as `.onnx` (onnxruntime)
against the `tflite-fp32` and `tflite-int8` edgekit builds from that same file (LiteRT), p50 alternated.

    .venv/bin/python benchmarks/onnx_vs_tflite.py [--rounds 3] [--threads 1] [--out out/bench/onnx_vs_tflite]

The TFLite files come from `edgekit build --source <classifier>.onnx --input-shape x=1,3,48,192`
through the onnx2tf toolchain (installed: `edgekit toolchains install onnx2tf`), calibrated on 80
text-line crops of the shared photos (tests/onnx_source/data.py) and drift-checked on 40 others.
Every file is measured by `edgekit.api.bench` in its own worker process, all three alternately for
``--rounds`` rounds (median of the rounds' p50). Prints Markdown; writes RESULTS.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("EDGEKIT_SHARED", ROOT.parent / "shared"))
CLASSIFIER = SHARED / "testdata" / "onnx" / "rapidocr" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "out" / "bench" / "onnx_vs_tflite"))
    args = ap.parse_args()
    import numpy as np

    from edgekit import api
    from tests.onnx_source import data

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cal = out / "text_lines.npz"
    np.savez(cal, x=data.text_lines(SHARED / "testdata" / "coral", 120))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgekit",
            "build",
            "--source",
            str(CLASSIFIER),
            "--input-shape",
            "x=1,3,48,192",
            "-t",
            "tflite-fp32",
            "-t",
            "tflite-int8",
            "--calibration",
            str(cal),
            "--calibration-count",
            "80",
            "--eval-count",
            "40",
            "-o",
            str(out / "artifacts"),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    if not proc.stdout.strip():
        raise SystemExit(proc.stderr[-3000:])
    report = json.loads(proc.stdout)
    files = {"onnx (onnxruntime)": (str(CLASSIFIER), {"input_shapes": ["x=1,3,48,192"]})}
    entries = {e["target"]: e for e in report["artifacts"]}
    for t in ("tflite-fp32", "tflite-int8"):
        if entries.get(t, {}).get("file"):
            files[f"{t} (LiteRT)"] = (str(out / "artifacts" / entries[t]["file"]), {})
    p50: dict[str, list[float]] = {k: [] for k in files}
    for _ in range(args.rounds):
        for k, (path, extra) in files.items():
            r = api.bench(path, threads=args.threads, raise_on_error=False, **extra)
            if r.get("status") == "ok":
                p50[k].append(r["latency_ms"]["p50"])
    rows = []
    base = statistics.median(p50["onnx (onnxruntime)"]) if p50["onnx (onnxruntime)"] else None
    print("| file | size | cosine vs onnxruntime (held-out) | p50 ms (median of rounds) | p50 / onnx |")
    print("|---|---|---|---|---|")
    for k, (path, _) in files.items():
        med = statistics.median(p50[k]) if p50[k] else None
        t = k.split(" ")[0]
        cos = (entries.get(t, {}).get("accuracy") or {}).get("cosine") if t in entries else 1.0
        rows.append({"file": k, "size_bytes": os.path.getsize(path), "cosine": cos, "p50_ms": med, "rounds": p50[k]})
        print(
            f"| {k} | {os.path.getsize(path):,} | {cos if cos is None else format(cos, '.5f')} | "
            f"{'-' if med is None else format(med, '.3f')} | {'-' if not (med and base) else format(med / base, '.2f')} |"
        )
    (out / "RESULTS.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
