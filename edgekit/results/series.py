"""What a result measures, so the gate pairs like with like and says when it does not.

A *series* is one artifact on one device with one runtime and its settings. The artifact is its
path (or, for a build output, its manifest target in its output directory): a rebuild keeps the
path and changes the sha256, which is exactly the change CI gates on, so the sha256 cannot be the
key. Two files with the same name in different directories are different series; the same file
run with other threads or without XNNPACK is a different series too (its latency is another
quantity, not a regression). Results of different series are compared only when the user asks, and
then :func:`differences` lists what differs, printed above the verdict.

Standard library only, like the rest of the results layer's keys (history rows are keyed on it).
"""

from __future__ import annotations

import hashlib
import json
import os

# Runtime fields that describe the runtime rather than how it runs the model: a new version is a
# legitimate candidate change within a series (said in the differences), not another series.
_RUNTIME_DESCRIPTIVE = ("version",)
# Settings (result["settings"]) that change what is measured. Run counts and times do not (they
# change only how precisely it is measured); inputs are compared in differences() instead, since
# a CI job's input file may live in a fresh temporary path each time.
_SETUP_SETTINGS = ("provider", "device_selector", "input_shapes", "input_shape", "runtime_options", "delegate")


def device_key(result: dict) -> str:
    """A short stable id of the machine a result was measured on (hash of its fingerprint)."""
    dev = result.get("device") or {}
    fp = dev.get("fingerprint") or {}
    text = json.dumps({"name": dev.get("name"), "fingerprint": fp}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def artifact_path(result: dict) -> str:
    art = result.get("artifact") or {}
    path = art.get("path")
    return os.path.normpath(str(path)) if path else str(art.get("name") or "?")


def series_key(result: dict) -> str:
    """The artifact part of the series: its path, or ``target in DIR`` for a build output."""
    art = result.get("artifact") or {}
    if art.get("target") and art.get("path"):
        return f"{art['target']} in {os.path.dirname(artifact_path(result))}"
    return artifact_path(result)


def display_name(result: dict) -> str:
    """What a person calls the artifact: its build target, else its file name."""
    art = result.get("artifact") or {}
    return str(art.get("target") or art.get("name") or os.path.basename(artifact_path(result)))


def setup(result: dict) -> dict:
    """The runtime and settings that make a latency the same quantity from run to run."""
    rt = {k: v for k, v in (result.get("runtime") or {}).items() if k not in _RUNTIME_DESCRIPTIVE and v is not None}
    st = result.get("settings") or {}
    extra = {k: st[k] for k in _SETUP_SETTINGS if st.get(k) not in (None, {}, [], "")}
    return {"runtime": rt, **({"settings": extra} if extra else {})}


def setup_key(result: dict) -> str:
    return hashlib.sha256(json.dumps(setup(result), sort_keys=True, default=str).encode()).hexdigest()[:12]


def setup_text(result: dict) -> str:
    """``ai_edge_litert, 1 thread, XNNPACK`` (and any other setting that defines the series)."""
    s = setup(result)
    rt = dict(s["runtime"])
    parts = [str(rt.pop("name", "?"))]
    threads = rt.pop("threads", None)
    parts.append("default threads" if threads is None else f"{threads} thread{'s' if threads != 1 else ''}")
    xnn = rt.pop("xnnpack", None)
    if xnn is not None and _has_cpu_delegate(result.get("artifact", {}).get("format")):
        parts.append("XNNPACK" if xnn else "no XNNPACK")
    parts += [f"{k} {v}" for k, v in sorted(rt.items())]
    parts += [f"{k} {json.dumps(v, sort_keys=True, default=str)}" for k, v in sorted((s.get("settings") or {}).items())]
    return ", ".join(parts)


def full_key(result: dict) -> tuple[str, str, str]:
    """(series, device, setup): results with equal keys measure the same thing."""
    return series_key(result), device_key(result), setup_key(result)


def sha(result: dict) -> str | None:
    return (result.get("artifact") or {}).get("sha256")


def short_sha(result: dict) -> str:
    return (sha(result) or "--------")[:8]


def identity(result: dict) -> str:
    """One line naming exactly which file this is: path and sha256 prefix."""
    return f"{artifact_path(result)} (sha256 {short_sha(result)})"


def differences(base: dict, cand: dict) -> list[str]:
    """Everything that differs between what two results measured, worst first; [] for one series
    with the same artifact. A changed sha256 within one path is listed too (a new build)."""
    out = []
    if series_key(base) != series_key(cand):
        out.append(f"different artifacts: baseline {identity(base)}, candidate {identity(cand)}")
    elif sha(base) != sha(cand):
        out.append(f"artifact changed: sha256 {short_sha(base)} -> {short_sha(cand)} (a new build of {display_name(cand)})")
    if device_key(base) != device_key(cand):
        db, dc = (r.get("device") or {} for r in (base, cand))
        out.append(f"different devices: {db.get('name')} {device_key(base)[:6]} vs {dc.get('name')} {device_key(cand)[:6]}")
    if setup_key(base) != setup_key(cand):
        out.append(f"different settings: {setup_text(base)} vs {setup_text(cand)}")
    vb, vc = ((r.get("runtime") or {}).get("version") for r in (base, cand))
    if vb != vc:
        out.append(f"runtime version {vb} -> {vc}")
    ib, ic = ((r.get("settings") or {}).get("inputs") for r in (base, cand))
    if ib != ic:
        out.append(f"different inputs: {json.dumps(ib, sort_keys=True)} vs {json.dumps(ic, sort_keys=True)}")
    if (base.get("device") or {}).get("emulated") or (cand.get("device") or {}).get("emulated"):
        out.append("emulated device: timings show it runs, not how fast")
    return out


def _has_cpu_delegate(fmt: str | None) -> bool:
    """Does --no-xnnpack mean something for this format (its record's cpu_delegate)? Unknown
    formats (results from a newer edgekit) are labelled as before: only a missing format counts."""
    if fmt is None:
        return True
    from edgekit.runtimes.formats import FORMATS

    return fmt in FORMATS and FORMATS.get(fmt).cpu_delegate is not None
