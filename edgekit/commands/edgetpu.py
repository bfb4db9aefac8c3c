"""edgekit edgetpu: predict the Edge TPU placement of a model (check) and compile it (compile)."""

from __future__ import annotations

import os


def register(sub) -> None:
    p = sub.add_parser("edgetpu", help="Coral Edge TPU: preflight check and compiler wrapper", description=__doc__)
    esub = p.add_subparsers(dest="edgetpu_command", metavar="ACTION")
    c = esub.add_parser("check", help="predict which ops edgetpu_compiler 16 maps to the Edge TPU (runs anywhere)")
    c.add_argument("model", metavar="MODEL", help="a full-int8 .tflite (or an _edgetpu.tflite to read its placement)")
    c.add_argument("--ops", action="store_true", help="after the summary, print the per-op placement table")
    c.add_argument("--json", action="store_true", help="print the prediction as JSON (everything, per op)")
    c.set_defaults(func=run_check)
    k = esub.add_parser("compile", help="run edgetpu_compiler (x86-64 Linux) and report the mapping")
    k.add_argument("model", metavar="MODEL", help="a full-int8 .tflite")
    k.add_argument("-o", "--out-dir", default=None, help="output directory (default: beside the model)")
    k.add_argument("-s", "--show-ops", action="store_true", help="print the compiler's per-op table")
    k.add_argument("-m", "--min-runtime-version", default=None, help="lowest Edge TPU runtime the output must run on")
    k.add_argument("-n", "--num-segments", type=int, default=None, help="split into N segments for N Edge TPUs")
    k.add_argument("--timeout", type=float, default=180.0, help="give up after this many seconds (default 180)")
    k.add_argument("--json", action="store_true", help="print the report as JSON")
    k.set_defaults(func=run_compile)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser) -> int:
    parser.print_help()
    return 2


def run_check(args) -> int:
    from edgekit import api
    from edgekit.console import print_json
    from edgekit.edgetpu.report import plain, render_preflight
    from edgekit.errors import CheckFailed

    pre = api.edgetpu_check(args.model)
    if args.json:
        print_json(pre.to_dict())
    else:
        render_preflight(pre, show_ops=args.ops)
    if not pre.ready:
        raise CheckFailed(plain(f"{os.path.basename(args.model)} is not Edge TPU ready: {pre.summary()}"), plain(pre.fix))
    return 0


def run_compile(args) -> int:
    from edgekit import api
    from edgekit.console import print_json, warn

    result = api.edgetpu_compile(
        args.model, args.out_dir, min_runtime_version=args.min_runtime_version, segments=args.num_segments, timeout=args.timeout
    )
    if args.json:
        print_json(result)
        return 0
    from edgekit.edgetpu.report import render_compile

    render_compile(result, show_ops=args.show_ops)
    for w in result["warnings"]:
        warn(w)
    return 0
