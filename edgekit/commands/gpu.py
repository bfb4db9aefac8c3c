"""edgekit gpu check: will the TFLite GPU delegate take the whole graph? (per op, offline)"""

from __future__ import annotations

import os

from edgekit.console import safe  # names and reasons come from the model file


def register(sub) -> None:
    p = sub.add_parser("gpu", help="TFLite GPU delegate: per-op compatibility check (offline)", description=__doc__)
    gsub = p.add_subparsers(dest="gpu_command", metavar="ACTION")
    c = gsub.add_parser("check", help="which ops the TFLite GPU delegate takes, from TensorFlow Lite's analyzer")
    c.add_argument("model", metavar="MODEL", help="a .tflite file")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("--ops", action="store_true", help="also list every op with its verdict")
    c.add_argument("--raw", action="store_true", help="print the analyzer's own text instead")
    c.add_argument(
        "--analyzer-python",
        metavar="PYTHON",
        default=None,
        help="run the analyzer with this interpreter (a venv with a TensorFlow whose analyzer checks, "
        "e.g. tensorflow-cpu 2.16.2; default: $EDGEKIT_GPU_ANALYZER_PYTHON, else this one)",
    )
    c.set_defaults(func=run_check)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser) -> int:
    parser.print_help()
    return 2


def run_check(args) -> int:
    from edgekit.console import print_json
    from edgekit.inspect import gpu

    if args.raw:
        from edgekit.inspect import load_tflite

        load_tflite(args.model)
        python = args.analyzer_python or os.environ.get(gpu.ENV_PYTHON) or None
        print(gpu.run_analyzer(os.path.abspath(args.model), python), end="")
        return 0
    from edgekit import api

    result = api.gpu_check(args.model, args.analyzer_python)
    if args.json:
        print_json(result.to_dict())
    else:
        _render(result, args.ops)
    if not result.fully_compatible:
        from edgekit.errors import CheckFailed

        names = ", ".join(sorted({safe(o.name, markup=False) for o in result.incompatible}))
        raise CheckFailed(
            f"{safe(os.path.basename(args.model), markup=False)} is not fully GPU-delegate compatible "
            f"({result.compatible_count} of {result.total} ops; {names} would run on the CPU)",
            "replace those ops, move them to the end of the graph (post-processing), or accept the CPU fallback",
        )
    return 0


def _render(result, show_ops: bool) -> None:
    from edgekit.console import console

    out = console()
    style = "green" if result.fully_compatible else "yellow"
    out.print(safe(result.summary(), markup=False), markup=False, highlight=False, style=style)
    for o in result.incompatible:
        out.print(
            f"  #{o.index} {safe(o.name, markup=False)}"
            + (f" (subgraph {o.subgraph})" if o.subgraph else "")
            + f": {safe(o.reason or '', markup=False)}",
            markup=False,
            highlight=False,
        )
    for note in result.notes:
        out.print(f"note: {safe(note, markup=False)}", markup=False, highlight=False)
    if show_ops:
        from rich.table import Table

        table = Table("subgraph", "#", "op", "GPU", "reason")
        for o in result.ops:
            table.add_row(str(o.subgraph), str(o.index), safe(o.name), "yes" if o.compatible else "no", safe(o.reason or ""))
        out.print(table)
    out.print(
        f"analyzer: {result.analyzer} (tf.lite.experimental.Analyzer, gpu_compatibility=True)",
        markup=False,
        highlight=False,
        style="dim",
    )
