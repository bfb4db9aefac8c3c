"""edgekit doctor: what this machine or a device has, and whether it can run the given artifacts."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "doctor",
        help="check a device's runtimes and tools, and whether it can run artifacts",
        description=__doc__ + " Each problem comes with the exact pip or apt command that fixes it.",
    )
    p.add_argument("artifacts", nargs="*", metavar="ARTIFACT", help=".tflite, _edgetpu.tflite, .pte or .ptl files to check")
    p.add_argument("--device", default=None, help="device profile name (default: this machine, with the Python running edgekit)")
    p.add_argument("--devices-dir", action="append", default=[], metavar="DIR", help="extra directory of device profiles")
    p.add_argument(
        "--runtime",
        dest="provider",
        default=None,
        help="TFLite runtime to check: ai_edge_litert, tflite_runtime, tensorflow, litert-compiled",
    )
    p.add_argument(
        "--no-load", dest="try_load", action="store_false", help="skip loading each model on the device (static checks only)"
    )
    p.add_argument(
        "--input-shape",
        dest="input_shapes",
        action="append",
        default=[],
        metavar="NAME=DIMS",
        help="load models with dynamic inputs at this shape (repeatable), as bench does",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit import api
    from edgekit.console import print_json

    report = api.doctor(
        args.device,
        args.artifacts,
        devices_dirs=args.devices_dir,
        provider=args.provider,
        try_load=args.try_load,
        input_shapes=args.input_shapes,
    )
    if args.json:
        print_json(report)
    else:
        print_report(report)
    api.doctor_verdict(report, args.device)
    return 0


def _version(value) -> str:
    return value if value else "-"


def print_report(report: dict) -> None:
    from edgekit.console import console

    out = console()
    f = report["facts"]
    osi, py, pk = f["os"], f["python"], f["packages"]
    out.print(f"[bold]Device:[/bold] {report['device']} ({f.get('hostname')})")
    out.print(
        f"  OS:              {osi.get('pretty_name') or osi.get('system')} {osi.get('machine')} (kernel {osi.get('release')})"
    )
    venv = "virtualenv" if py.get("venv") else ("system, externally managed" if py.get("externally_managed") else "system")
    out.print(f"  Python:          {py.get('version')} at {report['python']} ({venv}; pip {'yes' if py.get('pip') else 'no'})")
    out.print(f"  numpy:           {_version(pk.get('numpy'))}")
    out.print(f"  ai-edge-litert:  {_version(pk.get('ai-edge-litert'))}")
    out.print(f"  tflite-runtime:  {_version(pk.get('tflite-runtime'))}")
    out.print(f"  tensorflow:      {_version(pk.get('tensorflow') or pk.get('tensorflow-cpu'))}")
    out.print(f"  executorch:      {_version(pk.get('executorch'))}    torch: {_version(pk.get('torch'))}")
    pc = f.get("pycoral")
    pc_text = "-" if not pc else pc["version"]
    if pc and not pc["genuine"]:
        pc_text += " [red](NOT Coral's library: the unrelated PyPI program of that name)[/red]"
    out.print(f"  pycoral:         {pc_text}")
    lib = f.get("libedgetpu")
    lib_text = (
        "-"
        if not lib
        else f"{lib.get('package', lib.get('path'))} {lib.get('package_version', '')} (runtime version {lib.get('runtime_version', '?')})"
    )
    out.print(f"  libedgetpu:      {lib_text}")
    comp = f.get("edgetpu_compiler")
    out.print(f"  edgetpu_compiler: {comp['version'] if comp else '-'}")
    adb = f.get("adb")
    out.print(f"  adb:             {adb['version'] if adb else '-'}")
    tpus = f.get("edgetpu_devices") or []
    out.print(f"  Edge TPUs:       {', '.join(d.get('node') or d.get('id', d['type']) for d in tpus) or 'none attached'}")
    if report.get("problems"):
        verdict = "[green]ready[/green]" if report.get("device_ok", True) else "[red]not ready[/red]"
        out.print(f"  Device:          {verdict}")
    for problem in report.get("problems", []):
        _print_problem(out, problem)
    for art in report["artifacts"]:
        out.print()
        status = "[green]can run[/green]" if art["ok"] else "[red]cannot run[/red]"
        rt = art.get("runtime") or {}
        extra = f" (needs runtime {art['min_runtime_version']})" if art.get("min_runtime_version") else ""
        out.print(
            f"[bold]{art['name']}[/bold] ({art['format']}{extra}): {status} with {rt.get('name') or 'no runtime'} {rt.get('version') or ''}"
        )
        if art.get("ops_above_v1"):
            out.print("  op versions: " + ", ".join(f"{k} v{v}" for k, v in art["ops_above_v1"].items()))
        load = art.get("load")
        if load and load.get("ok"):
            out.print(f"  loaded on the device with {load.get('runtime')}")
        for problem in art["problems"]:
            _print_problem(out, problem)
        if not art["ok"] and not report.get("device_ok", True):
            out.print("  [red]the device is not ready (see above)[/red]")


def _print_problem(out, problem: dict) -> None:
    from rich.markup import escape

    colour = "red" if problem["severity"] == "error" else "yellow"
    out.print(f"  [{colour}]{problem['severity']}:[/{colour}] {escape(problem['message'])}")
    for fix in problem["fixes"]:
        label = "note" if fix["kind"] == "manual" else ("fix (sudo)" if fix["sudo"] else "fix")
        out.print(f"    {label}: {fix['command']}", markup=False)
