"""What to do about a preflight finding: per-op hints and model-level causes, each naming the real cause.

Model-level findings come first because one cause often explains every op: a dynamic batch makes
every tensor dynamic (R2), a float model makes every op float (R1), resource variables put their
initialisation into a second subgraph. Saying "op #0 cannot map" for those would send the user to
the wrong place, so each cause is detected from the model itself and comes with the exact fix.
"""

from __future__ import annotations

import shlex

from edgekit.edgetpu import rules
from edgekit.inspect.tflite_model import SubgraphInfo, TFLiteModel

HINTS = {
    "R1": "the op works on tensors that are not 8-bit: quantize it to int8 (full-integer quantization), or "
    "replace it with an op that has an int8 kernel",
    "R2": "fix every shape at conversion: a static batch of 1 and no None dimensions",
    "R3": "make weights and biases constants (freeze the model before converting)",
    "R4": "keep tensors at most 3-D apart from leading 1s (fold extra dimensions with a reshape)",
    "R5": "this op never runs on the Edge TPU; replace it with a supported op or move it to the end of the graph",
    "R5-custom": "custom ops always run on the CPU; keep them at the end of the graph (post-processing)",
    "R5-cond": "change the op so it meets the Edge TPU's condition (see the reason)",
    "R5-resize": "upsample in smaller steps (x2 stages) or move the large resize to the end of the graph",
    "R6": "forced onto the CPU by an earlier op that ended the Edge TPU segment; fix that op to bring this one back",
    "R7": "the op version is newer than compiler 16 knows: convert with a TensorFlow <= 2.5 era converter "
    "or avoid the feature that raised the version (from PyTorch: build tflite-int8 with edgekit's default "
    "quantizer, ai-edge-quantizer, which keeps the float model's op versions)",
    "input-side": "stays on the CPU in front of the Edge TPU segment, which is fine",
}
NOT_QUANTIZED_HINT = (
    "build tflite-int8 (full-integer quantization: every op and activation 8-bit, int8/uint8 "
    "inputs and outputs), then check that file"
)


def problem(rule: str | None, cause: str, message: str, hint: str, blocking: bool) -> dict:
    """A model-level finding; ``blocking`` ones make the model not Edge TPU ready by themselves."""
    return {"rule": rule, "cause": cause, "message": message, "hint": hint, "blocking": blocking}


def subgraph_problems(model: TFLiteModel) -> list[dict]:
    """Why a model has more than one subgraph (variables, control flow, signatures), with the real fix."""
    if len(model.subgraphs) < 2:
        return []
    found: list[dict] = []
    for cause in rules.SUBGRAPH_CAUSES:
        hits = [(sg.index, op.index, op.name) for sg, op in model.all_operators() if op.name in cause["ops"]]
        if hits:
            names = sorted({name for _, _, name in hits})
            where = ", ".join(f"{n} x{sum(1 for h in hits if h[2] == n)}" for n in names)
            found.append(problem("R6", cause["cause"], cause["message"].format(ops=where), cause["hint"], True))
    if found:
        return found
    if len(model.signatures) > 1:
        keys = ", ".join(repr(s.key) for s in model.signatures)
        first = next((s.key for s in model.signatures if s.subgraph_index == 0), model.signatures[0].key)
        return [
            problem(
                "R6",
                "signatures",
                f"the model has {len(model.signatures)} signatures ({keys}), one subgraph each; compiler 16 "
                f"compiles only the first subgraph ({first!r})",
                "convert only the signature you deploy (one concrete function)",
                False,
            )
        ]
    return [
        problem(
            "R6",
            "subgraphs",
            f"the model has {len(model.subgraphs)} subgraphs; compiler 16 compiles only the first",
            "convert a single function without control flow or state",
            True,
        )
    ]


def _input_name(model: TFLiteModel, sg: SubgraphInfo, idx: int) -> str:
    """The name ``edgekit build --input-shape`` knows an input by: its signature name, else the tensor's."""
    for sig in model.signatures:
        if sig.subgraph_index == sg.index:
            for name, t in sig.inputs.items():
                if t == idx:
                    return name
    name = sg.tensors[idx].name
    if name.startswith("serving_default_"):
        name = name[len("serving_default_") :]
    return name.rsplit(":", 1)[0] if name.rsplit(":", 1)[-1].isdigit() else name


def dynamic_problem(model: TFLiteModel, n_ops: int) -> dict | None:
    """Inputs with a dynamic dimension (R2), with the exact static rebuild."""
    sg = model.main
    dyn = [i for i in sg.inputs if sg.tensors[i].dynamic]
    if not dyn:
        return None
    parts, flags, unknown = [], [], False
    for i in dyn:
        t = sg.tensors[i]
        sig = list(t.shape_signature or [])
        static = []
        for pos, d in enumerate(sig):
            if d >= 0:
                static.append(str(d))
            elif pos == 0:
                static.append("1")
            else:
                static.append("?")
                unknown = True
        what = "batch -1" if [p for p, d in enumerate(sig) if d < 0] == [0] else "dynamic dimensions"
        name = _input_name(model, sg, i)
        parts.append(f"{name!r} {sig} ({what})")
        flags.append("--input-shape " + shlex.quote(f"{name}={','.join(static)}"))
    dynamic_ops = sum(
        1 for op in sg.operators if any(0 <= t < len(sg.tensors) and sg.tensors[t].dynamic for t in op.inputs + op.outputs)
    )
    command = f"edgekit build --source YOUR_MODEL -t tflite-int8 -t edgetpu {' '.join(flags)}"
    hint = f"rebuild with a static shape: {command}"
    if unknown:
        hint += " (put your deployed sizes in place of each ?)"
    return problem(
        "R2",
        "dynamic-shape",
        f"input {', '.join(parts)} has a dynamic shape; the Edge TPU needs static shapes, so {dynamic_ops} "
        f"of {n_ops} ops cannot map",
        hint,
        True,
    )


def activation_dtypes(sg: SubgraphInfo) -> tuple[int, int]:
    """(float, all) counts of the tensors computed at run time (weights and biases excluded)."""
    acts = [t for t in sg.tensors if not t.is_constant and t.dtype not in ("resource", "variant", "string")]
    return sum(1 for t in acts if t.dtype.startswith(("float", "bfloat"))), len(acts)


def float_problem(sg: SubgraphInfo, input_side: list, tpu_ops: int) -> dict | None:
    """R1 at model level: "not quantized" only when most activations are float; else name the conversion."""
    n_float, n_all = activation_dtypes(sg)
    if not n_float:
        return None
    if n_float * 2 > n_all and tpu_ops == 0:
        return problem(
            "R1",
            "not-quantized",
            f"Model not quantized: {n_float} of {n_all} activation tensors are float",
            NOT_QUANTIZED_HINT,
            True,
        )
    convs = [o for o in input_side if o.name in rules.INPUT_CONVERSIONS]
    if convs:
        ops = ", ".join(f"#{o.index} {o.name}" for o in convs)
        return problem(
            "R1",
            "float-input",
            f"{n_all - n_float} of {n_all} activation tensors are 8-bit; the float "
            f"ones are converted by {ops} on the CPU in front of the Edge TPU segment",
            "fine; for a float model input, 8-bit inputs move the conversion off the CPU "
            "(--option tflite-int8.io_dtype=uint8 or int8)",
            False,
        )
    return None


# NCHW <-> NHWC permutations: the transposes a converter adds to keep PyTorch's layout at the boundary.
LAYOUT_PERMS = {(0, 2, 3, 1): "NCHW -> NHWC", (0, 3, 1, 2): "NHWC -> NCHW"}


def layout_problem(sg: SubgraphInfo, ops: list) -> dict | None:
    """Where the layout TRANSPOSEs of a channels-first (PyTorch) model sit, and what that means on the Edge TPU.

    litert-torch keeps PyTorch's NCHW at the model's boundary and runs NHWC kernels inside, so it adds
    TRANSPOSE ops (measured on the MobileNetV2-shaped example: one, on the input; on the digits CNN
    one more before the FULLY_CONNECTED head, because flattening an NCHW feature map fixes the order
    of its elements). Compiler 16 has mapped TRANSPOSE, under conditions no real pair here confirms.
    At the input it is harmless either way (refused, it runs on the CPU in front of the segment and
    the rest still maps, R6); inside the graph a refusal would end the segment.
    """
    found = []
    for op in sg.operators:
        if op.name != "TRANSPOSE" or len(op.inputs) < 2:
            continue
        perm = tuple(sg.tensors[op.inputs[1]].values or ())
        if perm not in LAYOUT_PERMS:
            continue
        at_input = op.inputs[0] in sg.inputs
        at_output = any(o in sg.outputs for o in op.outputs)
        pred = ops[op.index]
        where = "at the input" if at_input else "at the output" if at_output else "inside the graph"
        found.append((op.index, LAYOUT_PERMS[perm], where, pred.placement))
    if not found:
        return None
    parts = ", ".join(
        f"#{i} {perm} {where} (predicted {'on the Edge TPU' if placed == 'tpu' else 'on the CPU'})"
        for i, perm, where, placed in found
    )
    inner = [f for f in found if f[2] == "inside the graph"]
    message = (
        f"{len(found)} layout TRANSPOSE op(s) from a channels-first model: {parts}; compiler 16 has mapped "
        "TRANSPOSE, under conditions not confirmed here"
    )
    if inner:
        hint = (
            "a TRANSPOSE inside the graph, if the compiler refuses it, ends the segment and sends every later op "
            "to the CPU: flatten after pooling to 1x1 (nn.AdaptiveAvgPool2d(1)) so the Linear head needs no "
            "transpose, and check with the real compiler"
        )
    else:
        hint = (
            "none needed: at the input a refused TRANSPOSE runs on the CPU in front of the segment and every "
            "other op still maps; to drop it, feed NHWC (litert_torch.to_channel_last_io)"
        )
    return problem(None, "layout", message, hint, False)
