"""Predict where ``edgetpu_compiler`` 16 places every op, before (or without) compiling.

Users learn only after compiling, on an x86-64 Linux box, that half their graph fell back to the
CPU. This check reads the .tflite and applies the compiler's rules (edgetpu-ops.md R1..R8):

1. Per op, can it map at all? Custom op (R5), builtin not in the supported table (R5), a non-8-bit
   tensor (R1), a dynamic dimension (R2), a non-constant weight (R3), more than 3 dimensions larger
   than 1 (R4), an op version newer than compiler 16 knows (R7), or an op condition (fused
   activation, dilation, batch axis ...).
2. The compiler maps ONE contiguous segment from the input side (R6): the first op that cannot map
   ends it, and every later op runs on the CPU, supported or not. Input-side QUANTIZE/CAST from a
   float input do not end it: they stay on the CPU in front of the segment.
3. Parameter bytes of the mapped ops against ~8 MiB of on-chip memory (R8).

The prediction is checked against real compiled pairs in tests (tests/edgetpu/test_preflight.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from edgekit.edgetpu import rules
from edgekit.inspect.tflite_model import EDGETPU_CUSTOM_OP, OperatorInfo, SubgraphInfo, TFLiteModel

HINTS = {
    "R1": "the model is not fully integer quantized: build tflite-int8 with int8/uint8 inputs and outputs "
          "(every op, every activation 8-bit)",
    "R2": "fix every input shape at conversion (a concrete batch size, no None dimensions)",
    "R3": "make weights and biases constants (freeze the model before converting)",
    "R4": "keep tensors at most 3-D apart from leading 1s (fold extra dimensions with a reshape)",
    "R5": "this op never runs on the Edge TPU; replace it with a supported op or move it to the end of the graph",
    "R5-custom": "custom ops always run on the CPU; keep them at the end of the graph (post-processing)",
    "R5-cond": "change the op so it meets the Edge TPU's condition (see the reason)",
    "R5-resize": "upsample in smaller steps (x2 stages) or move the large resize to the end of the graph",
    "R6": "forced onto the CPU by an earlier op that could not map; fix that op to bring this one back",
    "R7": "the op version is newer than compiler 16 knows: convert with a TensorFlow <= 2.5 era converter "
          "or avoid the feature that raised the version",
}


@dataclass
class OpPrediction:
    index: int
    name: str
    version: int
    placement: str  # "tpu" or "cpu"
    rule: str | None = None  # R1..R8 when on the CPU
    reason: str = ""
    hint: str = ""
    blocked_by: int | None = None  # for R6: the op that ended the segment

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Preflight:
    path: str
    already_compiled: bool
    ops: list[OpPrediction]
    first_blocking: OpPrediction | None
    param_bytes_tpu: int
    problems: list[dict] = field(default_factory=list)  # model-level findings: {"rule", "message", "hint"}
    tail_only: bool = False  # CPU ops only at the end (post-processing): fine

    @property
    def tpu_ops(self) -> int:
        return sum(1 for o in self.ops if o.placement == "tpu")

    @property
    def cpu_ops(self) -> int:
        return sum(1 for o in self.ops if o.placement == "cpu")

    @property
    def off_chip_predicted(self) -> bool:
        return self.param_bytes_tpu > rules.ON_CHIP_BYTES

    @property
    def ready(self) -> bool:
        """Edge TPU ready: something maps and every compute op is mapped."""
        if self.tpu_ops == 0:
            return False
        return not any(o.placement == "cpu" and o.name in rules.COMPUTE_OPS for o in self.ops)

    def cpu_op_names(self) -> list[tuple[int, str]]:
        return [(o.index, o.name) for o in self.ops if o.placement == "cpu"]

    def summary(self) -> str:
        text = f"{self.tpu_ops} of {len(self.ops)} ops predicted on the Edge TPU, {self.cpu_ops} on the CPU"
        if self.first_blocking is not None:
            fb = self.first_blocking
            text += f"; first op that cannot map: #{fb.index} {fb.name} ({fb.rule}: {fb.reason})"
        return text

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "compiler": "edgetpu_compiler 16 (predicted)",
            "already_compiled": self.already_compiled,
            "ready": self.ready,
            "summary": self.summary(),
            "tpu_ops": self.tpu_ops,
            "cpu_ops": self.cpu_ops,
            "first_blocking": self.first_blocking.to_dict() if self.first_blocking else None,
            "tail_only": self.tail_only,
            "param_bytes_tpu": self.param_bytes_tpu,
            "on_chip_bytes": rules.ON_CHIP_BYTES,
            "off_chip_predicted": self.off_chip_predicted,
            "problems": self.problems,
            "ops": [o.to_dict() for o in self.ops],
        }


def _tensor_problem(sg: SubgraphInfo, op: OperatorInfo) -> tuple[str, str] | None:
    """(rule, reason) for the first tensor of ``op`` the Edge TPU cannot take, else None."""
    wide_ok = op.name in rules.WIDE_STATE_OK
    for pos, idx in enumerate(list(op.inputs) + list(op.outputs)):
        if idx < 0:
            continue
        t = sg.tensors[idx]
        is_output = pos >= len(op.inputs)
        if t.dynamic:
            return "R2", f"tensor {t.name!r} has a dynamic shape {t.shape_signature}"
        if t.is_constant:
            # int32 biases and int32/int64 shape/axis constants are part of a quantized op
            if t.dtype not in rules.EIGHT_BIT + ("int32", "int64"):
                return "R1", f"constant {t.name!r} is {t.dtype}"
            continue
        if t.dtype not in rules.EIGHT_BIT and not (wide_ok and t.dtype in ("int16", "int32")):
            where = "output" if is_output else "input"
            return "R1", f"{where} {t.name!r} is {t.dtype}, not 8-bit"
        shape = t.shape
        if len(shape) > 3 and any(d > 1 for d in shape[:-3]):
            return "R4", f"tensor {t.name!r} of shape {shape} has more than 3 dimensions larger than 1"
    return None


def _weights_problem(sg: SubgraphInfo, op: OperatorInfo) -> tuple[str, str] | None:
    """R3: weights and biases of the compute ops must be constants."""
    if op.name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"):
        return None
    # TRANSPOSE_CONV's inputs are (output_shape, weights, input[, bias]); the others (input, weights[, bias])
    bias_pos = 3 if op.name == "TRANSPOSE_CONV" else 2
    for pos, what in ((1, "weights"), (bias_pos, "bias")):
        idx = op.inputs[pos] if len(op.inputs) > pos else -1
        if idx >= 0 and not sg.tensors[idx].is_constant:
            return "R3", f"its {what} are not constants"
    return None


def classify_op(sg: SubgraphInfo, op: OperatorInfo) -> tuple[str, str, str] | None:
    """(rule, reason, hint key) when ``op`` cannot map on its own merits, else None."""
    if op.custom:
        return "R5", f"custom op {op.name!r} runs on the CPU", "R5-custom"
    if op.name not in rules.SUPPORTED:
        return "R5", f"{op.name} is not supported by the Edge TPU", "R5"
    known = rules.MAX_KNOWN_VERSION.get(op.name)
    if known is not None and op.version > known:
        return "R7", f"{op.name} version {op.version} is newer than compiler 16 knows (up to {known})", "R7"
    problem = _tensor_problem(sg, op) or _weights_problem(sg, op)
    if problem:
        return problem[0], problem[1], problem[0]
    check = rules.SUPPORTED[op.name]
    reason = check(sg, op) if check else None
    if reason:
        return "R5", f"{op.name} {reason}", "R5-resize" if op.name.startswith("RESIZE") else "R5-cond"
    return None


def _is_input_conversion(sg: SubgraphInfo, op: OperatorInfo) -> bool:
    """A QUANTIZE/CAST fed by a float graph input: stays on the CPU in front of the segment."""
    if op.name not in ("QUANTIZE", "CAST") or not op.inputs:
        return False
    src = sg.tensors[op.inputs[0]]
    return op.inputs[0] in sg.inputs and src.dtype not in rules.EIGHT_BIT


def predict(model: TFLiteModel) -> Preflight:
    """The predicted placement of every op in the model's first subgraph."""
    sg = model.main
    problems: list[dict] = []
    compiled = model.edgetpu_compiled
    if compiled:
        problems.append({
            "rule": None,
            "message": "the model is already compiled for the Edge TPU (it contains edgetpu-custom-op)",
            "hint": "run the check on the CPU model the compiler was given; the placement of this file is exact",
        })
    if len(model.subgraphs) > 1:
        problems.append({
            "rule": "R6",
            "message": f"the model has {len(model.subgraphs)} subgraphs; only the first is considered",
            "hint": "more than one subgraph is not supported: remove control flow (IF/WHILE) before converting",
        })
    ops: list[OpPrediction] = []
    blocker: OpPrediction | None = None
    segment_started = False
    for op in sg.operators:
        if compiled:
            on_tpu = op.name == EDGETPU_CUSTOM_OP
            ops.append(OpPrediction(op.index, op.name, op.version, "tpu" if on_tpu else "cpu",
                                    None if on_tpu else "compiled", "" if on_tpu else "left on the CPU by the compiler"))
            continue
        found = classify_op(sg, op)
        if blocker is not None:
            pred = OpPrediction(op.index, op.name, op.version, "cpu", "R6",
                                f"after #{blocker.index} {blocker.name}, the end of the Edge TPU segment", HINTS["R6"],
                                blocked_by=blocker.index)
            if found:  # say both: it would not map on its own either
                pred.rule, pred.reason, pred.hint = found[0], f"{found[1]} (and after the segment's end)", HINTS[found[2]]
            ops.append(pred)
            continue
        if found is None:
            segment_started = True
            ops.append(OpPrediction(op.index, op.name, op.version, "tpu"))
            continue
        pred = OpPrediction(op.index, op.name, op.version, "cpu", found[0], found[1], HINTS[found[2]])
        ops.append(pred)
        if not segment_started and _is_input_conversion(sg, op):
            pred.reason += " (input-side conversion stays on the CPU in front of the segment)"
            continue
        blocker = pred

    if not compiled and not any(o.placement == "tpu" for o in ops) and any(o.rule == "R1" for o in ops):
        problems.append({"rule": "R1", "message": "Model not quantized: no op has all-8-bit tensors", "hint": HINTS["R1"]})
    newer = sorted({f"{o.name} v{o.version}" for o in ops if o.rule == "R7"})
    if newer:
        problems.append({
            "rule": "R7",
            "message": f"op versions newer than compiler 16 knows: {', '.join(newer)}; it may refuse the whole model "
                       "(\"Didn't find op for builtin opcode ...\")",
            "hint": HINTS["R7"],
        })

    tail_only = False
    if blocker is not None:
        later = [o for o in ops if o.index > blocker.index]
        # "tail": nothing after the blocker would map on its own, so the segment loses nothing
        tail_only = not any(classify_op(sg, sg.operators[o.index]) is None for o in later)
        if tail_only:
            blocker.hint = (f"{blocker.name} sits at the end of the graph (e.g. ARG_MAX or post-processing): only "
                            "the tail runs on the CPU, which is fine")
        else:
            n_forced = sum(1 for o in later if o.rule == "R6")
            problems.append({
                "rule": blocker.rule,
                "message": f"op #{blocker.index} {blocker.name} splits the graph: {n_forced} later supported op(s) "
                           "are forced onto the CPU",
                "hint": blocker.hint,
            })

    tpu_indices = {o.index for o in ops if o.placement == "tpu"}
    seen: set[int] = set()
    param_bytes = 0
    for op in sg.operators:
        if op.index in tpu_indices:
            for i in op.inputs:
                if i >= 0 and sg.tensors[i].is_constant and sg.tensors[i].buffer not in seen:
                    seen.add(sg.tensors[i].buffer)
                    param_bytes += sg.tensors[i].data_bytes
    pre = Preflight(model.path, compiled, ops, blocker, param_bytes, problems, tail_only)
    if pre.off_chip_predicted:
        problems.append({
            "rule": "R8",
            "message": f"{param_bytes / 2**20:.1f} MiB of parameters on the Edge TPU exceed its ~8 MiB on-chip memory; "
                       "the rest streams from host memory (slower)",
            "hint": "use a smaller model, or compile with -n N to pipeline segments over N Edge TPUs",
        })
    return pre


def check(path: str) -> Preflight:
    from edgekit.inspect.tflite_model import load

    return predict(load(path))


def ground_truth(cpu_model: TFLiteModel, compiled: TFLiteModel) -> list[int]:
    """Indices (in the CPU model) of the ops the compiler left on the CPU, found by output tensor names.

    The compiler keeps the ops it did not map, with their tensors' names, and replaces the rest with
    edgetpu-custom-op; matching (op name, output tensor names) recovers each CPU op's position.
    """
    sg, csg = cpu_model.main, compiled.main
    by_key = {}
    for op in sg.operators:
        by_key[(op.name, tuple(sg.tensors[i].name for i in op.outputs))] = op.index
    found = []
    for op in csg.operators:
        if op.name == EDGETPU_CUSTOM_OP:
            continue
        key = (op.name, tuple(csg.tensors[i].name for i in op.outputs))
        if key not in by_key:
            raise ValueError(f"compiled op {op.name} with outputs {key[1]} has no twin in the CPU model")
        found.append(by_key[key])
    return sorted(found)
