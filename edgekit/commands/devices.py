"""edgekit devices: the configured device profiles with their state now, and what can be discovered
(adb devices, attached Edge TPUs, SSH reachability with a short timeout)."""
# The work is edgekit.api.devices; each transport says how its devices are reached.

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("devices", help="list configured and discoverable devices", description=__doc__)
    p.add_argument("--devices-dir", action="append", default=[], metavar="DIR", help="also read profiles from DIR")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for each SSH device (default 2)")
    p.add_argument("--no-probe", action="store_true", help="do not contact devices, only list the profiles")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _safe(text) -> str:
    """Strings from models, files and devices on the terminal: one rule (console.safe)."""
    from edgekit.console import safe

    return safe(text)


def run(args) -> int:
    from edgekit.console import print_json

    from edgekit import api

    data = api.devices(args.devices_dir, timeout=args.timeout, probe=not args.no_probe)
    if args.json:
        print_json(data)
        return 0
    from rich.table import Table

    from edgekit.console import console

    out = console()
    table = Table(title="Configured devices")
    for col in ("name", "transport", "address", "arch", "state", "detail"):
        table.add_column(col)
    colors = {"ready": "green", "reachable": "green", "broken": "red", "missing": "red"}
    for d in data["configured"]:
        color = colors.get(d["state"], "yellow")
        name = d["name"] + (" (emulated)" if d["emulated"] else "")
        table.add_row(
            *(_safe(v) for v in (name, d["transport"], d["address"] or "", d["arch"])),
            f"[{color}]{_safe(d['state'])}[/{color}]",
            _safe(d["detail"] or ""),
        )
    out.print(table)
    if data["discovered"]:
        found = Table(title="Discovered, not configured")
        for col in ("kind", "id", "state", "detail"):
            found.add_column(col)
        for d in data["discovered"]:
            found.add_row(*(_safe(d[k]) for k in ("kind", "id", "state", "detail")))
        out.print(found)
    else:
        out.print("Discovered, not configured: none")
    for note in data["notes"]:
        out.print(f"[yellow]note:[/yellow] {_safe(note)}")
    return 0
