"""Run the PyTorch digits example end to end: train, build every PyTorch target, benchmark, accuracy.

    python examples/torch_digits/run.py WORKDIR

Exit status 0 when every target built, except those that fail only because this machine lacks
their tool (Core ML needs Apple hardware to run): those are printed with their reason.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def main(workdir: str) -> int:
    from edgekit import api
    from edgekit.commands.build import print_table
    from examples.torch_digits.digits import prepare

    info = prepare(workdir)
    report = api.build(info["spec"])
    print_table(report)
    print(f"\n{'target':34} {'size':>10} {'p50':>11} {'accuracy':>9}  delegation")
    ok = True
    for e in report.entries:
        if e.status not in ("built", "cached"):
            missing_tool = (e.error or {}).get("type") == "EnvironmentMissing"
            ok = ok and missing_tool
            print(
                f"{e.target:34} {'-':>10} {'-':>11} {'-':>9}  {'not built' if missing_tool else 'FAILED'}: {(e.error or {}).get('message', '')[:90]}"
            )
            continue
        acc = (e.accuracy or {}).get("accuracy")
        if e.extra.get("not_run"):
            p50 = "not run"
        else:
            r = api.bench(os.path.join(report.outdir, e.file), threads=2, min_time_s=1.0)
            p50 = f"{r['latency_ms']['p50']:.3f} ms"
        acc_text = "-" if acc is None else f"{acc:.2f}%"
        print(f"{e.target:34} {e.size_bytes / 1e3:>8.0f}kB {p50:>11} {acc_text:>9}  {e.extra.get('delegation_summary', '')[:70]}")
    float_acc = next(
        (e.accuracy["reference_accuracy"] for e in report.entries if e.accuracy and "reference_accuracy" in e.accuracy), None
    )
    if float_acc is not None:
        print(f"float model (eager PyTorch): {float_acc:.2f}% on {info['test_samples']} held-out digits")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1]))
