"""edgekit inspect: what is inside a .tflite (ops and versions, tensors, quantization, MACs, Edge TPU)
or an .onnx (opset, inputs/outputs with dynamic dimensions, ops, parameters, MACs at --input-shape)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("inspect", help="show what is inside a .tflite or .onnx model", description=__doc__)
    p.add_argument("model", metavar="MODEL", help="a .tflite file (CPU or Edge TPU compiled) or an .onnx file")
    p.add_argument("--json", action="store_true", help="print everything as JSON (includes all tensors)")
    p.add_argument("--tensors", action="store_true", help="also list every tensor in the table output")
    p.add_argument(
        "--all",
        dest="all_rows",
        action="store_true",
        help="no row limit: list every operator and tensor (tables stop at 300 rows by default)",
    )
    p.add_argument(
        "--input-shape",
        dest="input_shapes",
        action="append",
        default=[],
        metavar="NAME=DIMS",
        help="ONNX: count MACs with input NAME at this shape (e.g. x=1,3,48,192); repeatable",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    import importlib

    from edgekit import api
    from edgekit.console import print_json
    from edgekit.runtimes.formats import FORMATS

    info = api.inspect(args.model, input_shapes=args.input_shapes)
    if args.json:
        print_json(info)
        return 0
    inspector = FORMATS.get(info["format"]).inspector if info.get("format") in FORMATS else None
    if inspector:  # the format's own reader renders what it read
        importlib.import_module(inspector).render(info)
        return 0
    from edgekit.inspect.report import render

    render(info, tensors=args.tensors, all_rows=args.all_rows)
    return 0
