"""Predict where ``edgetpu_compiler`` 16 places every op, before (or without) compiling.

Users learn only after compiling, on an x86-64 Linux box, that half their graph fell back to the
CPU. This check reads the .tflite and applies the compiler's rules (edgetpu-ops.md R1..R8):

1. Per op, can it map at all? Custom op (R5), builtin not in the supported table (R5), a non-8-bit
   tensor (R1), a dynamic dimension (R2), a non-constant weight (R3), more than 3 dimensions larger
   than 1 (R4), an op version newer than compiler 16 knows (R7), or an op condition (fused
   activation, dilation, batch axis ...).
2. Placement by data flow (placement.py): ops that cannot map on the input side stay on the CPU in
   front of the one Edge TPU segment; the first op that cannot map *and depends on the segment*
   ends it, and the ops that depend on that op run on the CPU (R6). Per op, how sure: an op whose
   placement rests on a rule no real compiled pair confirms is marked uncertain.
3. Model-level causes with their fixes (advice.py): variables and control flow, dynamic inputs,
   a float model, newer op versions; parameter bytes against ~8 MiB on-chip memory (R8).

The prediction is checked op by op against all 12 real compiled pairs in tests
(tests/edgetpu/test_preflight.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from edgekit.edgetpu import advice, placement, rules
from edgekit.edgetpu.advice import HINTS
from edgekit.inspect.tflite_model import EDGETPU_CUSTOM_OP, OperatorInfo, SubgraphInfo, TFLiteModel

PLACEMENT_MODEL = (
    "ops that cannot map and do not depend on the Edge TPU stay on the CPU in front of one Edge TPU segment; "
    "the first op that cannot map and depends on the segment ends it, and every op depending on that op runs "
    "on the CPU"
)


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
    role: str = placement.SEGMENT  # input-side | segment | ends-segment | after-segment
    certain: bool = True
    uncertain_why: str = ""  # which unconfirmed rule the prediction rests on

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Preflight:
    path: str
    already_compiled: bool
    ops: list[OpPrediction]
    first_blocking: OpPrediction | None
    param_bytes_tpu: int
    problems: list[dict] = field(default_factory=list)  # model-level: {"rule", "cause", "message", "hint", "blocking"}
    tail_only: bool = False  # CPU ops only at the end (post-processing): fine

    @property
    def tpu_ops(self) -> int:
        return sum(1 for o in self.ops if o.placement == "tpu")

    @property
    def cpu_ops(self) -> int:
        return sum(1 for o in self.ops if o.placement == "cpu")

    def role_ops(self, role: str) -> list[OpPrediction]:
        return [o for o in self.ops if o.role == role]

    @property
    def uncertain(self) -> list[OpPrediction]:
        return [o for o in self.ops if not o.certain]

    @property
    def off_chip_predicted(self) -> bool:
        return self.param_bytes_tpu > rules.ON_CHIP_BYTES

    @property
    def ready(self) -> bool:
        """Edge TPU ready: something maps, every compute op is mapped, no model-level blocker."""
        if self.tpu_ops == 0 or any(p.get("blocking") for p in self.problems):
            return False
        return not any(o.placement == "cpu" and o.name in rules.COMPUTE_OPS for o in self.ops)

    def cpu_op_names(self) -> list[tuple[int, str]]:
        return [(o.index, o.name) for o in self.ops if o.placement == "cpu"]

    @property
    def fix(self) -> str:
        """The one thing to do first: the most basic cause wins (see advice.py)."""
        if self.already_compiled:
            return self.problems[0]["hint"]
        for p in self.problems:
            if p.get("blocking"):
                return p["hint"]
        split = next((p for p in self.problems if p.get("cause") == "split"), None)
        if split:
            return split["hint"]
        if self.first_blocking is not None:  # a tail-only blocker's hint says that is fine
            return self.first_blocking.hint
        if self.cpu_ops:
            return "none needed: only input-side conversions run on the CPU"
        return "none needed: every op maps"

    def counts(self) -> str:
        before, after = len(self.role_ops(placement.INPUT_SIDE)), self.cpu_ops - len(self.role_ops(placement.INPUT_SIDE))
        if self.tpu_ops == 0:
            return f"0 of {len(self.ops)} ops predicted on the Edge TPU (no segment: all on the CPU)"
        return (
            f"{self.tpu_ops} of {len(self.ops)} ops predicted on the Edge TPU; on the CPU {before} before the "
            f"segment and {after} after it"
        )

    def summary(self) -> str:
        """One line: the counts, then the model-level cause if there is one, else the first blocking op."""
        text = self.counts()
        cause = next((p for p in self.problems if p.get("blocking")), None)
        if cause is not None:
            text += f"; {cause['message']}"
        elif self.first_blocking is not None:
            fb = self.first_blocking
            text += f"; first op that cannot map: #{fb.index} {fb.name} ({fb.rule}: {fb.reason})"
        return text

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "compiler": "edgetpu_compiler 16 (predicted)",
            "placement_model": PLACEMENT_MODEL,
            "already_compiled": self.already_compiled,
            "ready": self.ready,
            "summary": self.summary(),
            "fix": self.fix,
            "tpu_ops": self.tpu_ops,
            "cpu_ops": self.cpu_ops,
            "input_side_ops": [o.index for o in self.role_ops(placement.INPUT_SIDE)],
            "uncertain_ops": [o.index for o in self.uncertain],
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


def _compiled(model: TFLiteModel) -> Preflight:
    """A compiled file records its placement exactly: edgetpu-custom-op is the segment."""
    ops = []
    for op in model.main.operators:
        on_tpu = op.name == EDGETPU_CUSTOM_OP
        ops.append(
            OpPrediction(
                op.index,
                op.name,
                op.version,
                "tpu" if on_tpu else "cpu",
                None if on_tpu else "compiled",
                "" if on_tpu else "left on the CPU by the compiler",
                role=placement.SEGMENT if on_tpu else placement.AFTER_SEGMENT,
            )
        )
    note = advice.problem(
        None,
        "already-compiled",
        "the model is already compiled for the Edge TPU (it contains edgetpu-custom-op)",
        "run the check on the CPU model the compiler was given; the placement of this file is exact",
        False,
    )
    return Preflight(model.path, True, ops, None, 0, [note])


def _wording(sg: SubgraphInfo, op: OperatorInfo, p: placement.Placed, has_segment: bool) -> OpPrediction:
    pred = OpPrediction(
        op.index,
        op.name,
        op.version,
        "tpu" if p.on_tpu else "cpu",
        role=p.role,
        blocked_by=p.blocked_by if p.role == placement.AFTER_SEGMENT else None,
        certain=not p.uncertain_why,
        uncertain_why=p.uncertain_why,
    )
    if p.on_tpu:
        return pred
    rule, reason, key = p.refusal if p.refusal else ("R6", "", "R6")
    pred.rule, pred.reason, pred.hint = rule, reason, HINTS[key]
    if p.role == placement.INPUT_SIDE and has_segment:
        pred.reason += " (on the CPU in front of the Edge TPU segment)"
        if op.name in rules.INPUT_CONVERSIONS:
            pred.hint = HINTS["input-side"]
    elif p.role == placement.AFTER_SEGMENT:
        b = sg.operators[p.blocked_by]
        end = f"after #{b.index} {b.name}, the end of the Edge TPU segment"
        pred.reason = f"{reason} (and {end})" if p.refusal else end
    return pred


def predict(model: TFLiteModel) -> Preflight:
    """The predicted placement of every op in the model's first subgraph."""
    if model.edgetpu_compiled:
        return _compiled(model)
    sg = model.main
    problems = advice.subgraph_problems(model)
    dyn = advice.dynamic_problem(model, len(sg.operators))
    if dyn:
        problems.append(dyn)
    model_doubt = (
        (f"the model has {len(model.subgraphs)} subgraphs; no real compiled pair with more than one was seen")
        if len(model.subgraphs) > 1
        else ""
    )
    refusals = [classify_op(sg, op) for op in sg.operators]
    placed = placement.place(sg, refusals, model_doubt)
    has_segment = any(p.on_tpu for p in placed)
    ops = [_wording(sg, op, p, has_segment) for op, p in zip(sg.operators, placed)]
    tpu_ops = sum(1 for o in ops if o.placement == "tpu")

    enders = [o for o in ops if o.role == placement.ENDS_SEGMENT]
    blocker = enders[0] if enders else None
    if blocker is None and tpu_ops == 0:
        blocker = next((o for o in ops if o.placement == "cpu"), None)
    after = [o for o in ops if o.role == placement.AFTER_SEGMENT]
    forced = [o for o in after if refusals[o.index] is None]  # would map on their own
    tail_only = bool(enders) and tpu_ops > 0 and not forced
    if tail_only:
        for o in enders:
            o.hint = (
                f"{o.name} sits at the end of the graph (e.g. ARG_MAX or post-processing): only the tail runs "
                "on the CPU, which is fine"
            )
    elif forced:
        by_ender = {e.index: sum(1 for o in forced if o.blocked_by == e.index) for e in enders}
        first = next(e for e in enders if by_ender[e.index])
        problems.append(
            advice.problem(
                first.rule,
                "split",
                f"op #{first.index} {first.name} ends the Edge TPU segment: {by_ender[first.index]} "
                "later supported op(s) that depend on it are forced onto the CPU",
                first.hint,
                False,
            )
        )

    flt = advice.float_problem(sg, [o for o in ops if o.role == placement.INPUT_SIDE], tpu_ops)
    if flt:
        problems.append(flt)
    layout = advice.layout_problem(sg, ops)
    if layout:
        problems.append(layout)
    newer = sorted({f"{o.name} v{o.version}" for o in ops if o.rule == "R7"})
    if newer:
        problems.append(
            advice.problem(
                "R7",
                "op-version",
                f"op versions newer than compiler 16 knows: {', '.join(newer)}; it may refuse the whole model "
                '("Didn\'t find op for builtin opcode ...")',
                HINTS["R7"],
                False,
            )
        )

    tpu_indices = {o.index for o in ops if o.placement == "tpu"}
    seen: set[int] = set()
    param_bytes = 0
    for op in sg.operators:
        if op.index in tpu_indices:
            for i in op.inputs:
                if i >= 0 and sg.tensors[i].is_constant and sg.tensors[i].buffer not in seen:
                    seen.add(sg.tensors[i].buffer)
                    param_bytes += sg.tensors[i].data_bytes
    # blocking causes first, the rest in the order found
    problems.sort(key=lambda p: not p.get("blocking"))
    pre = Preflight(model.path, False, ops, blocker, param_bytes, problems, tail_only)
    if pre.off_chip_predicted:
        problems.append(
            advice.problem(
                "R8",
                "off-chip",
                f"{param_bytes / 2**20:.1f} MiB of parameters on the Edge TPU exceed its ~8 MiB on-chip memory; "
                "the rest streams from host memory (slower)",
                "use a smaller model, or compile with -n N to pipeline segments over N Edge TPUs",
                False,
            )
        )
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
