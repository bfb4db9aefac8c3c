"""edgekit package: copy artifacts into an Android app or an iOS folder, with a sidecar JSON per model."""

from __future__ import annotations

import argparse

from edgekit.console import print_json


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def register(sub) -> None:
    p = sub.add_parser(
        "package",
        help="copy artifacts into an Android app (assets) or an iOS folder, with sidecar JSON per model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  edgekit package out/ --android ~/MyApp --labels labels.txt --normalize -1,1\n"
        "  edgekit package out/model_int8.tflite --ios ios/Models",
    )
    p.add_argument(
        "inputs", nargs="+", metavar="ARTIFACT_OR_BUILD_DIR", help="artifact files or an 'edgekit build' output directory"
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--android", metavar="APP_DIR", help="Android project root: models go to app/src/main/assets/")
    where.add_argument("--ios", metavar="DIR", help="a folder to add to an Xcode target (created if missing)")
    p.add_argument("--assets-dir", help="with --android: copy here instead of APP_DIR/app/src/main/assets")
    p.add_argument("--target", action="append", dest="targets", help="with a build directory: only this target (repeatable)")
    p.add_argument("--labels", help="labels file (one per line, or Coral's 'ID label' lines)")
    p.add_argument("--normalize", help="image normalization preset: 0,1 | -1,1 | raw | imagenet")
    p.add_argument("--mean", type=_floats, help="pixel-space mean per channel, e.g. 127.5 or 123.7,116.3,103.5")
    p.add_argument("--std", type=_floats, help="pixel-space std per channel, e.g. 127.5")
    p.add_argument(
        "--no-gradle", dest="write_gradle", action="store_false", help="do not write app/edgekit-noCompress.gradle.kts"
    )
    p.add_argument("--force", action="store_true", help="replace models that exist with different content")
    p.add_argument("--json", action="store_true", help="print the package index as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit import api
    from edgekit.ship import package as pk

    index = api.package(
        args.inputs,
        android=args.android,
        ios=args.ios,
        assets_dir=args.assets_dir,
        targets=args.targets,
        labels=args.labels,
        normalize=args.normalize,
        mean=args.mean,
        std=args.std,
        write_gradle=args.write_gradle,
        force=args.force,
    )
    dest, snippet_path = index["directory"], index["gradle_snippet"]
    if args.json:
        print_json(index)
        return 0
    print(f"packaged {len(index['models'])} model{'s' if len(index['models']) != 1 else ''} into {dest}:")
    for m in index["models"]:
        print(f"  {m['model']}  ({m['format']}, sha256 {m['sha256'][:12]}) + {m['sidecar']}")
    if args.android and index.get("no_compress"):
        print()
        print(pk.gradle_snippet(index["no_compress"]), end="")
        if snippet_path:
            print(f"(also written to {snippet_path})")
    for note in index["notes"]:
        print(f"note: {note}")
    return 0
