"""edgekit run: run a classifier once on an image (or array) and print the decoded top-k."""

from __future__ import annotations

from edgekit.commands.bench import add_run_options
from edgekit.console import print_json


def register(sub) -> None:
    p = sub.add_parser("run", help="run a model once and print its top-k classes", description=__doc__)
    p.add_argument("model", metavar="MODEL")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="an image file; resized and converted to the input's dtype")
    src.add_argument("--input", dest="input_file", help="a .npy/.npz input instead of an image")
    p.add_argument("--labels", help="labels file, one per line (or 'ID label' lines)")
    p.add_argument("--top-k", type=int, default=5, help="how many classes to print (default 5)")
    p.add_argument("--normalize", default=None, help="image scaling for float inputs: 0,1 | -1,1 | raw | imagenet")
    add_run_options(p)
    p.add_argument("--device", default=None, help="run on this device profile (default: this machine)")
    p.add_argument("--devices-dir", action="append", default=[], metavar="DIR", help="extra directory of device profiles")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit import api

    out = api.classify(
        args.model,
        image=args.image,
        input_file=args.input_file,
        labels=args.labels,
        top_k=args.top_k,
        normalize=args.normalize,
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
    from rich.table import Table

    from edgekit.console import console, human_ms

    where = f" on {args.device}" if args.device else ""
    table = Table(title=f"{out['artifact']['name']}{where}  (one inference: {human_ms(out['latency_ms'])})")
    table.add_column("rank", justify="right")
    table.add_column("class", justify="right")
    table.add_column("score", justify="right")
    table.add_column("label")
    for i, item in enumerate(out["top_k"], 1):
        table.add_row(str(i), str(item["index"]), f"{item['score']:.4f}", item["label"] or "")
    console().print(table)
    return 0
