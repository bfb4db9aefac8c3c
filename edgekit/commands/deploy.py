"""edgekit deploy: copy artifacts to a versioned directory on a device, verify them there, and
switch its `current` pointer atomically (or roll back to the previous version)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("deploy", help="put artifacts on a device (versioned, verified, atomic switch)", description=__doc__)
    p.add_argument("artifacts", nargs="*", metavar="ARTIFACT", help="files to deploy (their manifest entries go along)")
    p.add_argument("--device", default=None, help="device profile name (default: this machine; then --to is required)")
    p.add_argument("--devices-dir", action="append", default=[], metavar="DIR", help="extra directory of device profiles")
    p.add_argument(
        "--to",
        metavar="DIR",
        default=None,
        help="deploy directory on the device (default: the profile's deploy_dir, ~/edgekit-deploy over SSH)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--rollback", action="store_true", help="switch current back to the previous version")
    mode.add_argument("--status", action="store_true", help="show the current and previous versions")
    mode.add_argument("--verify", action="store_true", help="re-hash the current version's files on the device")
    p.add_argument("--keep", type=int, default=3, help="versions to keep besides current and previous (default 3)")
    p.add_argument(
        "--wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait while another deploy to the same directory runs (default 300)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgekit import api
    from edgekit.console import human_bytes, print_json
    from edgekit.errors import EdgekitError

    common = dict(devices_dirs=args.devices_dir, wait=args.wait)
    if args.rollback or args.status or args.verify:
        if args.artifacts:
            raise EdgekitError("--rollback, --status and --verify take no artifacts", "drop the file names")
        if args.rollback:
            result = api.rollback(args.device, args.to, **common)
        else:
            result = api.deploy_status(args.device, args.to, verify=args.verify, **common)
    else:
        result = api.deploy(args.artifacts, args.device, args.to, keep=args.keep, **common)
    if args.json:
        print_json(result)
        return 0
    where = f"{result['device']}:{result['dir']}"
    if (result.get("lock") or {}).get("note"):
        from edgekit.console import warn

        warn(result["lock"]["note"])
    if result.get("rolled_back"):
        print(f"rolled back {where}: current is {result['version']} (was {result['previous']})")
    elif "sent" in result:
        verb = "deployed" if result["changed"] else "already current, nothing changed:"
        print(f"{verb} {len(result['files'])} file(s) to {where} as version {result['version']}")
        print(
            f"  sent {len(result['sent'])} ({human_bytes(result['bytes_sent'])}), already there {len(result['reused'])}; "
            f"previous version {result.get('previous') or 'none'}"
        )
    else:
        print(f"{where}: current {result.get('version') or 'none'}, previous {result.get('previous') or 'none'}")
        print(f"  versions: {', '.join(result.get('versions') or []) or 'none'}")
        if "verified" in result:
            print(f"  verified: {len(result['files'])} file(s) match their sha256")
    return 0
