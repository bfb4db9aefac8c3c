"""edgekit provision: install what a device lacks to run edgekit artifacts.

Runs the fixes that are safe to automate (a virtual environment and pip installs into it), prints
the rest (Coral's apt repository and libedgetpu, udev rules for the USB accelerator) and never uses
sudo unless --sudo is given."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "provision", help="install the runtimes a device needs (safe fixes only, unless --sudo)", description=__doc__
    )
    p.add_argument("artifacts", nargs="*", metavar="ARTIFACT", help="artifacts the device must be able to run")
    p.add_argument("--device", required=True, help="device profile name ('host' for this machine's profile)")
    p.add_argument("--devices-dir", action="append", default=[], metavar="DIR", help="extra directory of device profiles")
    p.add_argument("--runtime", dest="provider", default=None, help="TFLite runtime to check: ai_edge_litert, tflite_runtime")
    p.add_argument("--dry-run", action="store_true", help="show what would run, change nothing")
    p.add_argument("--sudo", action="store_true", help="also run the system fixes (apt, udev) through 'sudo -n'")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit import api
    from edgekit.console import print_json

    result = api.provision(
        args.device, args.artifacts, dry_run=args.dry_run, sudo=args.sudo, devices_dirs=args.devices_dir, provider=args.provider
    )
    if args.json:
        print_json({k: v for k, v in result.items() if k != "after"} | {"after": result["after"]})
    else:
        steps = result["steps"]
        if not steps:
            print(f"{result['device']}: nothing to do")
        for step in steps:
            label = {"ran": "ran", "would run": "would run", "print": "run yourself", "note": "note"}.get(
                step["action"], step["action"]
            )
            status = ""
            if step["action"] == "ran":
                status = " [ok]" if step["returncode"] == 0 else f" [failed: {step.get('error', '')}]"
            print(f"{label}: {step['command']}{status}")
        if result["after_ok"] is not None:
            print(
                f"{result['device']}: "
                + (
                    "ready for the given artifacts"
                    if result["after_ok"]
                    else "still not ready; run 'edgekit doctor' for what is left"
                )
            )
    if result["failed"]:
        return 1
    return 0
