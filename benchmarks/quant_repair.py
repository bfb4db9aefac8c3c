"""Plain int8 vs repaired (tflite-int8-mixed) vs int16x8 / fp16 / fp32: accuracy, size and p50.

    .venv/bin/python benchmarks/quant_repair.py [--models hostile,mobilenetv2] [--rounds 3]
                                                [--out out/bench/quant_repair]

Models: examples/keras_hostile (a trained digits CNN with one injected wide-range block: held-out
accuracy known) and examples/keras_mobilenetv2 (random weights made realistic: cosine against its
float model). Every artifact is built by the real CLI (`edgekit build`, drift on held-out samples)
and measured by `edgekit.api.bench` in its own worker process, all targets of a model alternately
for ``--rounds`` rounds (median of the rounds' p50). Writes RESULTS.json and prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTILE = os.path.join(ROOT, "examples", "keras_hostile")
MNV2 = os.path.join(ROOT, "examples", "keras_mobilenetv2")
sys.path[:0] = [ROOT, HOSTILE, MNV2]
TARGETS = ["tflite-fp32", "tflite-fp16", "tflite-int16x8", "tflite-int8", "tflite-int8-mixed"]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, HOSTILE, MNV2]), TF_CPP_MIN_LOG_LEVEL="2")


def build(model: str, work: str) -> dict:
    targets = sum((["-t", t] for t in TARGETS), [])
    io = "int8"
    if model == "hostile":
        import hostile

        hostile.digits_npz(os.path.join(work, "train.npz"), "train")
        hostile.digits_npz(os.path.join(work, "test.npz"), "test")
        code = f"import sys; sys.path.insert(0, {HOSTILE!r}); import hostile; hostile.hostile_cnn().save({os.path.join(work, 'hostile.keras')!r})"
        subprocess.run([sys.executable, "-c", code], check=True, env=_env(), capture_output=True)
        args = [
            "--source",
            os.path.join(work, "hostile.keras"),
            *targets,
            "--calibration",
            os.path.join(work, "train.npz"),
            "--calibration-count",
            "200",
            "--evaluation",
            os.path.join(work, "test.npz"),
        ]
    else:
        args = [
            "--source",
            "mobilenetv2:realistic_mobilenetv2",
            *targets,
            "--calibration",
            "mobilenetv2:calibration_images",
            "--calibration-count",
            "32",
            "--eval-count",
            "16",
            "--option",
            "tflite-int8-mixed.search_samples=16",
            "--option",
            "tflite-int8-mixed.time_budget_s=600",
        ]
        # A 1000-class softmax in int8 I/O caps cosine near 0.9 whatever the layers do: float I/O here.
        io = "float32"
    args += [
        "--option",
        f"tflite-int8.io_dtype={io}",
        "--option",
        f"tflite-int8-mixed.io_dtype={io}",
        "-o",
        os.path.join(work, "artifacts"),
        "--json",
    ]
    proc = subprocess.run([sys.executable, "-m", "edgekit", "build", *args], capture_output=True, text=True, env=_env(), cwd=work)
    if not proc.stdout.strip():
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="hostile,mobilenetv2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench", "quant_repair"))
    args = ap.parse_args()
    from edgekit import api

    results = {}
    for model in args.models.split(","):
        work = os.path.join(args.out, model)
        os.makedirs(work, exist_ok=True)
        report = build(model, work)
        entries = {e["target"]: e for e in report["artifacts"]}
        p50s: dict[str, list[float]] = {t: [] for t in entries if entries[t].get("file")}
        for _ in range(args.rounds):
            for t in p50s:
                r = api.bench(os.path.join(report["outdir"], entries[t]["file"]), raise_on_error=False)
                if r.get("status") == "ok":
                    p50s[t].append(r["latency_ms"]["p50"])
        rows = []
        for t in TARGETS:
            e = entries.get(t, {})
            acc = e.get("accuracy") or {}
            repair = (e.get("extra") or {}).get("repair") or {}
            rows.append(
                {
                    "target": t,
                    "status": e.get("status"),
                    "cosine": acc.get("cosine"),
                    "accuracy": acc.get("accuracy"),
                    "accuracy_drop": acc.get("accuracy_drop"),
                    "samples": acc.get("samples"),
                    "size_bytes": e.get("size_bytes"),
                    "p50_ms": statistics.median(p50s[t]) if p50s.get(t) else None,
                    "kept": [k["layer"] for k in repair.get("kept_layers", [])],
                    "evaluations": repair.get("evaluations"),
                    "build_s": e.get("build_time_s"),
                    "met": repair.get("met"),
                }
            )
        results[model] = rows
    with open(os.path.join(args.out, "RESULTS.json"), "w") as f:
        json.dump(results, f, indent=1)
    for model, rows in results.items():
        fp32 = next((r for r in rows if r["target"] == "tflite-fp32"), {})
        print(f"\n### {model}\n")
        print(
            "| target | status | cosine vs float | accuracy (drop) | size | size / fp32 | p50 ms | p50 / fp32 | kept float | build s |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:

            def n(v, f):
                return "-" if v is None else format(v, f)

            ratio = (r["size_bytes"] / fp32["size_bytes"]) if r["size_bytes"] and fp32.get("size_bytes") else None
            pr = (r["p50_ms"] / fp32["p50_ms"]) if r["p50_ms"] and fp32.get("p50_ms") else None
            accs = "-" if r["accuracy"] is None else f"{r['accuracy']:.2f}% ({n(r['accuracy_drop'], '+.2f')})"
            kept = (
                (", ".join(r["kept"]) if len(r["kept"]) <= 4 else f"{len(r['kept'])} layers")
                if r["kept"]
                else ("-" if r["target"] != "tflite-int8-mixed" else "none")
            )
            if r["target"] == "tflite-int8-mixed" and r["met"] is not None:
                kept += f" ({r['evaluations']} evaluations, budget {'met' if r['met'] else 'missed'})"
            print(
                f"| {r['target']} | {r['status']} | {n(r['cosine'], '.4f')} | {accs} | {n(r['size_bytes'], ',')} | "
                f"{n(ratio, '.2f')} | {n(r['p50_ms'], '.3f')} | {n(pr, '.2f')} | {kept} | {n(r['build_s'], '.1f')} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
