"""edgekit bench: measure artifacts in a worker process and print a hyperfine-style summary."""

from __future__ import annotations

import argparse
import sys

from edgekit.console import human_bytes, human_ms, print_json


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by bench and run: how the runtime is set up."""
    p.add_argument("--threads", type=int, default=None, help="interpreter threads (default: the runtime's)")
    p.add_argument("--no-xnnpack", dest="xnnpack", action="store_false", help="run without the XNNPACK delegate")
    p.add_argument(
        "--runtime",
        dest="provider",
        default=None,
        help="runtime (a provider of the model's format): ai_edge_litert, tflite_runtime, tensorflow, or "
        "litert-compiled for LiteRT's CompiledModel (default: the first Interpreter installed)",
    )
    p.add_argument("--edgetpu-device", dest="device_selector", default=None, help="Edge TPU to use: usb, usb:0, pci:0")
    p.add_argument("--timeout", type=float, default=900.0, help="give up on one measurement after this many seconds")
    p.add_argument(
        "--input-shape",
        dest="input_shapes",
        action="append",
        default=[],
        metavar="NAME=DIMS",
        help="run a (dynamic) input at this shape, e.g. audio=1,16000; repeatable; "
        "--input arrays also set the shape of dynamic inputs",
    )
    p.add_argument(
        "--no-output-check",
        dest="output_check",
        action="store_false",
        help="skip the self-check that the last run reproduces the first run's outputs "
        "(for models that keep state between calls)",
    )


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark artifacts on this machine", description=__doc__)
    p.add_argument("models", nargs="+", metavar="MODEL", help=".tflite (or other artifact) files")
    add_run_options(p)
    from edgekit.results.schema import BENCH_DEFAULTS as d

    p.add_argument("--warmup", type=int, default=d["warmup"], help=f"untimed runs before measuring (default {d['warmup']})")
    p.add_argument(
        "--min-runs", type=int, default=d["min_runs"], help=f"measure at least this many runs (default {d['min_runs']})"
    )
    p.add_argument(
        "--min-time",
        type=float,
        default=d["min_time_s"],
        help=f"and for at least this many seconds (default {d['min_time_s']:g})",
    )
    p.add_argument("--max-runs", type=int, default=d["max_runs"], help="stop after this many runs")
    p.add_argument(
        "--max-time",
        type=float,
        default=None,
        help=f"time budget per artifact in seconds (default {d['max_time_s']:g}, or 1.5x --min-time): a slow model "
        "stops early, with at least 5 runs, and the result says so",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", dest="input_file", help="inputs from .npy (one input) or .npz (keyed by input name)")
    src.add_argument("--image", help="an image, resized and converted to the input's shape and dtype")
    p.add_argument("--normalize", default=None, help="image scaling: 0,1 | -1,1 | raw | imagenet")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--json", action="store_true", help="print the result JSON instead of the table")
    p.add_argument("-o", "--output", help="also write the result JSON (a list for several models) to this file")
    from edgekit.commands.history import add_history_options

    add_history_options(p)  # --history PATH / --no-history: every result is recorded by default
    from edgekit.commands._device_bench import add_device_options

    add_device_options(p)  # --device NAME (repeatable), --devices-dir DIR, --delegate
    p.set_defaults(func=run)


def bench_options(args) -> dict:
    """``api.bench`` options from the bench flags: one mapping for this machine and for devices."""
    return dict(
        threads=args.threads,
        xnnpack=args.xnnpack,
        provider=args.provider,
        warmup=args.warmup,
        min_runs=args.min_runs,
        min_time_s=args.min_time,
        max_runs=args.max_runs,
        max_time_s=args.max_time,
        inputs=inputs_from_args(args),
        device_selector=args.device_selector,
        input_shapes=args.input_shapes,
        output_check=args.output_check,
    )


def inputs_from_args(args) -> dict:
    import os

    if getattr(args, "input_file", None):
        return {"kind": "file", "path": os.path.abspath(args.input_file)}
    if getattr(args, "image", None):
        return {"kind": "image", "path": os.path.abspath(args.image), "normalize": args.normalize}
    return {"kind": "random", "seed": args.seed}


def run(args) -> int:
    """Measure every model given, like hyperfine: a model that fails is a row with its reason,
    never the end of the batch. Each success is written to -o (the whole list so far, atomically)
    and to the history as soon as it is measured, before anything else can fail."""
    from edgekit.commands import _batch

    check_args(args)
    if args.device:  # on configured devices (SSH, adb, pools): edgekit/commands/_device_bench.py
        from edgekit.commands._device_bench import run_on_devices

        return run_on_devices(args)
    several = len(args.models) > 1
    rows = [_batch.Row(path=m, label=label) for m, label in zip(args.models, _batch.labels(args.models))]
    opts = bench_options(args)
    from edgekit.results.history import record

    write_error = None  # the last -o write that failed (a full disk): retried after every model
    for row in rows:
        with _status(f"benchmarking {row.label}", quiet=args.json):
            row.result, row.error = measure_one(row.path, opts, args.timeout)
        if row.ok:
            # -o first, then the history, then the screen: a failure of one never loses the others.
            write_error = save_progress(rows, args, several)
            record(
                [row.result], path=args.history, enabled=not args.no_history
            )  # a history that cannot be written is a warning there
            if not args.json:
                print_summary(row.result)
        elif several:  # one model alone: its error is the command's one line (below)
            report_failure(row, args)
    if args.output and several and not any(r.ok for r in rows):
        write_error = save_progress(rows, args, several)  # [] : no stale file from an earlier run
    if not several:
        row = rows[0]
        if not row.ok:
            raise row.error
        if args.json:
            print_json(row.result)
        if write_error is not None:
            raise write_error
        return 0
    if args.json:
        print_json([r.result for r in rows])
    else:
        _batch.print_table(rows)
    if write_error is not None:
        print(write_error.line(), file=sys.stderr)
        return write_error.exit_code
    return _batch.exit_status(rows)


def check_args(args) -> None:
    """Usage mistakes found before any model runs (exit 2): flag values out of range, model
    paths that do not exist, and an -o that can never be written. A batch must not measure for
    minutes and then lose its results to a typo."""
    import os

    from edgekit import api
    from edgekit.errors import EdgekitError

    api.check_run_settings(
        threads=args.threads,
        warmup=args.warmup,
        min_runs=args.min_runs,
        max_runs=args.max_runs,
        min_time_s=args.min_time,
        timeout=args.timeout,
        max_time_s=args.max_time,
    )
    for model in args.models:
        if not os.path.lexists(model):
            raise EdgekitError(f"no such file: {model}", "check the model path; nothing was measured")
        if os.path.isdir(model):
            raise EdgekitError(
                f"{model} is a directory, not a model file", "pass .tflite, .pte or .ptl files; nothing was measured"
            )
    if args.output and not (args.device and len(args.device) > 1):  # several devices: -o is a directory
        from edgekit.build.artifacts import check_writable

        check_writable(args.output)


def measure_one(path: str, opts: dict, timeout: float | None):
    """(result, None) or (error result or None, EdgekitError): never raises for one model's failure."""
    from edgekit import api
    from edgekit.errors import EdgekitError, error_from_dict

    try:
        result = api.bench(path, timeout=timeout, raise_on_error=False, **opts)
    except EdgekitError as exc:  # found on this side: not a model file, unreadable, ...
        return _error_result(path, opts, exc), exc
    if result.get("status") != "ok":
        return result, error_from_dict(result.get("error") or {})
    return result, None


def _error_result(path: str, opts: dict, exc) -> dict:
    import os

    from edgekit.transports.host import failed_result

    spec = {
        k: v for k, v in opts.items() if k in ("threads", "xnnpack", "warmup", "min_runs", "min_time_s", "max_runs", "inputs")
    }
    spec.update(artifact=os.path.abspath(path), format=None)
    return failed_result(spec, exc)


def save_progress(rows, args, several: bool):
    """Rewrite -o with every result measured so far (a list when several models were given).
    Returns the error when the write failed (it is shown now and decides the exit status at the
    end), so the batch goes on: the results still reach the history and the screen."""
    if not args.output:
        return None
    from edgekit.build.artifacts import atomic_write_json
    from edgekit.errors import EdgekitError

    done = [r.result for r in rows if r.ok]
    try:
        atomic_write_json(args.output, done if several else done[0])
    except EdgekitError as exc:
        if several:
            print(exc.line(), file=sys.stderr)
        return exc
    return None


def report_failure(row, args) -> None:
    """A failed model in a batch: its one line now (with --debug, the runtime's log first)."""
    import os

    if getattr(args, "debug", False) or os.environ.get("EDGEKIT_DEBUG") == "1":
        from edgekit.cli import print_details

        print_details(row.error.details)
    print(f"{row.error.line()} [{row.label}]", file=sys.stderr)


class _status:
    """A spinner on stderr while a worker runs, only when stderr is a terminal."""

    def __init__(self, text: str, quiet: bool = False):
        self.text, self.quiet, self._cm = text, quiet, None

    def __enter__(self):
        if not self.quiet and sys.stderr.isatty():
            from edgekit.console import console

            self._cm = console(stderr=True).status(self.text)
            self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        if self._cm is not None:
            self._cm.__exit__(*exc)
        return False


def delegate_text(result: dict) -> str:
    parts = []
    for d in result.get("delegates") or []:
        text = f"{d['name']} {d['nodes']}/{d['total_nodes']} nodes" if d.get("nodes") is not None else str(d["name"])
        if d.get("partitions"):
            text += f" in {d['partitions']} partition{'s' if d['partitions'] != 1 else ''}"
        left = d.get("not_delegated") or {}
        if left:
            text += " (CPU: " + ", ".join(f"{k}x{v}" if v > 1 else k for k, v in sorted(left.items())) + ")"
        parts.append(text)
    return "; ".join(parts) or ("none" if result["runtime"].get("xnnpack") else "none (XNNPACK off)")


def spread_advice(result: dict) -> str | None:
    """What to do about a wide spread, or None when the samples are tight.

    With one interpreter thread per core every other process on the machine preempts a worker
    thread and the whole thread pool waits for it; measured on a 2-vCPU machine the p50 then
    varied 6-7% between runs against ~1% with one core left free (BENCHMARKS.md). That is the
    most common cause we can name from the result itself, so it gets its own advice.
    """
    lat = result.get("latency_ms") or {}
    cv = lat.get("cv") or 0.0
    if cv <= 0.10:
        return None
    text = f"the spread is wide (CV {cv:.0%}); the machine may be busy. Close other programs or raise --min-time."
    threads = (result.get("runtime") or {}).get("threads")
    cores = ((result.get("device") or {}).get("fingerprint") or {}).get("cpu_count")
    if isinstance(threads, int) and isinstance(cores, int) and cores > 1 and threads >= cores:
        text += (
            f" With {threads} threads on {cores} cores any other process stalls the thread pool: "
            f"--threads {cores - 1} gives steadier figures for comparisons."
        )
    return text


def print_summary(result: dict) -> None:
    """The terminal view of one result, laid out like hyperfine's."""
    from edgekit.console import console, safe

    out = console()
    a, rt, lat = result["artifact"], result["runtime"], result["latency_ms"]
    dev = result.get("device", {})
    # File and device names are the user's (or a device's) text: never rich markup, never raw bytes.
    where = "" if dev.get("name") in (None, "host") else f" on {safe(dev['name'])}"
    out.print(f"[bold]Benchmark:[/bold] {safe(a['name'])}{where}")
    out.print(
        f"  Model:       {a.get('format')}, {human_bytes(a.get('size_bytes'))} "
        f"(gzip {human_bytes(a.get('gzip_bytes'))}), sha256 {a.get('sha256', '')[:12]}"
    )
    threads = rt.get("threads") or "default"
    out.print(f"  Runtime:     {rt.get('name')} {rt.get('version') or ''}, threads {threads}; delegates: {delegate_text(result)}")
    phases = result.get("load_phases_ms") or {}
    phase_text = " + ".join(f"{k} {human_ms(v)}" for k, v in phases.items() if k != "import")
    out.print(
        f"  Init:        {human_ms(result['init_ms'])} ({phase_text}); first inference {human_ms(result['first_inference_ms'])}"
    )
    out.print(
        f"  Time ([green]p50[/green] ± σ):  [bold green]{human_ms(lat['p50'])}[/bold green] ± {human_ms(lat['std'])}"
        f"    (trimmed mean {human_ms(lat['trimmed_mean'])}, mean {human_ms(lat['mean'])})"
    )
    out.print(
        f"  Range (min … max):  [cyan]{human_ms(lat['min'])}[/cyan] … [magenta]{human_ms(lat['max'])}[/magenta]"
        f"    p90 {human_ms(lat['p90'])}, p99 {human_ms(lat['p99'])}    {lat['n']} runs"
    )
    extra = f"  Throughput:  {lat['throughput_per_s']:.1f} inferences/s" if lat.get("throughput_per_s") else ""
    model = result.get("model") or {}
    if model.get("macs"):
        extra += f"; {model['macs'] / 1e6:.1f} M MACs, {model.get('mac_per_s', 0) / 1e9:.2f} GMAC/s"
    if extra:
        out.print(extra)
    mem = result.get("memory") or {}
    imported = f", runtime import {human_bytes(mem['runtime_import_rss_bytes'])}" if mem.get("runtime_import_rss_bytes") else ""
    out.print(
        f"  Peak memory: {human_bytes(mem.get('peak_rss_bytes'))} (model load added {human_bytes(mem.get('model_rss_bytes'))}{imported})"
    )
    from rich.markup import escape  # notes quote tensor names from the model: markup and control bytes escaped

    for note in result.get("notes") or []:
        safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(note))
        out.print(f"  [yellow]Note: {escape(safe)}[/yellow]")
    advice = spread_advice(result)
    if advice:
        out.print(f"  [yellow]Warning: {advice}[/yellow]")
    if result.get("device", {}).get("emulated"):
        out.print("  [yellow]Emulated device: these timings show it runs, not how fast real hardware is.[/yellow]")
    out.print()
