"""`make demo`: edgekit's main flow end to end on built-in defaults.

Each step runs the real CLI (as a user would type it) and prints its output. Steps are a list so
each part of the product adds its own without touching the others.
"""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORAL = os.path.join(ROOT, "..", "shared", "testdata", "coral")
OUT = os.path.join(ROOT, "out", "demo")


def edgekit(*args: str) -> None:
    cmd = [sys.executable, "-m", "edgekit", *args]
    print(f"\n$ edgekit {' '.join(os.path.relpath(a, ROOT) if os.path.exists(a) else a for a in args)}", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"demo step failed: edgekit {' '.join(args)} (exit {proc.returncode})")


def step_real_model() -> None:
    """Inspect, benchmark and run a real quantized classifier nobody on this project made."""
    model = os.path.join(CORAL, "models", "mobilenet_v2_1.0_224_quant.tflite")
    if not os.path.exists(model):
        print(f"(skipping the Coral model step: {model} not found)")
        return
    edgekit("inspect", model)
    edgekit("bench", model, "--threads", "2", "--min-time", "1")
    edgekit(
        "run",
        model,
        "--image",
        os.path.join(CORAL, "images", "parrot.jpg"),
        "--labels",
        os.path.join(CORAL, "labels", "imagenet_labels.txt"),
        "--top-k",
        "3",
    )


def step_keras_digits() -> None:
    """Train a digits CNN, build every TFLite target from it, benchmark them, accuracy per artifact."""
    work = os.path.join(OUT, "keras_digits")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "keras_digits", "run.py"), "prepare", work], cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit("demo step failed: training the digits CNN")
    edgekit("build", os.path.join(work, "edgekit.toml"))
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, run; r = run.build(sys.argv[1]); run.print_rows(run.bench_all(r))", work],
        cwd=os.path.join(ROOT, "examples", "keras_digits"),
    )
    if proc.returncode != 0:
        raise SystemExit("demo step failed: benchmarking the digits artifacts")


def step_torch_digits() -> None:
    """Train a PyTorch digits CNN, build every PyTorch target (.pte, .ptl, ...), benchmark, accuracy per artifact."""
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "torch_digits", "run.py"), os.path.join(OUT, "torch_digits")], cwd=ROOT
    )
    if proc.returncode != 0:
        raise SystemExit("demo step failed: the PyTorch digits example")


STEPS = [step_real_model, step_keras_digits, step_torch_digits]


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    for step in STEPS:
        print(f"\n=== {step.__doc__.strip().splitlines()[0]}", flush=True)
        step()
    print(f"\nDemo finished; artifacts and results are under {os.path.relpath(OUT, ROOT)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
