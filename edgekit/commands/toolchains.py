"""edgekit toolchains: list, install and remove the converter environments edgekit manages.

A converter that cannot share edgekit's environment (litert-torch, onnx2tf) runs in a pinned
virtualenv of its own under ~/.cache/edgekit/toolchains (or $EDGEKIT_TOOLCHAINS_DIR), created on
first use; these commands manage those environments ahead of time (CI, offline machines).
"""

from __future__ import annotations

import argparse

from edgekit.console import progress_line


def register(sub) -> None:
    p = sub.add_parser(
        "toolchains",
        help="list, install and remove converter environments (litert, onnx2tf)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  edgekit toolchains list\n  edgekit toolchains install litert\n"
        "  edgekit toolchains install onnx2tf --find-links ./wheels   (offline)\n"
        "  edgekit toolchains download onnx2tf ./wheels           (then copy ./wheels to the offline machine)\n"
        "  edgekit toolchains remove litert --stale\n"
        "Use an environment you built yourself: EDGEKIT_TOOLCHAIN_<NAME>_PYTHON=/path/to/python",
    )
    p.set_defaults(func=run_list, json=False)
    acts = p.add_subparsers(dest="action", metavar="ACTION")

    ls = acts.add_parser("list", help="each toolchain: installed?, path, size, stale environments")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("--no-size", dest="sizes", action="store_false", help="do not measure directory sizes (faster)")
    ls.set_defaults(func=run_list)

    ins = acts.add_parser("install", help="create a toolchain's environment now (first use does it otherwise)")
    ins.add_argument("names", nargs="+", metavar="NAME", help="toolchain name(s)")
    ins.add_argument(
        "--find-links",
        metavar="DIR",
        default=None,
        help="install offline from this directory of wheels (pip --no-index --find-links; also $EDGEKIT_WHEELHOUSE)",
    )
    ins.add_argument("--force", action="store_true", help="reinstall even if it is installed")
    ins.add_argument("--json", action="store_true", help="print JSON")
    ins.set_defaults(func=run_install)

    dl = acts.add_parser("download", help="put a toolchain's pinned wheels into DIR, for installing offline elsewhere")
    dl.add_argument("name", metavar="NAME", help="toolchain name")
    dl.add_argument("dest", metavar="DIR", help="directory to fill with wheels (for this platform and Python)")
    dl.add_argument("--find-links", metavar="DIR", default=None, help="take the wheels from this directory instead of the index")
    dl.set_defaults(func=run_download)

    rm = acts.add_parser("remove", help="delete a toolchain's environments (only directories edgekit made)")
    rm.add_argument("names", nargs="+", metavar="NAME", help="toolchain name(s)")
    rm.add_argument("--stale", action="store_true", help="only environments of older pins, not the current one")
    rm.add_argument(
        "--wait",
        metavar="SECONDS",
        type=float,
        default=0.0,
        help="wait this long for an install of the environment to finish (default: refuse at once)",
    )
    rm.add_argument("--json", action="store_true", help="print JSON")
    rm.set_defaults(func=run_remove)


def _names(names: list[str]) -> list[str]:
    from edgekit.toolchains import TOOLCHAINS

    for n in names:
        TOOLCHAINS.get(n)  # unknown name: one line listing the known ones
    return list(dict.fromkeys(names))


def run_list(args) -> int:
    from edgekit.console import console, human_bytes, print_json, safe
    from edgekit.toolchains import statuses, toolchains_dir

    infos = statuses(sizes=getattr(args, "sizes", True))
    if args.json:
        print_json({"dir": str(toolchains_dir()), "toolchains": [i.to_dict() for i in infos]})
        return 0
    from rich.table import Table

    table = Table(title=safe(f"converter toolchains in {toolchains_dir()}"), title_justify="left")
    for col in ("name", "installed", "path", "size", "stale"):
        table.add_column(col, overflow="fold" if col == "path" else "ellipsis")
    for i in infos:
        state = "override" if i.override else ("yes" if i.installed else ("installing" if i.busy else "no"))
        stale = ", ".join(f"{safe(s['path'].rsplit('/', 1)[-1])} ({human_bytes(s['size'])})" for s in i.stale) or "-"
        table.add_row(safe(i.name), state, safe(i.override or i.path), human_bytes(i.size) if i.size else "-", stale)
    console().print(table)
    if any(i.stale for i in infos):
        print("stale environments belong to older pins; delete them with 'edgekit toolchains remove NAME --stale'")
    return 0


def run_install(args) -> int:
    from edgekit.console import print_json
    from edgekit.toolchains import install, status

    done = []
    for name in _names(args.names):
        python = install(name, find_links=args.find_links, progress=progress_line, force=args.force)
        done.append({"name": name, "python": python, "path": status(name, sizes=False).path})
        if not args.json:
            print(f"{name}: {python}")
    if args.json:
        print_json(done)
    return 0


def run_download(args) -> int:
    from edgekit.toolchains import download

    wheels = download(_names([args.name])[0], args.dest, find_links=args.find_links, progress=progress_line)
    print(
        f"{len(wheels)} wheels in {args.dest}; install offline with: "
        f"edgekit toolchains install {args.name} --find-links {args.dest}"
    )
    return 0


def run_remove(args) -> int:
    from edgekit.console import print_json
    from edgekit.toolchains import remove

    out = {}
    for name in _names(args.names):
        out[name] = remove(name, stale_only=args.stale, progress=progress_line, wait=args.wait)
        if not args.json:
            if out[name]:
                for p in out[name]:
                    print(f"removed {p}")
            else:
                print(f"{name}: nothing to remove")
    if args.json:
        print_json(out)
    return 0
