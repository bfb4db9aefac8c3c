"""The digits flow end to end: train a small CNN, build every TFLite target, benchmark, compare.

    python examples/keras_digits/run.py [--workdir out/keras_digits]    # the whole flow
    python examples/keras_digits/run.py prepare WORKDIR                  # only model + data + spec

Builds with the real CLI (`edgekit build WORKDIR/edgekit.toml`), then measures each artifact with
`edgekit.api.bench` and prints size, p50 latency and held-out accuracy per artifact.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)


def build(workdir: str, extra: list[str] | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", "build", os.path.join(workdir, "edgekit.toml"), "--json", *(extra or [])],
        capture_output=True,
        text=True,
        env=env,
    )
    if not proc.stdout.strip():
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode or 1)
    return json.loads(proc.stdout)


def bench_all(report: dict, threads: int | None = 2) -> list[dict]:
    from edgekit import api

    rows = []
    for a in report["artifacts"]:
        row = {"target": a["target"], "status": a["status"], "size_bytes": a["size_bytes"], "accuracy": a.get("accuracy") or {}}
        if a.get("file"):
            result = api.bench(
                os.path.join(report["outdir"], a["file"]), threads=threads, warmup=20, min_runs=200, min_time_s=1.0
            )
            row["p50_ms"] = result["latency_ms"]["p50"]
        else:
            row["error"] = (a.get("error") or {}).get("message")
        rows.append(row)
    return rows


def print_rows(rows: list[dict]) -> None:
    from rich.table import Table

    from edgekit.console import console, human_bytes

    t = Table(title="digits CNN: every TFLite target (accuracy on 449 held-out digits)")
    for c in ("target", "status", "size", "p50 (2 threads)", "accuracy", "float accuracy", "cosine"):
        t.add_column(c, justify="left" if c in ("target", "status") else "right")
    for r in rows:
        acc = r["accuracy"]
        t.add_row(
            r["target"],
            r["status"],
            human_bytes(r["size_bytes"]),
            f"{r['p50_ms'] * 1000:.1f} µs" if r.get("p50_ms") else "-",
            f"{acc['accuracy']:.2f}%" if "accuracy" in acc else "-",
            f"{acc['reference_accuracy']:.2f}%" if "reference_accuracy" in acc else "-",
            f"{acc['cosine']:.5f}" if acc.get("cosine") is not None else "-",
        )
    console().print(t)
    for r in rows:
        if r.get("error"):
            console().print(f"{r['target']}: {r['error']}", markup=False)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["prepare"]:
        import digits

        print(json.dumps(digits.prepare(argv[1])))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default=os.path.join(ROOT, "out", "keras_digits"))
    args = p.parse_args(argv)
    import digits

    print(f"training the digits CNN in {args.workdir} (scikit-learn's bundled 8x8 digits) ...", flush=True)
    digits.prepare(args.workdir)
    print("edgekit build edgekit.toml (5 TFLite targets, calibrated, checked on held-out digits) ...", flush=True)
    report = build(args.workdir)
    rows = bench_all(report)
    print_rows(rows)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
