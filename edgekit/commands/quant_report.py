"""edgekit quant-report: which layers lose accuracy in a quantized artifact, and what a repair kept.

Reads what the build recorded in the manifest beside the artifact: the per-layer report of
``edgekit build --explain`` (each layer's error, worst first, by the layer names of the source model)
and, for ``*-mixed`` targets, the layers kept at higher precision with the budget and the cost.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "quant-report",
        help="per-layer quantization error of a built artifact, and what a mixed-precision repair kept",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  edgekit build edgekit.toml -t tflite-int8 --explain\n"
        "  edgekit quant-report artifacts/model.tflite-int8.tflite --top 5\n"
        "  edgekit build edgekit.toml -t tflite-int8-mixed   # keep the worst layers float until the budget is met",
    )
    p.add_argument("artifact", help="a built artifact (its manifest.json is in the same directory)")
    p.add_argument("--top", type=int, default=10, help="how many of the worst layers to show (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit import api
    from edgekit.console import console, print_json
    from edgekit.quant.report import print_artifact

    doc = api.quant_report(args.artifact)
    if args.json:
        print_json(doc)
    else:
        print_artifact(console(), doc, top=max(1, args.top))
    return 0
