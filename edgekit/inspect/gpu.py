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
            rest = line[len(WARNING):].strip()
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


def run_analyzer(path: str) -> str:
    """The analyzer's full text for ``path``. It prints (Python print of a C++ string): captured at
    the file-descriptor level, together with anything the native side writes."""
    from edgekit.targets.base import capture_native_output

    tf = _import_tf()
    with capture_native_output() as cap:
        tf.lite.experimental.Analyzer.analyze(model_path=path, gpu_compatibility=True)
    return cap.text


def canary_model() -> bytes:
    """A valid one-op .tflite whose op is a custom op the GPU delegate cannot know."""
    import flatbuffers
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


_ANALYZER_WORKS: bool | None = None


def analyzer_checks() -> bool:
    """Does this TensorFlow's analyzer really check GPU compatibility? (the canary must be flagged)"""
    global _ANALYZER_WORKS
    if _ANALYZER_WORKS is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "canary.tflite")
            with open(path, "wb") as f:
                f.write(canary_model())
            report = parse(run_analyzer(path))
        _ANALYZER_WORKS = any(o.name == CANARY_OP and not o.compatible for o in report.ops)
    return _ANALYZER_WORKS


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


def check(path: str) -> GpuCheck:
    """Per-op GPU delegate compatibility of ``path`` from TensorFlow Lite's analyzer."""
    from edgekit.inspect import load_tflite

    load_tflite(path)  # a missing or broken file is a one-line error before TensorFlow loads
    tf = _import_tf()
    if not analyzer_checks():
        raise EnvironmentMissing(
            f"the model analyzer of TensorFlow {tf.__version__} does not check GPU compatibility "
            f"(it passes a custom op the GPU delegate never takes, so its verdict would be 'all compatible' for any model)",
            "run the check with a TensorFlow whose analyzer still checks (tensorflow-cpu 2.19 was seen to), "
            "e.g. in its own venv: pip install tensorflow-cpu==2.19.0 edgekit",
        )
    text = run_analyzer(path)
    report = parse(text)
    if not report.ops and "Failed to mmap" in text:
        raise EdgekitError(f"TensorFlow's analyzer cannot read {path}", "check that the file is a complete .tflite")
    verify(report)
    notes = []
    if any(o.name == "edgetpu-custom-op" for o in report.ops):
        notes.append("compiled for the Edge TPU: its edgetpu-custom-op runs only through libedgetpu; check the CPU model")
    return GpuCheck(path, f"tensorflow {tf.__version__}", report.ops, notes)


def report_field(path: str) -> dict | None:
    """The optional ``gpu`` field for reports: the check's dict, or None where it cannot run here."""
    try:
        return check(path).to_dict()
    except (EnvironmentMissing, EdgekitError):
        return None
