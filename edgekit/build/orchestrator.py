"""The build orchestrator: one source model -> every requested target -> checked artifacts + manifest.

For each target, in order: cache check (content hash of source, calibration data and the target's
settings; ``force`` rebuilds), build to a temporary path, then LOAD AND INVOKE the artifact on the
held-out samples in a separate worker process (converters emit files that cannot be allocated or
output NaN, and runtimes can crash the process), compare its outputs with the float source model
(edgekit.build.accuracy), check thresholds, publish atomically and record a manifest entry. A target that
fails is recorded with its reason and never stops or removes the others; an artifact that misses
a threshold is kept but marked failed. Framework-agnostic: TensorFlow and PyTorch targets go
through the same code.

The load-and-invoke check runs in edgekit.build.verify (its worker: ``python -m edgekit.build.verify SPEC.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from edgekit import __version__
from edgekit.build.verify import match_outputs, named_like_source, verify_in_worker
from edgekit.errors import EdgekitError

RANDOM_EVAL_SAMPLES = 50  # no data given: drift on this many random inputs (>= the sample warning level)
BUILD_LOG = "build.log"
OK_STATUSES = ("built", "cached")


@dataclass
class BuildReport:
    outdir: str
    manifest: Any  # edgekit.build.artifacts.Manifest
    entries: list = field(default_factory=list)  # ArtifactEntry of this run, in target order
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(e.status in OK_STATUSES for e in self.entries)

    def to_dict(self) -> dict:
        return {
            "outdir": self.outdir,
            "ok": self.ok,
            "manifest": os.path.join(self.outdir, "manifest.json"),
            "warnings": list(self.warnings),
            "artifacts": [e.to_dict() for e in self.entries],
        }


def _hash_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def load_data_sets(spec, source, progress) -> tuple[Any, Any, list[str]]:
    """(calibration, evaluation, warnings): disjoint sets, evaluation never calibrated on."""
    from edgekit.build import calibration as cal_mod

    warnings: list[str] = []
    cal = ev = None
    if spec.calibration is not None:
        c = spec.calibration
        if c.random:
            warnings.append(
                "RANDOM CALIBRATION: quantization ranges come from uniform noise, not real inputs; "
                "int8 accuracy on real data is unknown (the manifest records calibration.random = true)"
            )
        data = cal_mod.load_data(_resolved_data(spec, c), source.inputs, spec.base_dir, progress)
        held_out = 0 if spec.evaluation is not None else c.eval_count
        cal, ev = cal_mod.split(data, c.count, held_out, c.seed)
        asked = f"{c.count} calibration" + (f" + {held_out} held-out" if held_out else "")
        got = f"{len(cal)} went to calibration" + (f", {len(ev)} were held out for evaluation" if ev is not None else "")
        if len(cal) < c.count or (ev is not None and len(ev) < held_out):
            warnings.append(f"{data.source or 'the data'} has {len(data)} samples, fewer than the {asked} asked for: {got}")
    if spec.evaluation is not None:
        e = spec.evaluation
        data = cal_mod.load_data(_resolved_data(spec, e), source.inputs, spec.base_dir, progress)
        ev = data.subset(range(min(len(data), max(1, e.eval_count))))
    if ev is None:
        ev = cal_mod.random_data(source.inputs, RANDOM_EVAL_SAMPLES, seed=1)
        ev.source = "random (no evaluation data given)"
        warnings.append(
            "no calibration/evaluation data: accuracy drift is measured on random inputs; "
            "pass --calibration DATA for a meaningful check"
        )
    return cal, ev, warnings


def _resolved_data(spec, d):
    from dataclasses import replace

    return replace(d, path=spec.resolve(d.path)) if d.path else d


def reference_outputs(source, ev, progress) -> list:
    """The float model's outputs on every evaluation sample (one batch, or sample by sample).

    A stateful source (``Source.stateful``) goes sample by sample, in order, from its fresh state:
    that is what the artifact's runtime does, so the two sequences are comparable.
    """
    import numpy as np

    task = progress.task(f"evaluation: float reference ({len(ev)} samples)", len(ev))
    source.reset()
    if not source.stateful:
        try:
            outs = source.predict(ev.inputs)
            if outs and all(o.shape[:1] == (len(ev),) for o in outs):
                task.done()
                return [np.asarray(o, dtype=np.float32) for o in outs]
        except Exception:
            pass  # fixed batch size 1: go sample by sample
        source.reset()
    per = []
    for i in range(len(ev)):
        per.append(source.predict(ev.sample(i)))
        task.advance()
    return [np.concatenate([p[k].reshape(1, *p[k].shape[1:]) for p in per]).astype(np.float32) for k in range(len(per[0]))]


def _error(exc: BaseException, target: str) -> dict:
    if isinstance(exc, EdgekitError):
        return exc.to_dict()
    from edgekit.errors import first_line

    msg = first_line(exc, 400) if str(exc).strip() else ""
    return {
        "type": type(exc).__name__,
        "message": f"{target} failed: {type(exc).__name__}: {msg}",
        "hint": "rerun with --debug for the traceback; other targets are unaffected",
    }


class Orchestrator:
    """Runs one BuildSpec. Public for tests and the Python API; use ``build()``.

    ``progress``: "bars", "lines", "off" (or True/False for bars/off). ``capture``: keep what the
    frameworks write to fds 1/2 off the terminal, in OUTDIR/build.log (``debug`` prints it).
    """

    def __init__(self, spec, *, force: bool = False, progress: bool | str = False, debug: bool = False, capture: bool = True):
        self.spec = spec
        self.force = force
        self.progress_mode = {True: "bars", False: "off"}.get(progress, progress) if isinstance(progress, bool) else str(progress)
        self.debug = debug
        self.capture = capture
        self.swept: list[str] = []

    def run(self) -> BuildReport:
        from edgekit.build import cache as build_cache
        from edgekit.build import spec as spec_mod
        from edgekit.build.console import CapturedTerminal, StepProgress

        spec = self.spec
        spec_mod.validate(spec)  # targets and options exist
        spec_mod.validate_paths(spec)  # every path, count and option: before any framework import
        started = time.time()
        outdir = os.path.abspath(spec.resolve(spec.outdir))
        from edgekit.harness.lifetime import sweep_stale

        sweep_stale()  # edgekit-<kind>-PID-* temp dirs (verify, run, ...) of dead processes
        self.swept = build_cache.sweep_outdir(outdir, started)
        quick = None if self.force else self._quick(outdir)
        if quick is not None:
            return quick
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any factory imports TensorFlow
        term = CapturedTerminal(self.capture)
        report = None
        try:
            with term:
                with StepProgress(self.progress_mode, term.terminal) as progress:
                    report = self._full(outdir, progress)
        finally:
            self._keep_log(outdir, term, report)
        return report

    # -- the quick path: nothing imported, nothing loaded ----------------------------------------
    def _quick(self, outdir: str) -> BuildReport | None:
        """Every target answered from the manifest when the input keys (bytes of everything the
        user gave, tool versions) match and each file still has its sha256; else None."""
        from edgekit.build import cache as build_cache
        from edgekit.build.artifacts import MANIFEST_NAME, Manifest, sha256_file

        if not os.path.exists(os.path.join(outdir, MANIFEST_NAME)) or self.spec.explain:
            return None  # --explain loads the source to measure layers: not a manifest-only answer
        keys = build_cache.input_keys(self.spec)
        if keys is None:
            return None
        try:
            manifest = Manifest.load(outdir)
        except EdgekitError:
            return None
        entries = []
        for name in self.spec.targets:
            old = manifest.entries.get(name)
            if old is None or old.status not in OK_STATUSES or not old.file or old.extra.get("input_key") != keys[name]:
                return None
            path = os.path.join(outdir, old.file)
            if not os.path.isfile(path) or os.path.getsize(path) != old.size_bytes or sha256_file(path) != old.sha256:
                return None
            if old.accuracy is None and not old.extra.get("not_run"):
                return None
            entry = self._judge(name, old, old.accuracy, fresh=False) if old.accuracy else old
            if entry.status not in OK_STATUSES:
                return None  # judged broken now: the full path rebuilds it and says why
            entries.append(entry)
        for e in entries:
            e.status = "cached"
            manifest.entries[e.target] = e
        manifest.save()
        return BuildReport(outdir, manifest, entries, warnings=list(manifest.source.get("warnings") or []))

    # -- the full path -----------------------------------------------------------------------------
    def _full(self, outdir: str, progress) -> BuildReport:
        from edgekit.build import cache as build_cache
        from edgekit.build.artifacts import Manifest
        from edgekit.sources import load_source
        from edgekit.targets import TARGETS
        from edgekit.targets.base import BuildContext

        spec = self.spec
        targets = [TARGETS.get(name) for name in spec.targets]
        task = progress.task("loading source model", 1)
        source = load_source(
            spec.resolve(spec.source),
            spec.source_kind,
            spec.inputs,
            {"args": dict(spec.source_args)} if spec.source_args else None,
        )
        task.done()
        cal, ev, warnings = load_data_sets(spec, source, progress)
        contexts = []
        for target in targets:
            ctx = BuildContext(source, spec, target.name, dict(spec.options.get(target.name, {})), cal, outdir, progress)
            target.check(ctx)
            contexts.append(ctx)
        if self.swept:
            warnings.append(f"removed {len(self.swept)} temporary file(s) left in {outdir} by killed builds")
        for w in warnings:
            progress.warn(w)
        reference = reference_outputs(source, ev, progress)
        os.makedirs(outdir, exist_ok=True)
        manifest = Manifest.load(outdir)
        manifest.source = {
            **source.describe(),
            "spec": spec.to_dict(),
            "edgekit_version": __version__,
            "evaluation": ev.describe(),
            "calibration": cal.describe() if cal is not None else None,
            "warnings": [w for w in warnings if not w.startswith("removed ")],
        }
        keys = build_cache.input_keys(spec) or {}
        report = BuildReport(outdir, manifest, warnings=warnings)
        for target, ctx in zip(targets, contexts):
            entry = self._one(target, ctx, source, cal, ev, reference, manifest, progress)
            if spec.explain:
                self._explain(target, ctx, entry, progress)
            if entry.status in OK_STATUSES and keys.get(target.name):
                entry.extra = {**entry.extra, "input_key": keys[target.name]}
            else:
                entry.extra.pop("input_key", None)
            report.entries.append(entry)
            manifest.put(entry)
            progress.note(_line(entry))
        return report

    def _explain(self, target, ctx, entry, progress) -> None:
        """``--explain``: the per-layer quantization report of a quantized artifact, into its entry.

        The format's backend (``edgekit.quant.BACKENDS``) measures it on the calibration samples;
        an artifact it cannot explain gets a warning saying why, never a failed target."""
        from edgekit.quant import BACKENDS, explain

        kept = bool(entry.file) and os.path.exists(os.path.join(ctx.outdir, entry.file))
        # A failed-by-drift artifact is kept for inspection: that is exactly when the report helps.
        if not kept or "quant_report" in entry.extra:
            return
        if target.dynamic_quant:  # asked to explain, and silence would read as "nothing wrong"
            entry.warnings = [
                *entry.warnings,
                f"--explain: {target.name} quantizes activations per call (dynamic range), so there are no calibrated "
                "activations to compare layer by layer; the per-layer report covers the static int8 targets",
            ]
            return
        if not target.needs_calibration:
            return
        if entry.format not in BACKENDS:
            entry.warnings = [*entry.warnings, f"--explain: no per-layer report for {entry.format} artifacts yet"]
            return
        task = progress.task(f"explain: per-layer error of {target.name}", 1)
        try:
            entry.extra = {**entry.extra, "quant_report": explain(target, ctx)}
        except EdgekitError as exc:
            entry.warnings = [*entry.warnings, f"--explain: {exc.message}; {exc.hint}"]
        task.done()

    def _keep_log(self, outdir: str, term, report) -> None:
        """OUTDIR/build.log gets what the frameworks printed; the manifest names it; --debug shows it."""
        from edgekit.build.artifacts import atomic_write_bytes

        text = term.text
        if self.debug and text.strip():
            sys.stderr.write("--- build log (framework and converter output) ---\n" + text + "\n--- end of build log ---\n")
        if not os.path.isdir(outdir) or not term.enabled:
            return
        try:
            atomic_write_bytes(os.path.join(outdir, BUILD_LOG), text.encode("utf-8"))
        except OSError:
            return
        if report is not None:
            report.manifest.source["build_log"] = {"file": BUILD_LOG, "lines": text.count("\n")}
            report.manifest.save()

    def _one(self, target, ctx, source, cal, ev, reference, manifest, progress):
        from edgekit.build.artifacts import ArtifactEntry, now_iso, sha256_file, temp_path_for

        cal_info = cal.describe() if (cal is not None and target.needs_calibration) else None
        try:
            settings = target.cache_settings(ctx)
        except Exception as exc:
            return ArtifactEntry(target=target.name, status="failed", format=target.format, error=_error(exc, target.name))
        key = _hash_json(
            {
                "source": source.content_hash,
                "target": target.name,
                "settings": settings,
                "calibration": cal_info and cal_info["sha256"],
                "inputs": [i.to_dict() for i in source.inputs],
                "edgekit": __version__,
            }
        )
        eval_key = _hash_json(
            {
                "evaluation": ev.sha256(),
                "thresholds": self.spec.thresholds_for(target.name),
                "drift": self.spec.drift_limits(),
                "kinds": self.spec.output_kinds,
            }
        )
        final = os.path.join(ctx.outdir, target.file_name(ctx))
        old = manifest.entries.get(target.name)
        if not self.force and old is not None and old.status in OK_STATUSES and old.cache_key == key and old.file:
            old_path = os.path.join(ctx.outdir, old.file)
            if os.path.exists(old_path) and sha256_file(old_path) == old.sha256:
                if old.extra.get("evaluation_key") == eval_key and (old.accuracy or old.extra.get("not_run")):
                    old.status = "cached"
                    return self._judge(target.name, old, old.accuracy, fresh=False) if old.accuracy else old
                entry = ArtifactEntry.from_dict(old.to_dict())
                return self._verify_and_record(target, ctx, entry, old_path, ev, reference, eval_key, publish_from=None)
        entry = ArtifactEntry(
            target=target.name, status="failed", format=target.format, cache_key=key, calibration=cal_info, built_at=now_iso()
        )
        tmp = temp_path_for(final)
        t0 = time.perf_counter()
        task = progress.task(f"conversion: {target.name}", 1)
        try:
            out = target.build(ctx, tmp)
            task.done()
            entry.build_time_s = round(time.perf_counter() - t0, 3)
            entry.quantization = out.quantization
            entry.tool_versions = out.tool_versions
            entry.warnings = list(ctx.warnings) + list(out.warnings)
            entry.extra = {**dict(out.extra), "build_warnings": list(entry.warnings)}
            if not os.path.exists(tmp) or os.path.getsize(tmp) == 0:
                raise EdgekitError(f"{target.name} wrote no artifact", "this is a bug in the target")
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                _unlink(tmp)
                raise
            if self.debug:
                import traceback

                traceback.print_exc()  # into the build log, which --debug prints
            _unlink(tmp)
            entry.build_time_s = round(time.perf_counter() - t0, 3)
            entry.warnings = list(ctx.warnings)
            entry.error = _error(exc, target.name)
            _unlink(final)  # an older artifact of this target no longer matches the manifest
            return entry
        return self._verify_and_record(target, ctx, entry, final, ev, reference, eval_key, publish_from=tmp)

    def _verify_and_record(self, target, ctx, entry, final, ev, reference, eval_key, publish_from):
        from edgekit.build import accuracy
        from edgekit.build.artifacts import sha256_file

        path = publish_from or final
        if entry.extra.get("not_run"):
            # Built for hardware absent here (e.g. Core ML needs Apple): publish it, say it was not invoked.
            if publish_from:
                os.replace(publish_from, final)
            entry.file, entry.sha256, entry.size_bytes = os.path.basename(final), sha256_file(final), os.path.getsize(final)
            entry.extra = {**entry.extra, "evaluation_key": eval_key}
            entry.status, entry.error = ("built" if publish_from else "cached"), None
            return entry
        task = ctx.progress.task(f"evaluation: {target.name} ({len(ev)} samples)", len(ev))
        try:
            layouts = entry.extra.get("input_layout")
            checked = verify_in_worker(path, target.format, ev, [i.name for i in ctx.source.inputs], layouts=layouts)
            task.done()
            values = match_outputs(reference, checked["values"])
            drift = accuracy.compare(reference, values, ev.labels, ctx.source.output_names, self.spec.output_kinds)
        except Exception as exc:
            if publish_from:
                _unlink(publish_from)
                _unlink(final)
            entry.status = "failed"
            entry.file = entry.sha256 = entry.size_bytes = None
            entry.error = _error(exc, target.name)
            if isinstance(exc, EdgekitError):
                msg = exc.message.replace(path, os.path.basename(final))
                entry.error["message"] = f"built but unusable: {msg}"
                entry.error["hint"] = (
                    "the converter wrote a model this runtime cannot load or run; "
                    "the target failed, choose another one (or other settings)"
                )
            return entry
        drift["evaluation"] = ev.describe()
        from edgekit.build.layout import annotate

        names = [i.name for i in ctx.source.inputs]
        entry.inputs = annotate(named_like_source(checked.get("inputs", []), names), entry.extra.get("input_layout"), names)
        entry.outputs = checked.get("outputs", [])
        rt = checked.get("runtime") or {}
        if rt.get("name"):
            entry.tool_versions = {**entry.tool_versions, f"runtime:{rt['name']}": rt.get("version")}
        if publish_from:
            os.chmod(publish_from, 0o644)  # mkstemp made it private; artifacts are meant to be shared
            os.replace(publish_from, final)
        entry.file = os.path.basename(final)
        entry.sha256 = sha256_file(final)
        entry.size_bytes = os.path.getsize(final)
        entry.extra = {**entry.extra, "evaluation_key": eval_key}
        return self._judge(target.name, entry, drift, fresh=bool(publish_from))

    def _judge(self, target_name: str, entry, drift: dict, fresh: bool):
        """Status, error and warnings from the drift record alone: the sanity verdict (no
        threshold needed), then the user's thresholds, then the sample-count warnings. Used for
        fresh and cached artifacts alike, so a broken artifact is never "cached" into success."""
        from edgekit.build import accuracy

        limits = self.spec.drift_limits()
        drift = dict(drift)
        verdict, reasons = accuracy.sanity(drift, **limits)
        n_cal = (entry.calibration or {}).get("count")
        # What the artifact was really calibrated on, when the target says: the mixed targets
        # calibrate on half the data and score their search on the other half.
        used = (entry.quantization or {}).get("calibration_samples")
        if isinstance(used, int) and not isinstance(used, bool) and used > 0:
            n_cal = used
        drift["calibration_samples"] = n_cal
        drift["sanity"] = {"verdict": verdict, "reasons": reasons, **limits}
        drift["sample_warnings"] = accuracy.sample_warnings(int(drift.get("samples") or 0), n_cal)
        entry.accuracy = accuracy.strict_json(drift)
        build_warnings = entry.extra.get("build_warnings", entry.warnings if fresh else [])
        drift_warnings = [f"drift: {r}" for r in reasons] if verdict == "warn" else []
        entry.warnings = list(build_warnings) + drift_warnings + list(drift["sample_warnings"])
        # A target may bring its own gate (a *-mixed target's accuracy budget, recorded in its
        # entry so cached and quick paths judge alike); the spec's thresholds win over it.
        gate = {**(entry.extra or {}).get("default_thresholds", {}), **self.spec.thresholds_for(target_name)}
        misses = accuracy.check_thresholds(drift, gate)
        repair = _repair_hint(target_name, entry)
        if verdict == "fail":
            entry.status = "failed"
            entry.error = {
                "type": "DriftSanity",
                "message": f"{target_name} is broken: " + "; ".join(reasons) + f" (on {drift.get('samples')} held-out samples)",
                "hint": "the artifact is kept for inspection but must not ship; check the calibration data and the "
                "model's normalisation statistics (e.g. BatchNorm), or choose another target" + repair,
            }
        elif misses:
            entry.status = "failed"
            entry.error = {
                "type": "CheckFailed",
                "message": f"{target_name} missed accuracy thresholds: " + "; ".join(misses),
                "hint": "the artifact is kept for inspection; relax the threshold or change the target's settings" + repair,
            }
        else:
            entry.status = "built" if fresh else "cached"
            entry.error = None
        repair_record = (entry.extra or {}).get("repair")
        if isinstance(repair_record, dict):
            # A *-mixed target's search scored its own split of the calibration data; the verdict
            # recorded for the repair is the held-out one (edgekit.quant.repair.judge_held_out).
            from edgekit.quant.repair import judge_held_out

            note = judge_held_out(repair_record, drift, passed=entry.status in ("built", "cached"))
            if note:
                entry.warnings.append(note)
                if entry.error:
                    entry.error["message"] += " (the repair met its budget on its search samples only)"
        return entry


def _repair_hint(target_name: str, entry=None) -> str:
    """The failure hint's pointer at a target that repairs this one's quantization (its record
    names it: ``repair_target``), e.g. tflite-int8 -> tflite-int8-mixed; only when the repair
    target takes the framework this artifact was converted from (``extra.converter``)."""
    from edgekit.targets import TARGETS

    repair = getattr(TARGETS.get(target_name), "repair_target", None) if target_name in TARGETS else None
    if not repair:
        return ""
    framework = ((getattr(entry, "extra", None) or {}).get("converter") or {}).get("framework")
    if framework and framework not in getattr(TARGETS.get(repair), "source_frameworks", (framework,)):
        return ""
    return (
        f"; or add -t {repair}: it keeps the layers that lose accuracy at higher precision ('edgekit build --explain' lists them)"
    )


def _unlink(path: str | None) -> None:
    if path and os.path.exists(path):
        try:
            os.unlink(path)
        except OSError:
            pass


def _line(entry) -> str:
    if entry.status in OK_STATUSES:
        return f"{entry.target}: {entry.status} {entry.file}"
    return f"{entry.target}: FAILED {(entry.error or {}).get('message', '')}"


def build(spec, *, force: bool = False, progress: bool | str = False, debug: bool = False, capture: bool = True) -> BuildReport:
    """Build every target of ``spec`` (a BuildSpec); see the module docstring."""
    return Orchestrator(spec, force=force, progress=progress, debug=debug, capture=capture).run()
