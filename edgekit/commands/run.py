"""edgekit run: run a model once on an image (or array) and say what came out.

One vector of class scores (labels given, or values that form a probability distribution) prints
the top-k; any other output prints a summary per output (name, shape, dtype, min/max/mean,
argmax). The line above the table says why; --task classify|summary overrides the choice."""

from __future__ import annotations

import argparse

from edgekit.commands.bench import add_run_options
from edgekit.console import print_json


def positive_int(text: str) -> int:
    """--top-k N: a whole number of at least 1 (0 or -3 used to print the top 1 silently)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def register(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a model once: top-k classes, or a summary of each output",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="an image file; resized and converted to the input's dtype")
    src.add_argument("--input", dest="input_file", help="a .npy/.npz input instead of an image")
    p.add_argument("--labels", help="labels file, one per line (or 'ID label' lines)")
    p.add_argument(
        "--task",
        choices=["auto", "classify", "summary"],
        default="auto",
        help="classify: rank one vector of class scores; summary: describe every output; "
        "auto (default): classify only when the output is class scores",
    )
    p.add_argument("--top-k", type=positive_int, default=5, help="how many classes to print (default 5, at least 1)")
    p.add_argument("--normalize", default=None, help="image scaling for float inputs: 0,1 | -1,1 | raw | imagenet")
    add_run_options(p)
    p.add_argument("--device", default=None, help="run on this device profile (default: this machine)")
    p.add_argument("--devices-dir", action="append", default=[], metavar="DIR", help="extra directory of device profiles")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit import api

    out = api.run_model(
        args.model,
        image=args.image,
        input_file=args.input_file,
        labels=args.labels,
        top_k=args.top_k,
        normalize=args.normalize,
        task=args.task,
        threads=args.threads,
        xnnpack=args.xnnpack,
        provider=args.provider,
        device_selector=args.device_selector,
        input_shapes=args.input_shapes,
        output_check=args.output_check,
        timeout=args.timeout,
        device=args.device,
        devices_dir=args.devices_dir,
    )
    if args.json:
        print_json({k: v for k, v in out.items() if k != "result"})
        return 0
    print_answer(out, args.device)
    return 0


def _term(text) -> str:
    """Strings from models, files and devices on the terminal: one rule (console.safe)."""
    from edgekit.console import safe

    return safe(text)


def _number(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def print_answer(out: dict, device: str | None = None) -> None:
    from rich.table import Table

    from edgekit.console import console, human_ms

    escape = _term

    where = f" on {escape(device)}" if device else ""
    title = f"{escape(out['artifact']['name'])}{where}  (one inference: {human_ms(out['latency_ms'])})"
    con = console()
    con.print(f"[bold]{title}[/bold]")
    con.print(f"{out['task']}: {escape(out['why'])}")
    if out["task"] == "classify":
        table = Table()
        table.add_column("rank", justify="right")
        table.add_column("class", justify="right")
        table.add_column("score", justify="right")
        table.add_column("label")
        for i, item in enumerate(out["top_k"], 1):
            table.add_row(str(i), str(item["index"]), f"{item['score']:.4f}", escape(item["label"] or ""))
        con.print(table)
        return
    table = Table()
    counted = any(o.get("most_common") for o in out["outputs"])
    for col in ("output", "shape", "dtype", "min", "max", "mean", "argmax") + (("most common",) if counted else ()):
        table.add_column(col, justify="right" if col in ("min", "max", "mean") else "left")
    for o in out["outputs"]:
        common = ", ".join(f"{escape(str(c.get('label') or c['value']))} {c['share']:.1%}" for c in o.get("most_common", [])[:3])
        dtype = o["dtype"] + (" (dequantized)" if o["dequantized"] else "")
        table.add_row(
            escape(o["name"]),
            "x".join(map(str, o["shape"])) or "scalar",
            dtype,
            _number(o["min"]),
            _number(o["max"]),
            _number(o["mean"]),
            ",".join(map(str, o["argmax"])) if o["argmax"] is not None else "-",
            *((common,) if counted else ()),
        )
    con.print(table)
