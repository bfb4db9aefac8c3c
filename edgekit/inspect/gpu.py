"""GPU delegate readiness of a .tflite: per op, whether the TFLite GPU delegate takes it.

The verdict comes from TensorFlow Lite's own analyzer (``tf.lite.experimental.Analyzer.analyze(
..., gpu_compatibility=True)``), which runs the delegate's compatibility rules
(gpu_compatibility.cc) offline. Its report is text on stdout: one ``Op#N NAME(...)`` line per op,
followed by ``GPU COMPATIBILITY WARNING: <reason>`` when the op is incompatible, and per subgraph
``... has GPU delegate compatibility issues at nodes 0, 1, 2 ...``. That text is parsed here,
and the per-op warnings are checked against the analyzer's own node list.

Measured trap: the analyzer shipped with TensorFlow 2.21 (LiteRT) no longer calls the checker.
It prints "Your model looks compatible with GPU delegate" for every model, even for Flex ops and
the Edge TPU's custom op that the delegate never takes (TensorFlow's own analyzer test expects
"Not supported custom op FlexAddV2"). So before trusting a verdict, the analyzer is run once on a
canary model made of one custom op: an analyzer that passes the canary does not check, and
``check`` raises EnvironmentMissing instead of reporting a false "all compatible".

The analyzer of TensorFlow 2.16.2 does check (measured on the 28 shared Coral models: e.g.
deeplabv3 71 of 72 ops, ARG_MAX "Not supported op"). Such a TensorFlow can live in a venv of its
own: ``analyzer_python`` (``--analyzer-python``, ``EDGEKIT_GPU_ANALYZER_PYTHON``) runs the analyzer
with that interpreter in a subprocess, which needs nothing but TensorFlow there.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import asdict, dataclass, field

from edgekit.errors import EdgekitError, EnvironmentMissing

OP_RE = re.compile(r"^\s+Op#(\d+) (.+?)\((.*)\) -> \[(.*)\]\s*$")
SUBGRAPH_RE = re.compile(r"^Subgraph#(\d+)\b")
WARNING = "GPU COMPATIBILITY WARNING: "
NODES_RE = re.compile(r"Subgraph#(\d+) has GPU delegate compatibility issues at nodes ([\d, ]+)")
COMPATIBLE_RE = re.compile(r"Your model looks compatib\w* with GPU delegate")
CANARY_OP = "EdgekitGpuCanary"
TF_HINT = "install TensorFlow: pip install 'edgekit[tf]'"
ENV_PYTHON = "EDGEKIT_GPU_ANALYZER_PYTHON"
CHECKING_TF = "2.16.2"  # the newest TensorFlow whose analyzer was seen to run the GPU checker
OLD_TF_HINT = (
    f"make a venv with a TensorFlow whose analyzer checks (python3 -m venv tf-gpu-check && "
    f"tf-gpu-check/bin/pip install tensorflow-cpu=={CHECKING_TF}) and pass --analyzer-python "
    f"tf-gpu-check/bin/python (or set {ENV_PYTHON})"
)
# Run by another interpreter: analyze each path, print the texts between markers. TensorFlow only.
SNIPPET = r"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
for path in sys.argv[1:]:
    print("\n@@edgekit-analyzer-begin@@ " + tf.__version__, flush=True)
    tf.lite.experimental.Analyzer.analyze(model_path=path, gpu_compatibility=True)
    print("\n@@edgekit-analyzer-end@@", flush=True)
"""


@dataclass
class GpuOp:
    subgraph: int
    index: int
    name: str
    compatible: bool
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GpuReport:
    """What the analyzer said, parsed: per-op verdicts and its own summary lines."""

    ops: list[GpuOp]
    flagged_nodes: dict[int, list[int]]  # subgraph -> nodes, from the analyzer's summary line
    says_compatible: bool  # the analyzer's closing "looks compatible" line was present

    @property
    def incompatible(self) -> list[GpuOp]:
        return [o for o in self.ops if not o.compatible]


@dataclass
class GpuCheck:
    path: str
    analyzer: str  # "tensorflow 2.x.y"
    ops: list[GpuOp]
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.ops)

    @property
    def compatible_count(self) -> int:
        return sum(1 for o in self.ops if o.compatible)

    @property
    def incompatible(self) -> list[GpuOp]:
        return [o for o in self.ops if not o.compatible]

    @property
    def fully_compatible(self) -> bool:
        return self.total > 0 and not self.incompatible

    def summary(self) -> str:
        text = f"{self.compatible_count} of {self.total} ops GPU-delegate compatible"
        if self.fully_compatible:
            return text + ": the GPU delegate can take the whole graph (runtime limits may still apply)"
        names = sorted({o.name for o in self.incompatible})
        return text + f"; incompatible: {', '.join(names)} (those parts run on the CPU, with copies between)"

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "analyzer": self.analyzer,
            "summary": self.summary(),
            "ops": self.total,
            "compatible_ops": self.compatible_count,
            "incompatible_ops": len(self.incompatible),
            "fully_compatible": self.fully_compatible,
            "incompatible": [o.to_dict() for o in self.incompatible],
            "notes": list(self.notes),
            "per_op": [o.to_dict() for o in self.ops],
        }


def parse(text: str) -> GpuReport:
    """The analyzer's text -> per-op verdicts. A warning line belongs to the op line above it."""
    ops: list[GpuOp] = []
    flagged: dict[int, list[int]] = {}
    subgraph = -1
    current: GpuOp | None = None
    for line in text.splitlines():
        m = SUBGRAPH_RE.match(line)
        if m and " has GPU delegate" not in line:
            subgraph, current = int(m.group(1)), None
            continue
        m = OP_RE.match(line)
        if m and subgraph >= 0:
            current = GpuOp(subgraph, int(m.group(1)), m.group(2), True)
            ops.append(current)
            continue
        if line.startswith(WARNING):
            rest = line[len(WARNING) :].strip()
            nodes = NODES_RE.search(rest)
            if nodes:
                flagged[int(nodes.group(1))] = [int(n) for n in nodes.group(2).replace(" ", "").split(",") if n]
                current = None
            elif current is not None:
                current.compatible = False
                current.reason = rest if current.reason is None else f"{current.reason}; {rest}"
            continue
        if line.startswith("Tensors of "):
            current = None
    return GpuReport(ops, flagged, bool(COMPATIBLE_RE.search(text)))


def _import_tf():
    """TensorFlow, imported with its start-up lines (absl, oneDNN) kept off the user's terminal."""
    from edgekit.targets.base import capture_native_output

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    failure = None
    with capture_native_output():
        try:
            import tensorflow as tf
        except ImportError as exc:
            failure = exc
    if failure is not None:
        raise EnvironmentMissing(f"the GPU check needs TensorFlow's model analyzer ({failure})", TF_HINT)
    return tf


def run_analyzer(path: str, python: str | None = None) -> str:
    """The analyzer's full text for ``path``. It prints (Python print of a C++ string): captured at
    the file-descriptor level, together with anything the native side writes. With ``python``,
    another interpreter runs it (see the module docstring)."""
    if python:
        return _run_elsewhere(python, [path])[1][0]
    from edgekit.targets.base import capture_native_output

    tf = _import_tf()
    with capture_native_output() as cap:
        tf.lite.experimental.Analyzer.analyze(model_path=path, gpu_compatibility=True)
    return cap.text


def _run_elsewhere(python: str, paths: list[str]) -> tuple[str, list[str]]:
    """(TensorFlow version, one analyzer text per path) from ``python`` running SNIPPET."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}  # its own venv only
    try:
        proc = subprocess.run([python, "-c", SNIPPET, *paths], capture_output=True, text=True, timeout=600, env=env)
    except OSError as exc:
        raise EnvironmentMissing(
            f"cannot run the analyzer python {python} ({exc.strerror})", "give the path of a python with TensorFlow installed"
        ) from None
    except subprocess.TimeoutExpired:
        raise EnvironmentMissing(f"the analyzer python {python} did not finish in 600 s", "try it by hand") from None
    parts = proc.stdout.split("@@edgekit-analyzer-begin@@ ")[1:]
    if proc.returncode != 0 or len(parts) != len(paths):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise EnvironmentMissing(
            f"the analyzer python {python} failed ({last})", f"check that it has TensorFlow: {python} -c 'import tensorflow'"
        )
    version = parts[0].split("\n", 1)[0].strip()
    return version, [p.split("\n", 1)[1].split("@@edgekit-analyzer-end@@")[0] for p in parts]


def canary_model() -> bytes:
    """A valid one-op .tflite whose op is a custom op the GPU delegate cannot know."""
    import flatbuffers

    try:  # the same generated schema ships in both; LiteRT's imports in a fraction of a second
        from ai_edge_litert import schema_py_generated as fb
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as fb

    code = fb.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.CUSTOM
    code.customCode = CANARY_OP
    code.version = 1
    tensors = []
    for i in range(2):
        t = fb.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 4], fb.TensorType.FLOAT32, 0, f"t{i}"
        tensors.append(t)
    op = fb.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    sg = fb.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = tensors, [0], [1], [op], "main"
    model = fb.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [sg], [fb.BufferT()]
    model.description = "edgekit GPU analyzer canary"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


_ANALYZER_WORKS: dict[str, bool] = {}


def canary_flagged(text: str) -> bool:
    return any(o.name == CANARY_OP and not o.compatible for o in parse(text).ops)


def analyzer_checks(python: str | None = None) -> bool:
    """Does this TensorFlow's analyzer really check GPU compatibility? (the canary must be flagged)"""
    key = python or ""
    if key not in _ANALYZER_WORKS:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "canary.tflite")
            with open(path, "wb") as f:
                f.write(canary_model())
            _ANALYZER_WORKS[key] = canary_flagged(run_analyzer(path, python))
    return _ANALYZER_WORKS[key]


def verify(report: GpuReport) -> None:
    """The per-op warnings must agree with the analyzer's own summary lines, or the parse is wrong."""
    by_sg: dict[int, list[int]] = {}
    for o in report.incompatible:
        by_sg.setdefault(o.subgraph, []).append(o.index)
    if by_sg != report.flagged_nodes or (report.says_compatible and by_sg):
        raise EdgekitError(
            f"edgekit could not read the analyzer's report (per-op warnings {by_sg}, summary {report.flagged_nodes})",
            "report this with the analyzer's output (edgekit gpu check --raw MODEL)",
        )


def check(path: str, python: str | None = None) -> GpuCheck:
    """Per-op GPU delegate compatibility of ``path`` from TensorFlow Lite's analyzer (of ``python``,
    else of ``$EDGEKIT_GPU_ANALYZER_PYTHON``, else of the TensorFlow installed here)."""
    from edgekit.inspect import load_tflite

    load_tflite(path)  # a missing or broken file is a one-line error before TensorFlow loads
    python = python or os.environ.get(ENV_PYTHON) or None
    if python:
        with tempfile.TemporaryDirectory() as tmp:
            canary = os.path.join(tmp, "canary.tflite")
            with open(canary, "wb") as f:
                f.write(canary_model())
            version, (canary_text, text) = _run_elsewhere(python, [canary, os.path.abspath(path)])
        works = canary_flagged(canary_text)
    else:
        version, works = _import_tf().__version__, analyzer_checks()
        text = run_analyzer(path) if works else ""
    if not works:
        raise EnvironmentMissing(
            f"the model analyzer of TensorFlow {version} does not check GPU compatibility "
            f"(it passes a custom op the GPU delegate never takes: its verdict would be 'all compatible' for any model)",
            OLD_TF_HINT,
        )
    report = parse(text)
    if not report.ops and "Failed to mmap" in text:
        raise EdgekitError(f"TensorFlow's analyzer cannot read {path}", "check that the file is a complete .tflite")
    verify(report)
    notes = []
    if any(o.name == "edgetpu-custom-op" for o in report.ops):
        notes.append("compiled for the Edge TPU: its edgetpu-custom-op runs only through libedgetpu; check the CPU model")
    return GpuCheck(path, f"tensorflow {version}" + (f" ({python})" if python else ""), report.ops, notes)


def report_field(path: str, python: str | None = None) -> dict:
    """The optional ``gpu`` field for reports: the check's dict, or why it could not run here
    (``{"available": false, "reason": ...}``), never an unchecked "compatible"."""
    try:
        return {"available": True, **check(path, python).to_dict()}
    except EdgekitError as exc:
        return {"available": False, "reason": exc.message, "hint": exc.hint}
