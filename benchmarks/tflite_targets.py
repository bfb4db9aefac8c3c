"""Every TFLite target for the digits CNN and MobileNetV2: size, p50 latency, accuracy/drift, and
the latency ratio against the same model converted by a plain hand-written TFLiteConverter call
with the same settings (goal: ratio <= 1.00, i.e. edgekit's artifact is never slower).

    .venv/bin/python benchmarks/tflite_targets.py [--models digits,mobilenetv2] [--threads 2]
                                                  [--out out/bench/tflite_targets] [--reuse-plain]

Builds run through the real CLI (`edgekit build`); the baselines are converted in a separate
process by `--plain MODEL TARGET OUT` below (from_keras_model + the textbook settings); every
artifact is measured by `edgekit.api.bench` in its own worker process, edgekit's and the plain
one alternately for 3 rounds (median), and their op lists compared. Writes RESULTS.json in the
output directory and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "examples", "keras_digits")
MNV2 = os.path.join(ROOT, "examples", "keras_mobilenetv2")
sys.path[:0] = [ROOT, DIGITS, MNV2]
TARGETS = ["tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8", "tflite-int16x8"]
MNV2_CAL = 32
ROUNDS = 3  # edgekit and plain measured alternately, median of rounds: the machine may be shared
REBUILD_PLAIN = True


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, DIGITS, MNV2]), TF_CPP_MIN_LOG_LEVEL="2")


def edgekit_build(model: str, work: str) -> dict:
    if model == "digits":
        import digits

        digits.prepare(work)
        cmd = ["build", os.path.join(work, "edgekit.toml")]
    else:
        cmd = [
            "build",
            "--source",
            "mobilenetv2:realistic_mobilenetv2",
            *sum((["-t", t] for t in TARGETS), []),
            "--calibration",
            "mobilenetv2:calibration_images",
            "--calibration-count",
            str(MNV2_CAL),
            "--eval-count",
            "16",
            "--option",
            "tflite-int8.io_dtype=int8",
            "-o",
            os.path.join(work, "artifacts"),
        ]
    proc = subprocess.run([sys.executable, "-m", "edgekit", *cmd, "--json"], capture_output=True, text=True, env=_env(), cwd=work)
    if not proc.stdout.strip():
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout)


# -- the hand-written baseline: what an engineer writes from the TFLite docs ------------------------
def plain_convert(model: str, target: str, out: str, work: str) -> None:
    import numpy as np
    import tensorflow as tf

    if model == "digits":
        import keras

        m = keras.saving.load_model(os.path.join(work, "digits_cnn.keras"), compile=False)
        with np.load(os.path.join(work, "train.npz")) as z:
            cal = z["pixels"][:300]
    else:
        import mobilenetv2

        m = mobilenetv2.realistic_mobilenetv2()
        cal = np.concatenate(list(mobilenetv2.calibration_images()))[:MNV2_CAL]

    def rep():
        for i in range(len(cal)):
            yield [cal[i : i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    if target == "tflite-fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif target == "tflite-dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif target == "tflite-int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    elif target == "tflite-int16x8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    with open(out, "wb") as f:
        f.write(conv.convert())


def plain_build(model: str, work: str) -> dict:
    paths = {}
    for target in TARGETS:
        out = os.path.join(work, "plain", f"{model}.{target}.tflite")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.exists(out) and not REBUILD_PLAIN:
            paths[target] = out
            continue
        proc = subprocess.run(
            [sys.executable, __file__, "--plain", model, target, out, work], capture_output=True, text=True, env=_env()
        )
        paths[target] = out if proc.returncode == 0 and os.path.exists(out) else None
    return paths


def measure(path: str, threads: int) -> float | None:
    from edgekit import api

    try:
        r = api.bench(path, threads=threads, warmup=10, min_runs=30, min_time_s=2.0, timeout=900)
    except Exception as exc:  # an artifact that cannot run has no latency
        print(f"  {os.path.basename(path)}: {exc}", file=sys.stderr)
        return None
    return r["latency_ms"]["p50"]


def _median(values: list) -> float | None:
    vals = sorted(v for v in values if v is not None)
    return vals[len(vals) // 2] if vals else None


def run_model(model: str, root: str, threads: int) -> list[dict]:
    work = os.path.join(root, model)
    os.makedirs(work, exist_ok=True)
    print(f"[{model}] edgekit build ...", file=sys.stderr, flush=True)
    report = edgekit_build(model, work)
    print(f"[{model}] plain TFLiteConverter baselines ...", file=sys.stderr, flush=True)
    plain = plain_build(model, work)
    rows = []
    for a in report["artifacts"]:
        t = a["target"]
        row = {
            "model": model,
            "target": t,
            "status": a["status"],
            "size_bytes": a.get("size_bytes"),
            "accuracy": a.get("accuracy") or {},
            "error": (a.get("error") or {}).get("message"),
        }
        mine = os.path.join(report["outdir"], a["file"]) if a.get("file") else None
        ours, theirs = [], []
        for _ in range(ROUNDS if mine and plain.get(t) else 1):
            ours.append(measure(mine, threads) if mine else None)
            theirs.append(measure(plain[t], threads) if plain.get(t) else None)
        row["p50_ms"] = _median(ours)
        row["plain_p50_ms"] = _median(theirs)
        if mine and plain.get(t):
            from edgekit.targets.tflite import op_histogram

            row["same_graph"] = op_histogram(open(mine, "rb").read()) == op_histogram(open(plain[t], "rb").read())
        row["plain_size_bytes"] = os.path.getsize(plain[t]) if plain.get(t) else None
        if row["p50_ms"] and row["plain_p50_ms"]:
            row["ratio"] = row["p50_ms"] / row["plain_p50_ms"]
        print(f"  {t}: {row['status']} p50 {row['p50_ms']} plain {row['plain_p50_ms']}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def markdown(rows: list[dict], threads: int) -> str:
    def mb(n):
        return "-" if n is None else (f"{n / 1e6:.2f} MB" if n > 1e6 else f"{n / 1e3:.1f} kB")

    def ms(v):
        return "-" if v is None else f"{v:.3f}"

    lines = [
        f"| model | target | status | size | p50 ms ({threads} thr) | plain p50 ms | ratio | same ops | accuracy (float) | cosine | SNR dB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a = r["accuracy"]
        acc = f"{a['accuracy']:.2f}% ({a['reference_accuracy']:.2f}%)" if "accuracy" in a else "-"
        lines.append(
            f"| {r['model']} | {r['target']} | {r['status']} | {mb(r['size_bytes'])} | {ms(r['p50_ms'])} | "
            f"{ms(r['plain_p50_ms'])} | {r['ratio']:.2f} | {'yes' if r.get('same_graph') else 'no'} | {acc} | {a.get('cosine', float('nan')):.4f} | {a.get('snr_db', float('nan')):.1f} |"
            if r.get("ratio")
            else f"| {r['model']} | {r['target']} | {r['status']} | {mb(r['size_bytes'])} | {ms(r['p50_ms'])} | "
            f"{ms(r['plain_p50_ms'])} | - | - | {acc} | - | - |"
        )
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--plain":
        plain_convert(*sys.argv[2:6])
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="digits,mobilenetv2")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=os.path.join(ROOT, "out", "bench", "tflite_targets"))
    p.add_argument("--reuse-plain", action="store_true", help="keep already converted baselines")
    args = p.parse_args()
    global REBUILD_PLAIN
    REBUILD_PLAIN = not args.reuse_plain
    rows = []
    for model in args.models.split(","):
        rows += run_model(model.strip(), os.path.abspath(args.out), args.threads)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "RESULTS.json"), "w") as f:
        json.dump(rows, f, indent=2)
    print(markdown(rows, args.threads))
    for r in rows:
        if r.get("error"):
            print(f"\n{r['model']} {r['target']}: {r['error']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
