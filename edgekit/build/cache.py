"""What a build can decide before any framework is imported: the quick cache check and cleanup.

An unchanged rebuild must not cost a TensorFlow import, a model load and a re-verification
(~12 s for the digits example). The *input key* of a target is a sha256 over everything the
user gave, read as bytes: the source file(s), the calibration and evaluation files, the
target's options and thresholds, the drift settings, and the versions of edgekit, Python and
every installed framework/runtime distribution (from package metadata, not imports). A built
artifact records its input key; when every requested target's recorded key matches and its
file still has its recorded sha256, the build is answered from the manifest. Anything this cannot
hash (a ``module:function`` source or generator, whose output is only known by running it) never
takes this path, and any doubt falls back to the full build, whose own content key still reuses
unchanged artifacts.

Also here: removing what killed builds left behind (``.tmp-PID-*`` files in the output
directory, ``edgekit-verify-PID-*`` directories in TMPDIR) when their owner process is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from typing import Any

from edgekit import __version__
from edgekit.harness.lifetime import pid_alive  # stdlib only: one liveness rule for every pid-named leftover

# Distributions whose version changes a converted or verified artifact.
VERSIONED_DISTRIBUTIONS = (
    "tensorflow",
    "tensorflow-cpu",
    "tf-keras",
    "keras",
    "ai-edge-litert",
    "tflite-runtime",
    "torch",
    "executorch",
    "torchao",
    "numpy",
    "pillow",
    "coremltools",
    "onnx",
    "onnxruntime",
)
LEGACY_TMP_AGE_S = 3600.0  # ".tmp-*" names without a pid (older edgekit): removed after an hour
_TMP_RE = re.compile(r"^\.tmp-(\d+)-")


def versions() -> dict:
    """Installed versions of the distributions that decide an artifact (metadata only, fast)."""
    from importlib import metadata

    out = {"edgekit": __version__, "python": sys.version.split()[0]}
    for dist in VERSIONED_DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    out["toolchains"] = toolchain_keys()
    return out


def toolchain_keys() -> dict:
    """Each converter toolchain's pin-set key (and the interpreter overriding it): a converter
    that runs outside this environment (onnx2tf) changes artifacts without changing its versions."""
    try:
        from edgekit.toolchains import TOOLCHAINS, env_key, get
    except ImportError:
        return {}
    keys = {}
    for name in TOOLCHAINS.names():
        try:
            keys[name] = [env_key(name), os.environ.get(get(name).env_var)]
        except Exception:  # a toolchain whose lock cannot be read: the full path decides
            keys[name] = None
    return keys


def _hash_ref(path: str | None, spec) -> str | None:
    """sha256 of a file or directory given by path; None when it cannot be hashed without running code."""
    from edgekit.sources import FACTORY_RE, hash_path

    if path is None:
        return ""
    resolved = spec.resolve(path)
    if FACTORY_RE.match(path) and not os.path.exists(resolved):
        return None
    if not os.path.exists(resolved):
        return None
    return hash_path(resolved)


def _data_key(d, spec) -> Any:
    """A DataSpec's settings plus the bytes of its file/folder; None for generators."""
    from edgekit.build.spec import _data_dict

    if d is None:
        return ""
    if d.generator:
        return None
    content = _hash_ref(d.path, spec) if d.path else ""
    if content is None:
        return None
    return {"settings": _data_dict(d), "content": content}


def input_keys(spec, env_versions: dict | None = None) -> dict[str, str] | None:
    """{target: input key} for every target of ``spec``, or None when the spec cannot be keyed
    from bytes alone (factory source, generator data)."""
    source = _hash_ref(spec.source, spec)
    cal, ev = _data_key(spec.calibration, spec), _data_key(spec.evaluation, spec)
    if source is None or cal is None or ev is None:
        return None
    common = {
        "source": source,
        "source_kind": spec.source_kind,
        **({"source_args": dict(spec.source_args)} if getattr(spec, "source_args", None) else {}),
        "inputs": [i.to_dict() for i in spec.inputs] if spec.inputs else None,
        "calibration": cal,
        "evaluation": ev,
        "drift": dict(getattr(spec, "drift", {}) or {}),
        "output_kinds": dict(getattr(spec, "output_kinds", {}) or {}),
        "versions": env_versions if env_versions is not None else versions(),
    }
    out = {}
    for t in spec.targets:
        doc = {**common, "target": t, "options": spec.options.get(t, {}), "thresholds": spec.thresholds_for(t)}
        out[t] = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
    return out


def sweep_outdir(outdir: str, started: float | None = None) -> list[str]:
    """Remove ``.tmp-PID-*`` files whose owner process is gone (a killed build's half-written
    artifacts), and pid-less ``.tmp-*`` of older versions last touched over an hour before
    ``started``. Returns the names removed. Files of running processes are never touched."""
    started = time.time() if started is None else started
    removed: list[str] = []
    try:
        names = os.listdir(outdir)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(".tmp-"):
            continue
        path = os.path.join(outdir, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        m = _TMP_RE.match(name)
        if m:
            stale = not pid_alive(int(m.group(1)))
        else:
            stale = st.st_mtime < started - LEGACY_TMP_AGE_S
        if stale and getattr(os, "getuid", lambda: st.st_uid)() == st.st_uid:
            try:
                os.unlink(path)
                removed.append(name)
            except OSError:
                pass
    return removed
