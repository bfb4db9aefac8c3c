"""``edgekit bench --device NAME [--device NAME2 ...] MODEL...``: the device half of bench.

Kept apart from commands/bench.py (which measures on this machine) so the pool logic stays in one
place; bench.py hands over when --device is given. With one device the output is what a host run
prints; with several, devices run concurrently (one benchmark per device at a time, see
edgekit.devices.pool), each device's summaries print as its results arrive, and ``-o DIR`` gets one JSON
file per device.
"""

from __future__ import annotations

import argparse
import os
import sys


def add_device_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="NAME",
        help="run on this configured device (see 'edgekit devices'); repeat for a pool run concurrently",
    )
    p.add_argument(
        "--devices-dir", action="append", default=[], metavar="DIR", help="also read device profiles (NAME.toml) from DIR"
    )
    p.add_argument(
        "--delegate",
        choices=["xnnpack", "gpu", "nnapi", "hexagon"],
        default=None,
        help="delegate for Android devices (benchmark_model's --use_gpu/--use_nnapi)",
    )


def run_on_devices(args) -> int:
    from edgekit import api
    from edgekit.build.artifacts import atomic_write_json
    from edgekit.commands.bench import bench_options, print_summary
    from edgekit.console import print_json
    from edgekit.errors import EXIT_FAILED, EdgekitError, error_from_dict

    options = bench_options(args)
    if args.delegate:  # Android devices: benchmark_model's --use_gpu/--use_nnapi
        options["runtime_options"] = {"delegate": args.delegate}
    several = len(args.device) > 1
    done: dict[str, list[dict]] = {}
    write_errors: dict[str, EdgekitError] = {}  # device -> results measured so far, for -o as they arrive

    def show(device, result):
        if result.get("status") == "ok":
            done.setdefault(device.name, []).append(result)
            try:
                _write(device.name, done[device.name])
                write_errors.pop(device.name, None)
            except EdgekitError as exc:  # a full disk must not stop the device's next benchmark
                write_errors[device.name] = exc
                print(exc.line(), file=sys.stderr)
        if not args.json and result.get("status") == "ok":
            print_summary(result)
            if result.get("delegate_fallback"):
                from edgekit.console import warn

                warn(f"{device.name}: {result['delegate_fallback']}")

    def _write(name: str, results: list[dict]) -> None:
        """Rewrite this device's -o file with every result so far (atomically), so a later
        failure or a kill keeps what was measured."""
        if not args.output:
            return
        if several:
            os.makedirs(args.output, exist_ok=True)
            atomic_write_json(os.path.join(args.output, f"{name}.json"), _one(results) if len(args.models) == 1 else results)
        else:
            atomic_write_json(args.output, results[0] if len(args.models) == 1 else results)

    if several and args.output and os.path.lexists(args.output) and not os.path.isdir(args.output):
        raise EdgekitError(
            f"-o {args.output} is a file; with several devices -o is a directory (one JSON per device)", "give a directory path"
        )
    runs = api.bench_pool(args.models, args.device, devices_dir=args.devices_dir, timeout=args.timeout, on_result=show, **options)
    failures: list[tuple[EdgekitError, str]] = []  # (error, its line tagged with the device)
    per_device: dict[str, list[dict]] = {}
    for run in runs:
        per_device[run.device.name] = run.results
        errors = [error_from_dict(r.get("error") or {}) for r in run.results if r.get("status") != "ok"]
        for err in errors + ([run.error] if run.error is not None else []):
            failures.append((err, err.line() + f" [device {run.device.name}]"))
    if args.json:
        print_json(per_device if several else _one(next(iter(per_device.values()))))
    elif several:
        _print_table(runs)
    try:
        from edgekit.results.history import record

        record(
            [r for results in per_device.values() for r in results if r.get("status") == "ok"],
            path=args.history,
            enabled=not args.no_history,
        )
    except ImportError:
        pass
    if write_errors and not failures:
        err = next(iter(write_errors.values()))
        print(err.line(), file=sys.stderr)
        return err.exit_code
    if failures:
        if len(failures) == 1 and not several:
            raise _reraise(runs)
        debug = getattr(args, "debug", False) or os.environ.get("EDGEKIT_DEBUG") == "1"
        for err, line in failures:
            if debug:  # the device's log tail (a crash's runtime log), kept out of the line
                from edgekit.cli import print_details

                print_details(err.details)
            print(line, file=sys.stderr)
        return EXIT_FAILED
    return 0


def _one(results: list[dict]):
    return results if len(results) != 1 else results[0]


def _reraise(runs):
    from edgekit.errors import error_from_dict

    run = runs[0]
    if run.error is not None:
        return run.error
    bad = next(r for r in run.results if r.get("status") != "ok")
    return error_from_dict(bad.get("error") or {})


def _print_table(runs) -> None:
    from rich.table import Table

    from edgekit.console import console, human_ms

    table = Table(title="Devices")
    for col in ("device", "model", "status", "p50", "p90", "runs", "lock wait"):
        table.add_column(col, justify="right" if col in ("p50", "p90", "runs", "lock wait") else "left")
    for run in runs:
        if run.error is not None and not run.results:
            table.add_row(run.device.name, "-", f"[red]{run.error.message}[/red]", "-", "-", "-", "-")
        for r in run.results:
            lat = r.get("latency_ms") or {}
            ok = r.get("status") == "ok"
            table.add_row(
                run.device.name,
                r["artifact"]["name"],
                "ok" if ok else f"[red]{(r.get('error') or {}).get('message', 'error')}[/red]",
                human_ms(lat.get("p50")),
                human_ms(lat.get("p90")),
                str(lat.get("n", "-")),
                f"{(r.get('pool') or {}).get('lock_wait_s', 0):.1f} s",
            )
    console().print(table)
