"""Wall time of an unchanged rebuild of the digits example (issue 14: goal <= 1 s), against the
first build and a full-path rebuild that loads the model and re-checks every artifact.

    .venv/bin/python benchmarks/cached_rebuild.py [--workdir out/bench/cached_rebuild] [--runs 5]

Prepares the example (`examples/keras_digits/run.py prepare`), builds it once, then times
`python -m edgekit build WORKDIR/edgekit.toml` as a shell would (a fresh interpreter each run,
wall clock around the subprocess) --runs times with nothing changed, and once with a changed
threshold (the input key no longer matches: TensorFlow loads, every artifact is re-verified,
nothing is rebuilt). Prints a Markdown table and whether the cached rebuild imported a framework.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "examples", "keras_digits")


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT, EDGEKIT_HISTORY="off")
    env.pop("EDGEKIT_DEBUG", None)
    return env


def timed_build(toml: str, *extra: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", "build", toml, "--json", *extra], capture_output=True, text=True, env=_env(), cwd=ROOT
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"edgekit build failed ({proc.returncode})")
    return wall, json.loads(proc.stdout)


def imports_framework(toml: str) -> list[str]:
    code = (
        "import sys, io, contextlib; from edgekit.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()): main(['build', {toml!r}, '--json'])\n"
        "print(','.join(m for m in ('tensorflow', 'keras', 'torch', 'ai_edge_litert') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=ROOT)
    return [m for m in proc.stdout.strip().split(",") if m]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=os.path.join(ROOT, "out", "bench", "cached_rebuild"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    subprocess.run(
        [sys.executable, os.path.join(DIGITS, "run.py"), "prepare", args.workdir], check=True, capture_output=True, env=_env()
    )
    toml = os.path.join(args.workdir, "edgekit.toml")
    first, report = timed_build(toml)
    assert all(a["status"] == "built" for a in report["artifacts"]), report
    cached = []
    for _ in range(args.runs):
        wall, rep = timed_build(toml)
        assert all(a["status"] == "cached" for a in rep["artifacts"]), rep
        cached.append(wall)
    frameworks = imports_framework(toml)  # before the changed-threshold build re-keys the manifest
    changed, rep = timed_build(toml, "--threshold", "tflite-fp32.min_cosine=0.5")
    assert all(a["status"] == "cached" for a in rep["artifacts"]), rep
    n = len(report["artifacts"])
    print(f"digits example, {n} targets, {os.cpu_count()} cores, python {sys.version.split()[0]}\n")
    print("| build | wall s |")
    print("|---|---:|")
    print(f"| first build (train data ready, {n} conversions + verifications) | {first:.2f} |")
    print(
        f"| unchanged rebuild, median of {args.runs} (min {min(cached):.2f}, max {max(cached):.2f}) | {statistics.median(cached):.2f} |"
    )
    print(f"| rebuild with a changed threshold (model loaded, {n} artifacts re-verified, none rebuilt) | {changed:.2f} |")
    print(f"\nframeworks imported by the unchanged rebuild: {', '.join(frameworks) or 'none'}")
    return 0 if statistics.median(cached) <= 1.0 and not frameworks else 1


if __name__ == "__main__":
    raise SystemExit(main())
