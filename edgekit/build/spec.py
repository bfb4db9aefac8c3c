"""``edgekit.toml`` <-> a BuildSpec dataclass, validated with one clear error per mistake.

Example (every key also has a flag on ``edgekit build``)::

    source = "digits_cnn.keras"          # or "pkg.module:function", or a SavedModel directory
    targets = ["tflite-fp32", "tflite-int8"]
    outdir = "out"

    [source]                             # the table form: path (or factory), kind, args
    path = "vad.jit"                     # a TorchScript file whose forward(x, sr: int) takes a constant
    args = { sr = 16000 }                # non-tensor forward() arguments (--arg sr=16000)

    [[inputs]]                           # optional when the model states fixed shapes
    name = "pixels"
    shape = [1, 8, 8, 1]

    [calibration]                        # path = .npy/.npz/image folder | generator | random = true
    path = "digits.npz"
    count = 200                          # calibration samples
    eval_count = 200                     # held-out samples for the drift check (never calibrated on)
    [calibration.preprocess]             # image folders only
    scale = "0,1"                        # 0,1 | -1,1 | 0,255, then optional mean/std
    channel_order = "rgb"

    [thresholds]                         # every target; see edgekit.build.accuracy.THRESHOLDS
    min_cosine = 0.98

    [drift]                              # sanity verdict without thresholds (defaults shown)
    fail_below = 0.5                     # cosine below this: the artifact is failed
    warn_below = 0.9                     # cosine below this: built with a warning

    [output_kinds]                       # optional: what an output holds, when the guess is wrong
    embedding = "embedding"              # output name -> classification | embedding | dense | values

    [options.tflite-int8]                # one target's options, and its own thresholds
    io_dtype = "int8"
    thresholds = { max_accuracy_drop = 1.0 }

Relative paths are relative to the spec file's directory.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields, replace
from typing import Any

from edgekit.build.calibration import DataSpec, Preprocess
from edgekit.errors import EdgekitError
from edgekit.sources import FACTORY_RE, InputSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_OUTDIR = "out"
TOP_KEYS = {
    "source",
    "source_kind",
    "targets",
    "outdir",
    "inputs",
    "calibration",
    "evaluation",
    "thresholds",
    "options",
    "drift",
    "output_kinds",
}
DRIFT_KEYS = ("fail_below", "warn_below", "snr_fail_below_db", "snr_warn_below_db")
COSINE_KEYS = ("fail_below", "warn_below")


@dataclass
class BuildSpec:
    source: str | None = None
    source_kind: str | None = None
    source_args: dict[str, Any] = field(default_factory=dict)  # constant forward() arguments (TorchScript)
    targets: list[str] = field(default_factory=list)
    outdir: str = DEFAULT_OUTDIR
    inputs: list[InputSpec] | None = None
    calibration: DataSpec | None = None
    evaluation: DataSpec | None = None  # a separate held-out set; else split from calibration
    thresholds: dict[str, float] = field(default_factory=dict)
    options: dict[str, dict] = field(default_factory=dict)  # per target, without "thresholds"
    target_thresholds: dict[str, dict] = field(default_factory=dict)
    drift: dict[str, float] = field(default_factory=dict)  # fail_below / warn_below (accuracy.sanity)
    output_kinds: dict[str, str] = field(default_factory=dict)  # output name -> kind
    explain: bool = False  # --explain: record a per-layer quantization report for quantized targets
    base_dir: str = "."  # where relative paths start (the spec file's directory)

    def resolve(self, path: str | None) -> str | None:
        if (
            path is None
            or os.path.isabs(path)
            or FACTORY_RE.match(path)
            and not os.path.exists(os.path.join(self.base_dir, path))
        ):
            return path
        return os.path.normpath(os.path.join(self.base_dir, path))

    def thresholds_for(self, target: str) -> dict:
        return {**self.thresholds, **self.target_thresholds.get(target, {})}

    def to_dict(self) -> dict:
        """What the manifest records about the build settings (paths as given)."""
        return {
            "source": self.source,
            "source_kind": self.source_kind,
            **({"source_args": dict(self.source_args)} if self.source_args else {}),
            "targets": list(self.targets),
            "inputs": [i.to_dict() for i in self.inputs] if self.inputs else None,
            "calibration": _data_dict(self.calibration),
            "evaluation": _data_dict(self.evaluation),
            "thresholds": dict(self.thresholds),
            "options": {k: dict(v) for k, v in self.options.items()},
            "target_thresholds": {k: dict(v) for k, v in self.target_thresholds.items()},
            "drift": self.drift_limits(),
            "output_kinds": dict(self.output_kinds),
        }

    def drift_limits(self) -> dict:
        """The sanity floors and warning levels in force (defaults from edgekit.build.accuracy):
        cosine for every output, SNR (dB) for outputs with very few values per sample."""
        from edgekit.build.accuracy import FAIL_COSINE, FAIL_SNR_DB, WARN_COSINE, WARN_SNR_DB

        return {
            "fail_below": self.drift.get("fail_below", FAIL_COSINE),
            "warn_below": self.drift.get("warn_below", WARN_COSINE),
            "snr_fail_below_db": self.drift.get("snr_fail_below_db", FAIL_SNR_DB),
            "snr_warn_below_db": self.drift.get("snr_warn_below_db", WARN_SNR_DB),
        }


def _data_dict(d: DataSpec | None) -> dict | None:
    if d is None:
        return None
    out = {f.name: getattr(d, f.name) for f in fields(d) if f.name != "preprocess"}
    out["preprocess"] = {f.name: getattr(d.preprocess, f.name) for f in fields(d.preprocess)}
    return out


def _err(where: str, what: str, hint: str) -> EdgekitError:
    return EdgekitError(f"{where}: {what}", hint)


def _typed(where: str, key: str, value: Any, kind: type | tuple) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _err(where, f"{key} must be {names}, not {type(value).__name__}", f"fix {key} in the spec")
    return value


def source_args(where: str, raw: Any) -> dict:
    """``{sr = 16000}``: constant values for forward()'s non-tensor arguments. Only scalars; the
    source's loader converts each to the type its signature states."""
    if not isinstance(raw, dict):
        raise _err(where, "args must be a table", "write [source] args = {sr = 16000}")
    for k, v in raw.items():
        if not isinstance(v, (bool, int, float, str)):
            raise _err(where, f"argument {k!r} is a {type(v).__name__}", "give an int, float, bool or string")
    return dict(raw)


def parse_arg(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` (the --arg flag); the value stays text until the signature types it."""
    name, eq, value = text.partition("=")
    if not eq or not name.strip().isidentifier():
        raise EdgekitError(f"bad --arg {text!r}", "write --arg NAME=VALUE, e.g. --arg sr=16000")
    return name.strip(), value.strip()


def parse_input_shape(text: str) -> InputSpec:
    """``NAME=1,224,224,3`` or ``1,224,224,3`` (flag syntax)."""
    name, _, dims = text.rpartition("=")
    try:
        shape = [int(d) for d in dims.replace("x", ",").split(",") if d.strip()]
    except ValueError:
        raise EdgekitError(f"bad input shape {text!r}", "write NAME=1,224,224,3") from None
    if not shape or any(d < 1 for d in shape):
        raise EdgekitError(f"bad input shape {text!r}", "dimensions are positive integers: NAME=1,224,224,3")
    return InputSpec(name or "", shape)


def _inputs(where: str, raw: Any) -> list[InputSpec]:
    if not isinstance(raw, list):
        raise _err(where, "inputs must be an array of tables ([[inputs]])", "see docs/build.md")
    out = []
    for i, item in enumerate(raw):
        w = f"{where} inputs[{i}]"
        if not isinstance(item, dict):
            raise _err(w, "must be a table with name and shape", "write [[inputs]] name = ..., shape = [...]")
        unknown = set(item) - {"name", "shape", "dtype"}
        if unknown:
            raise _err(w, f"unknown key {sorted(unknown)[0]!r}", "inputs take name, shape, dtype")
        shape = _typed(w, "shape", item.get("shape"), list)
        if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
            raise _err(w, f"shape {shape} must be positive integers", "e.g. shape = [1, 224, 224, 3]")
        out.append(InputSpec(str(item.get("name", "")), list(shape), str(item.get("dtype", "float32"))))
    return out


def _data(where: str, raw: Any) -> DataSpec:
    if not isinstance(raw, dict):
        raise _err(where, "must be a table", "write [calibration] path = ...")
    allowed = {f.name for f in fields(DataSpec)}
    unknown = set(raw) - allowed
    if unknown:
        raise _err(where, f"unknown key {sorted(unknown)[0]!r}", f"keys: {', '.join(sorted(allowed))}")
    kwargs: dict[str, Any] = {}
    for key in ("path", "generator"):
        if key in raw:
            kwargs[key] = _typed(where, key, raw[key], str)
    if "random" in raw:
        kwargs["random"] = _typed(where, "random", raw["random"], bool)
    for key in ("count", "eval_count", "seed"):
        if key in raw:
            kwargs[key] = _typed(where, key, raw[key], int)
    if "preprocess" in raw:
        pre = raw["preprocess"]
        if not isinstance(pre, dict):
            raise _err(where, "preprocess must be a table", "write [calibration.preprocess]")
        pallowed = {f.name for f in fields(Preprocess)}
        bad = set(pre) - pallowed
        if bad:
            raise _err(where, f"unknown preprocess key {sorted(bad)[0]!r}", f"keys: {', '.join(sorted(pallowed))}")
        p = Preprocess(**pre)
        p.validate()
        kwargs["preprocess"] = p
    return DataSpec(**kwargs)


def _thresholds(where: str, raw: Any) -> dict:
    from edgekit.build.accuracy import THRESHOLDS

    if not isinstance(raw, dict):
        raise _err(where, "thresholds must be a table", "write [thresholds] min_cosine = 0.99")
    for k, v in raw.items():
        if k not in THRESHOLDS:
            raise _err(where, f"unknown threshold {k!r}", f"choose from: {', '.join(THRESHOLDS)}")
        _typed(where, k, v, (int, float))
    return {k: float(v) for k, v in raw.items()}


def _drift(where: str, raw: Any) -> dict:
    if not isinstance(raw, dict):
        raise _err(where, "[drift] must be a table", "write [drift] fail_below = 0.5")
    for k, v in raw.items():
        if k not in DRIFT_KEYS:
            raise _err(where, f"unknown [drift] key {k!r}", f"keys: {', '.join(DRIFT_KEYS)}")
        _typed(where, k, v, (int, float))
        if k in COSINE_KEYS and not 0 <= float(v) <= 1:
            raise _err(where, f"[drift] {k} = {v} is not a cosine between 0 and 1", "e.g. fail_below = 0.5")
    out = {k: float(v) for k, v in raw.items()}
    if out.get("fail_below", 0) > out.get("warn_below", 1):
        raise _err(where, "[drift] fail_below is above warn_below", "the floor must not exceed the warning level")
    if out.get("snr_fail_below_db", -1e9) > out.get("snr_warn_below_db", 1e9):
        raise _err(where, "[drift] snr_fail_below_db is above snr_warn_below_db", "the floor must not exceed the warning level")
    return out


def _output_kinds(where: str, raw: Any) -> dict:
    from edgekit.build.accuracy import OUTPUT_KINDS

    if not isinstance(raw, dict):
        raise _err(where, "[output_kinds] must be a table", 'write [output_kinds] NAME = "embedding"')
    for k, v in raw.items():
        if v not in OUTPUT_KINDS:
            raise _err(where, f"output kind {v!r} of {k!r} is unknown", f"choose one of: {', '.join(OUTPUT_KINDS)}")
    return {str(k): str(v) for k, v in raw.items()}


def from_dict(data: dict, where: str = "edgekit.toml", base_dir: str = ".") -> BuildSpec:
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise _err(where, f"unknown key {sorted(unknown)[0]!r}", f"keys: {', '.join(sorted(TOP_KEYS))}")
    spec = BuildSpec(base_dir=base_dir)
    src = data.get("source")
    if isinstance(src, dict):
        bad = set(src) - {"path", "factory", "kind", "args"}
        if bad:
            raise _err(where, f"unknown [source] key {sorted(bad)[0]!r}", "use path (or factory), kind and args")
        spec.source = src.get("path") or src.get("factory")
        spec.source_kind = src.get("kind")
        if "args" in src:
            spec.source_args = source_args(f"{where} [source] args", src["args"])
    elif src is not None:
        spec.source = _typed(where, "source", src, str)
    if "source_kind" in data:
        spec.source_kind = _typed(where, "source_kind", data["source_kind"], str)
    if "targets" in data:
        targets = _typed(where, "targets", data["targets"], list)
        if not all(isinstance(t, str) for t in targets):
            raise _err(where, "targets must be names", 'e.g. targets = ["tflite-fp32"]')
        spec.targets = list(targets)
    if "outdir" in data:
        spec.outdir = _typed(where, "outdir", data["outdir"], str)
    if "inputs" in data:
        spec.inputs = _inputs(where, data["inputs"])
    if "calibration" in data:
        spec.calibration = _data(f"{where} [calibration]", data["calibration"])
    if "evaluation" in data:
        spec.evaluation = _data(f"{where} [evaluation]", data["evaluation"])
    if "thresholds" in data:
        spec.thresholds = _thresholds(where, data["thresholds"])
    if "drift" in data:
        spec.drift = _drift(where, data["drift"])
    if "output_kinds" in data:
        spec.output_kinds = _output_kinds(where, data["output_kinds"])
    for target, opts in (data.get("options") or {}).items():
        if not isinstance(opts, dict):
            raise _err(where, f"[options.{target}] must be a table", "write [options.NAME] key = value")
        opts = dict(opts)
        if "thresholds" in opts:
            spec.target_thresholds[target] = _thresholds(f"{where} [options.{target}]", opts.pop("thresholds"))
        spec.options[target] = opts
    return spec


def load_spec(path: str) -> BuildSpec:
    if not os.path.exists(path):
        raise EdgekitError(f"no such build spec: {path}", "give an edgekit.toml path, or pass --source and --target")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise EdgekitError(f"{path} is not valid TOML ({exc})", "fix the syntax") from None
    return from_dict(data, os.path.basename(path), os.path.dirname(os.path.abspath(path)))


def with_overrides(spec: BuildSpec, **overrides: Any) -> BuildSpec:
    """Flags win over the file; None means 'not given on the command line'."""
    return replace(spec, **{k: v for k, v in overrides.items() if v is not None})


def validate(spec: BuildSpec) -> None:
    """What must hold before anything is loaded (targets exist, options belong to chosen targets)."""
    from edgekit.targets import TARGETS

    if not spec.source:
        raise EdgekitError("no source model given", "pass --source MODEL or set source in edgekit.toml")
    if not spec.targets:
        raise EdgekitError("no targets given", f"pass --target NAME (one of: {', '.join(TARGETS.names())})")
    for t in spec.targets:
        if t not in TARGETS:
            raise EdgekitError(f"unknown target {t!r}", f"choose from: {', '.join(TARGETS.names())}")
    if len(set(spec.targets)) != len(spec.targets):
        raise EdgekitError("a target is listed twice", "list each target once")
    for t in list(spec.options) + list(spec.target_thresholds):
        # options for a known target that is not selected this time are fine (-t picks a subset)
        if t not in TARGETS:
            raise EdgekitError(f"options given for unknown target {t!r}", f"choose from: {', '.join(TARGETS.names())}")


def _check_data_path(what: str, flag: str, path: str | None) -> None:
    if not path:
        return
    if not os.path.exists(path):
        raise EdgekitError(f"no such {what}: {path}", f"check {flag} (a .npy/.npz file, an image folder or module:function)")
    if os.path.isdir(path):
        if not os.access(path, os.R_OK | os.X_OK):
            raise EdgekitError(f"cannot read the {what} folder {path} (permission denied)", "make it readable")
        return
    if not path.lower().endswith((".npy", ".npz")):
        raise EdgekitError(
            f"cannot read {what} from {path}", f"{flag} takes a .npy/.npz file, an image folder or module:function"
        )
    if not os.access(path, os.R_OK):
        raise EdgekitError(f"cannot read the {what} {path} (permission denied)", "make it readable")


def sample_count(path: str) -> int | None:
    """How many samples a data file or image folder holds, read cheaply (array headers, file
    names); None when it cannot tell without loading (the loader then reports)."""
    from edgekit.build.calibration import image_files

    try:
        if os.path.isdir(path):
            return len(image_files(path)[0])
        import numpy as np

        if path.lower().endswith(".npy"):
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            return int(arr.shape[0]) if arr.ndim else 1
        with np.load(path, allow_pickle=False) as z:
            counts = [int(z[k].shape[0]) if z[k].ndim else 1 for k in z.files]
        return min(counts) if counts else 0
    except Exception:
        return None


def validate_paths(spec: BuildSpec) -> None:
    """Every path and count of the spec, checked before a framework is imported: a typo must not
    cost a TensorFlow start-up (6.5 s) before it is reported."""
    src = spec.resolve(spec.source)
    if src and not (FACTORY_RE.match(spec.source or "") and not os.path.exists(src)):
        if not os.path.exists(src):
            raise EdgekitError(f"no such model: {src}", "check --source / source in edgekit.toml")
        if not os.access(src, os.R_OK):
            raise EdgekitError(f"cannot read the model {src} (permission denied)", "make it readable")
    for d, what, flag in (
        (spec.calibration, "calibration data", "--calibration"),
        (spec.evaluation, "evaluation data", "--evaluation"),
    ):
        if d is None:
            continue
        if d.count < 1 or d.eval_count < 0:
            raise EdgekitError(
                f"calibration count {d.count} / eval count {d.eval_count} are out of range",
                "give --calibration-count >= 1 and --eval-count >= 0",
            )
        _check_data_path(what, flag, spec.resolve(d.path) if d.path else None)
    cal = spec.calibration
    if cal is not None and cal.path and spec.evaluation is None and cal.eval_count > 0:
        n = sample_count(spec.resolve(cal.path))
        if n is not None and n < 2:
            raise EdgekitError(
                f"{spec.resolve(cal.path)} holds {n} sample(s): too few to split into calibration and held-out evaluation",
                "give at least 2 samples (100+ to calibrate, 50+ to evaluate), or a separate --evaluation set",
            )
    out = os.path.abspath(spec.resolve(spec.outdir) or DEFAULT_OUTDIR)
    import errno

    from edgekit.build.artifacts import MANIFEST_NAME, check_writable
    from edgekit.errors import os_error

    if os.path.lexists(out) and not os.path.isdir(out):
        raise os_error(FileExistsError(errno.EEXIST, "File exists", out), out)
    check_writable(os.path.join(out, MANIFEST_NAME))  # under a file, permissions, read-only: one line now
    from edgekit.targets import TARGETS

    for t in spec.targets:
        target = TARGETS.get(t)
        names = getattr(target, "option_names", None)
        unknown = sorted(set(spec.options.get(t, {})) - set(names or ())) if names is not None else []
        if unknown:
            raise EdgekitError(f"target {t} has no option {unknown[0]!r}", f"its options are: {', '.join(names) or 'none'}")
        if getattr(target, "needs_calibration", False) and spec.calibration is None:
            raise EdgekitError(
                f"target {t} needs calibration data",
                "pass --calibration FILE.npz|DIR|module:function, or --random-calibration (not representative)",
            )
