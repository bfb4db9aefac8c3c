"""edgekit build: turn a source model into checked deployment artifacts and a manifest.

Settings come from an edgekit.toml (optional) and flags; flags win. Exit status 0 when every
target was built (or reused), 1 when any target failed or missed an accuracy threshold.
"""

from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser("build", help="build TFLite / ExecuTorch / ... artifacts from a model", description=__doc__)
    p.add_argument("spec", nargs="?", help="edgekit.toml build spec (optional when --source and --target are given)")
    p.add_argument("--source", help="model: .keras/.h5, a SavedModel dir, package.module:function, ...")
    p.add_argument("--source-kind", help="loader to use instead of guessing (keras, saved_model, factory, ...)")
    p.add_argument(
        "-t", "--target", action="append", dest="targets", metavar="NAME", help="a target (repeatable); replaces the spec's list"
    )
    p.add_argument("-o", "--outdir", help="output directory (default: out, relative to the spec)")
    p.add_argument("--input-shape", action="append", metavar="NAME=1,H,W,C", help="fix an input shape (repeatable)")
    p.add_argument(
        "--arg",
        action="append",
        dest="source_args",
        metavar="NAME=VALUE",
        help="a constant for a non-tensor forward() argument of a TorchScript source, e.g. sr=16000 "
        "(repeatable; typed from the signature)",
    )
    cal = p.add_argument_group("calibration and evaluation data")
    cal.add_argument("--calibration", metavar="DATA", help=".npy/.npz, an image folder, or package.module:function")
    cal.add_argument(
        "--random-calibration",
        action="store_true",
        help="calibrate on random noise (not representative; flagged in the manifest)",
    )
    cal.add_argument("--calibration-count", type=int, help="calibration samples (default 200)")
    cal.add_argument("--eval-count", type=int, help="held-out samples for the drift check (default 200)")
    cal.add_argument("--evaluation", metavar="DATA", help="a separate held-out evaluation set")
    cal.add_argument("--scale", choices=["0,1", "-1,1", "0,255"], help="image folders: pixel scaling")
    cal.add_argument("--mean", help="image folders: per-channel mean after scaling, e.g. 0.485,0.456,0.406")
    cal.add_argument("--std", help="image folders: per-channel std after scaling")
    cal.add_argument("--channel-order", choices=["rgb", "bgr"], help="image folders: channel order")
    cal.add_argument("--layout", choices=["nhwc", "nchw"], help="image folders: tensor layout (default: from the input shape)")
    cal.add_argument("--seed", type=int, help="seed of the calibration/evaluation split")
    p.add_argument(
        "--option", action="append", metavar="TARGET.KEY=VALUE", help="a target option, e.g. tflite-int8.io_dtype=uint8"
    )
    p.add_argument(
        "--threshold",
        action="append",
        metavar="[TARGET.]NAME=VALUE",
        help="e.g. min_cosine=0.99 or tflite-int8.max_accuracy_drop=1",
    )
    p.add_argument(
        "--output-kind",
        action="append",
        metavar="OUTPUT=KIND",
        help="what an output holds when the guess is wrong: classification, embedding, dense, values",
    )
    p.add_argument("--drift-floor", type=float, metavar="COSINE", help="cosine below which an artifact fails (default 0.5)")
    p.add_argument(
        "--drift-warn", type=float, metavar="COSINE", help="cosine below which it is built with a warning (default 0.9)"
    )
    p.add_argument("--force", action="store_true", help="rebuild even when the cached artifact matches")
    p.add_argument(
        "--explain",
        action="store_true",
        help="measure each layer's quantization error for quantized targets and print the worst "
        "(recorded in the manifest; 'edgekit quant-report ARTIFACT' shows it again)",
    )
    p.add_argument("--list-targets", action="store_true", help="list the target names and exit")
    p.add_argument("--json", action="store_true", help="print the build report as JSON")
    p.set_defaults(func=run)


def _floats(text: str | None, flag: str) -> list[float] | None:
    from edgekit.errors import EdgekitError

    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise EdgekitError(f"{flag} {text!r} is not a list of numbers", f"write {flag} 0.5,0.5,0.5") from None


def _value(text: str):
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def spec_from_args(args: argparse.Namespace):
    """The BuildSpec from the spec file (if any) with every given flag applied on top."""
    import os
    from dataclasses import replace

    from edgekit.build import spec as spec_mod
    from edgekit.build.calibration import DataSpec
    from edgekit.errors import EdgekitError

    spec = spec_mod.load_spec(args.spec) if args.spec else spec_mod.BuildSpec(base_dir=os.getcwd())
    cwd = os.getcwd()

    def flag_path(p: str | None) -> str | None:  # flags are relative to the shell's directory
        if p is None or os.path.isabs(p) or (spec_mod.FACTORY_RE.match(p) and not os.path.exists(p)):
            return p
        return os.path.abspath(os.path.join(cwd, p))

    if getattr(args, "source_args", None):
        given = dict(spec.source_args)
        given.update(spec_mod.parse_arg(a) for a in args.source_args)
        spec = replace(spec, source_args=given)
    spec = spec_mod.with_overrides(
        spec,
        source=flag_path(args.source),
        source_kind=args.source_kind,
        targets=args.targets,
        outdir=flag_path(args.outdir),
        inputs=[spec_mod.parse_input_shape(s) for s in args.input_shape] if args.input_shape else None,
    )
    if args.calibration and args.random_calibration:
        raise EdgekitError("give --calibration or --random-calibration, not both", "drop one")
    cal = spec.calibration
    if args.calibration or args.random_calibration:
        d = flag_path(args.calibration)
        is_gen = bool(d and spec_mod.FACTORY_RE.match(d) and not os.path.exists(d))
        cal = replace(
            cal or DataSpec(), path=None if is_gen else d, generator=d if is_gen else None, random=bool(args.random_calibration)
        )
    if cal is not None:
        pre = cal.preprocess
        pre = replace(
            pre,
            scale=args.scale or pre.scale,
            mean=_floats(args.mean, "--mean") or pre.mean,
            std=_floats(args.std, "--std") or pre.std,
            channel_order=args.channel_order or pre.channel_order,
            layout=args.layout or pre.layout,
        )
        pre.validate()
        cal = replace(
            cal,
            count=args.calibration_count if args.calibration_count is not None else cal.count,
            eval_count=args.eval_count if args.eval_count is not None else cal.eval_count,
            seed=args.seed if args.seed is not None else cal.seed,
            preprocess=pre,
        )
    elif any(x is not None for x in (args.calibration_count, args.scale, args.mean, args.std)):
        raise EdgekitError("calibration settings given without calibration data", "add --calibration DATA")
    spec = replace(spec, calibration=cal)
    if args.evaluation:
        d = flag_path(args.evaluation)
        is_gen = bool(spec_mod.FACTORY_RE.match(d) and not os.path.exists(d))
        ev = DataSpec(path=None if is_gen else d, generator=d if is_gen else None)
        if cal is not None:
            ev = replace(ev, preprocess=cal.preprocess, eval_count=cal.eval_count)
        spec = replace(spec, evaluation=ev)
    options = {k: dict(v) for k, v in spec.options.items()}
    for item in args.option or []:
        key, eq, val = item.partition("=")
        target, dot, name = key.partition(".")
        if not eq or not dot or not name:
            raise EdgekitError(f"bad --option {item!r}", "write --option TARGET.KEY=VALUE, e.g. tflite-int8.io_dtype=uint8")
        options.setdefault(target, {})[name] = _value(val)
    thresholds = dict(spec.thresholds)
    per_target = {k: dict(v) for k, v in spec.target_thresholds.items()}
    for item in args.threshold or []:
        key, eq, val = item.partition("=")
        target, dot, name = key.rpartition(".")
        if not eq:
            raise EdgekitError(f"bad --threshold {item!r}", "write --threshold min_cosine=0.99")
        table = spec_mod._thresholds("--threshold", {name: _value(val)})
        (per_target.setdefault(target, {}) if dot else thresholds).update(table)
    drift = dict(spec.drift)
    if args.drift_floor is not None:
        drift["fail_below"] = args.drift_floor
    if args.drift_warn is not None:
        drift["warn_below"] = args.drift_warn
    drift = spec_mod._drift("--drift-floor/--drift-warn", drift)
    kinds = dict(spec.output_kinds)
    for item in args.output_kind or []:
        name, eq, kind = item.rpartition("=")
        if not eq or not name:
            raise EdgekitError(f"bad --output-kind {item!r}", "write --output-kind OUTPUT_NAME=embedding")
        kinds.update(spec_mod._output_kinds("--output-kind", {name: kind}))
    return replace(
        spec,
        options=options,
        thresholds=thresholds,
        target_thresholds=per_target,
        drift=drift,
        output_kinds=kinds,
        explain=bool(getattr(args, "explain", False)),
    )


def run(args) -> int:
    import os

    from edgekit.console import print_json
    from edgekit.errors import EXIT_FAILED

    if args.list_targets:
        from edgekit.targets import TARGETS

        print("\n".join(TARGETS.names()))
        return 0
    from edgekit import api

    spec = spec_from_args(args)
    debug = bool(getattr(args, "debug", False) or os.environ.get("EDGEKIT_DEBUG") == "1")
    with _stdout_to_stderr(args.json):  # libraries print to stdout; --json output must stay parseable
        report = api.build(spec, force=args.force, progress=progress_mode(args.json), debug=debug)
    if args.json:
        print_json(report.to_dict())
    else:
        print_table(report)
    return 0 if report.ok else EXIT_FAILED


def progress_mode(json_output: bool) -> str:
    """Bars on a terminal, one line per step into a pipe or file (``build 2>&1 | tee``), none with --json."""
    if json_output:
        return "off"
    return "bars" if sys.stderr.isatty() else "lines"


class _stdout_to_stderr:
    """Point file descriptor 1 at stderr for a while (C-level prints included)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.saved: int | None = None

    def __enter__(self):
        if self.enabled:
            import os

            sys.stdout.flush()
            self.saved = os.dup(1)
            os.dup2(2, 1)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            import os

            sys.stdout.flush()
            os.dup2(self.saved, 1)
            os.close(self.saved)
        return False


def agreement_text(acc: dict) -> str:
    """The agreement metric that fits the output: top-1 (class scores), nearest neighbour
    (embeddings) or per-pixel argmax (dense maps)."""
    for key, label in (("top1_agreement", "top-1"), ("nn_agreement", "NN"), ("pixel_agreement", "pixel")):
        if acc.get(key) is not None:
            return f"{label} {acc[key]:.1%}"
    return "-"


def samples_text(acc: dict) -> str:
    cal = acc.get("calibration_samples")
    return f"{acc.get('samples', '-')}/{cal if cal is not None else '-'}"


def print_table(report) -> None:
    from rich.markup import escape
    from rich.table import Table

    from edgekit.console import console, human_bytes

    table = Table(title=f"edgekit build -> {escape(report.outdir)}", show_lines=False)
    for col in ("target", "status", "file", "size", "cosine", "SNR dB", "agreement", "accuracy", "samples eval/cal", "build s"):
        table.add_column(col, justify="right" if col not in ("target", "status", "file") else "left")
    for e in report.entries:
        acc = e.accuracy or {}
        status = {"built": "[green]built[/green]", "cached": "[cyan]cached[/cyan]"}.get(e.status, "[red]failed[/red]")
        if e.status in ("built", "cached") and (acc.get("sanity") or {}).get("verdict") == "warn":
            status += " [yellow](drift)[/yellow]"

        def f(v, fmt):
            return "-" if v is None else format(v, fmt)

        snr = "exact" if acc.get("snr_exact") else f(acc.get("snr_db"), ".1f")
        table.add_row(
            escape(e.target),
            status,
            escape(e.file or "-"),
            human_bytes(e.size_bytes),
            f(acc.get("cosine"), ".5f"),
            snr,
            agreement_text(acc),
            f(acc.get("accuracy"), ".2f") + ("%" if acc.get("accuracy") is not None else ""),
            samples_text(acc) if acc else "-",
            f(e.build_time_s, ".1f"),
        )
    out = console()
    out.print(table)
    for e in report.entries:
        if e.error:
            hint = f"; {e.error['hint']}" if e.error.get("hint") else ""
            out.print(f"{e.target} FAILED: {e.error['message']}{hint}", markup=False, highlight=False, style="red")
    for w in report.warnings:
        out.print(f"warning: {w}", markup=False, style="yellow")
    for e in report.entries:  # per-artifact warnings, e.g. ops that fell back off the delegate
        for w in e.warnings:
            out.print(f"{e.target} warning: {w}", markup=False, style="yellow")
    from edgekit.quant.report import print_layers

    for e in report.entries:
        if (e.extra or {}).get("quant_report"):
            print_layers(out, e.target, e.extra["quant_report"], top=5)
    out.print(f"manifest: {report.outdir}/manifest.json", markup=False)
