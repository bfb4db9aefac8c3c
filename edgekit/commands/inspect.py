"""edgekit inspect: what is inside a .tflite (ops and versions, tensors, quantization, MACs, Edge TPU)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("inspect", help="show what is inside a .tflite model", description=__doc__)
    p.add_argument("model", metavar="MODEL", help="a .tflite file (CPU or Edge TPU compiled)")
    p.add_argument("--json", action="store_true", help="print everything as JSON (includes all tensors)")
    p.add_argument("--tensors", action="store_true", help="also list every tensor in the table output")
    p.add_argument("--all", dest="all_rows", action="store_true",
                   help="no row limit: list every operator and tensor (tables stop at 300 rows by default)")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit import api
    from edgekit.console import print_json

    info = api.inspect(args.model)
    if args.json:
        print_json(info)
        return 0
    from edgekit.inspect.report import render

    render(info, tensors=args.tensors, all_rows=args.all_rows)
    return 0
