"""Preflight + compile as one step, shared by ``edgekit edgetpu compile`` and the ``edgetpu`` target.

The preflight report is written before the compiler runs, so a machine without the compiler
(macOS, ARM, CI) still leaves a useful file behind; after a compile, the compiled file itself is
read back and its CPU ops are explained with the preflight's reasons.
"""

from __future__ import annotations

import os

from edgekit.errors import EdgekitError, EnvironmentMissing


def preflight_path(model: str, out_dir: str) -> str:
    stem = os.path.splitext(os.path.basename(model))[0]
    return os.path.join(out_dir, f"{stem}.edgetpu-preflight.json")


def write_preflight(model: str, out_dir: str):
    """Run the preflight and write its JSON into ``out_dir``; returns (Preflight, path)."""
    from edgekit.build.artifacts import atomic_write_json
    from edgekit.edgetpu.preflight import check

    pre = check(model)
    if pre.already_compiled:
        raise EdgekitError(
            f"{os.path.basename(model)} is already compiled for the Edge TPU",
            "compile the CPU model (full int8, without _edgetpu) instead",
        )
    path = preflight_path(model, out_dir)
    atomic_write_json(path, pre.to_dict())
    return pre, path


def explain_cpu_ops(pre, compiled_path: str) -> tuple[list[dict], dict]:
    """The compiled file's CPU ops with the preflight's reasons, and the prediction's agreement."""
    from edgekit.edgetpu.preflight import ground_truth
    from edgekit.inspect.tflite_model import load

    cpu_model, compiled = load(pre.path), load(compiled_path)
    try:
        truth = ground_truth(cpu_model, compiled)
    except ValueError as exc:
        return [], {"compared": False, "reason": str(exc)}
    by_index = {o.index: o for o in pre.ops}
    explained = [
        {"index": i, "name": by_index[i].name, "rule": by_index[i].rule, "reason": by_index[i].reason or "not predicted"}
        for i in truth
    ]
    predicted = sorted(o.index for o in pre.ops if o.placement == "cpu")
    return explained, {"compared": True, "agree": predicted == truth, "predicted_cpu": predicted, "actual_cpu": truth}


def compile_with_preflight(
    model: str,
    out_dir: str,
    *,
    show_ops: bool = True,
    min_runtime_version: str | None = None,
    segments: int | None = None,
    timeout: float = 180.0,
) -> dict:
    from edgekit.build.artifacts import atomic_write_json
    from edgekit.edgetpu.compiler import compile_model

    pre, pre_path = write_preflight(model, out_dir)
    try:
        result = compile_model(
            model, out_dir, show_ops=show_ops, min_runtime_version=min_runtime_version, segments=segments, timeout=timeout
        )
    except EnvironmentMissing as exc:
        # the entry of a build keeps what the preflight predicted even though nothing was compiled
        raise EnvironmentMissing(
            f"{exc.message} (the preflight report was written to {pre_path})",
            exc.hint,
            details={"preflight_file": os.path.basename(pre_path), "preflight_summary": pre.to_dict().get("summary")},
        ) from None
    warnings = list(result.warnings)
    explained, agreement = ([], {"compared": False, "reason": "segmented output"})
    if len(result.outputs) == 1:
        explained, agreement = explain_cpu_ops(pre, result.outputs[0])
        for e in explained:
            warnings.append(f"#{e['index']} {e['name']} runs on the CPU: {e['reason']}")
    doc = {
        "model": os.path.abspath(model),
        "outputs": result.outputs,
        "compiler": result.report.to_dict(),
        "command": result.command,
        "log_file": result.log_file,
        "preflight_file": pre_path,
        "preflight": pre.to_dict(),
        "cpu_ops_explained": explained,
        "prediction_agreement": agreement,
        "warnings": warnings,
    }
    stem = os.path.splitext(os.path.basename(result.outputs[0]))[0]
    doc["report_file"] = os.path.join(out_dir, f"{stem}.report.json")
    atomic_write_json(doc["report_file"], doc)
    return doc
