"""Per-layer int8 error of static QDQ ONNX models, through onnxruntime's own QDQ debugger.

What is measured: onnxruntime's ``qdq_loss_debug`` adds every float tensor of a model to its outputs
(``modify_model_output_intermediate_tensors``), runs it on samples (``collect_activations``) and
pairs each quantized activation of the QDQ model with the float model's tensor of the same name
(``create_activation_matching``). Both models run in onnxruntime: the float one is the model the
quantizer started from (after ``quant_pre_process``, so tensor names agree), the QDQ one the shipped
artifact when it is on disk (else the same quantization again). A layer's value is what the next
layer reads: the DequantizeLinear output after it. That is a *carried* measure (the error against
the float model at that point, inherited error included); ``rank_layers`` ranks by the error each
layer adds over its inputs, which this module wires from the graph.

A *layer* is one quantized activation and the ops that produce it since the previous quantized
activations: onnxruntime fuses Conv+Relu and leaves no QDQ between them, so "Conv@5+Relu@5" is one
layer, named by its Conv/MatMul/Gemm node. Names are the source's node names; a model exported by
``torch.onnx.export(dynamo=True)`` carries the PyTorch module path in each node's
``pkg.torch.onnx.name_scopes`` metadata (``encoder.layer.0.fc1``), and that is the name shown.

Per-channel SNR uses axis 1 of 3-D/4-D tensors (ONNX is channels-first: a Conv's output channels)
and the last axis of 2-D ones (Gemm/MatMul features). Dynamic int8 (``onnx-dynamic``) has no
calibrated activation to compare (its activations are quantized per call), so it is refused.
Registered as ``BACKENDS["onnx"]``. onnx and onnxruntime are imported inside the functions.
"""

from __future__ import annotations

import ast
import os
import tempfile
from typing import Any, Sequence

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.quant.metrics import EXACT_SNR_DB, LayerError, compare_batches

REPORT_SAMPLES = 16  # calibration samples every layer is compared on
NAMED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "Attention", "MatMulInteger", "ConvInteger")


def _snr(sig: float, noise: float) -> float:
    if noise <= 0.0:
        return EXACT_SNR_DB
    if sig <= 0.0:
        return -EXACT_SNR_DB
    return float(np.clip(10.0 * np.log10(sig / noise), -EXACT_SNR_DB, EXACT_SNR_DB))


def channel_snr(float_: Sequence[np.ndarray], quant: Sequence[np.ndarray], shape: Sequence[int] | None) -> float | None:
    """Mean SNR over channels (axis 1 for rank >= 3, else the last), dead channels left out; None
    when the tensor's shape is unknown or it has no channel axis."""
    if not shape or len(shape) < 2 or any(int(d) <= 0 for d in shape):
        return None
    axis = 1 if len(shape) >= 3 else len(shape) - 1
    try:
        f = np.stack([np.asarray(a, np.float64).reshape(shape) for a in float_])
        q = np.stack([np.asarray(a, np.float64).reshape(shape) for a in quant])
    except ValueError:
        return None
    f, d = np.moveaxis(f, axis + 1, 0), np.moveaxis(q - f, axis + 1, 0)
    f2, d2 = f.reshape(f.shape[0], -1), d.reshape(d.shape[0], -1)
    sig, err = np.mean(f2 * f2, axis=1), np.mean(d2 * d2, axis=1)
    live = sig > 1e-12 * max(1e-30, float(sig.max()))
    if not live.any():
        return EXACT_SNR_DB
    return float(np.mean([_snr(a, b) for a, b in zip(sig[live], err[live])]))


def user_names(model: Any) -> dict[str, str]:
    """Node name -> the name the user knows: the PyTorch module path from the dynamo exporter's
    ``pkg.torch.onnx.name_scopes`` metadata (``['', 'enc', 'enc.0', 'conv2d']`` -> ``enc.0``; ``['', 'mean']``
    -> ``<top>/mean``), else the node's own name."""
    names = {}
    for node in model.graph.node:
        shown = node.name
        for prop in node.metadata_props:
            if prop.key == "pkg.torch.onnx.name_scopes":
                try:
                    scopes = [str(s) for s in ast.literal_eval(prop.value)]
                except (ValueError, SyntaxError):
                    break
                path = scopes[-2] if len(scopes) >= 2 else ""
                # the top-level module's own ops (a mean in forward()): "<top>/mean", as PT2E's "<top>"
                shown = path or (f"<top>/{scopes[-1]}" if len(scopes) >= 2 else node.name)
        if node.name:
            names[node.name] = shown
    return names


def shown_name(node_name: str, shown: dict[str, str]) -> str:
    """The user's name of a pre-processed node: its own, or for a node ``quant_pre_process`` fused
    (``MatMul@0/MatMulAddFusion``) the source node it grew from."""
    if node_name in shown:
        return shown[node_name]
    head = node_name.split("/", 1)[0] if "Fusion" in node_name else ""
    return shown.get(head, node_name) if head else node_name


def _tensor_shapes(model: Any) -> dict[str, list[int]]:
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:
        inferred = model
    shapes = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        t = v.type.tensor_type
        if t.HasField("shape"):
            shapes[v.name] = [int(d.dim_value) if d.HasField("dim_value") else -1 for d in t.shape.dim]
    return shapes


def layers_of(
    model: Any,
    matching: dict[str, dict[str, Sequence[np.ndarray]]],
    shown: dict[str, str] | None = None,
    units: dict[str, list[str]] | None = None,
) -> list[LayerError]:
    """LayerErrors of the float-vs-QDQ ``matching`` (``create_activation_matching``'s output, with
    ``float``) over ``model``'s graph (the pre-processed float model): units, names, inputs, depth.
    ``units``, when given, receives each layer's node names (what ``nodes_to_exclude`` keeps float)."""
    shown = shown or {}
    nodes = list(model.graph.node)
    producer = {o: (i, n) for i, n in enumerate(nodes) for o in n.output if o}
    constants = {t.name for t in model.graph.initializer}
    measured = {k for k, v in matching.items() if v.get("float") is not None}
    shapes = _tensor_shapes(model)

    def unit(tensor: str) -> tuple[list[int], list[str]]:
        """Node indices producing ``tensor`` since the measured tensors it reads, and those tensors."""
        seen: set[int] = set()
        feeders: set[str] = set()
        stack = [tensor]
        while stack:
            t = stack.pop()
            if t not in producer:
                continue
            i, node = producer[t]
            if i in seen:
                continue
            seen.add(i)
            for inp in node.input:
                if not inp or inp in constants:
                    continue
                if inp in measured:
                    feeders.add(inp)
                else:
                    stack.append(inp)
        return sorted(seen), sorted(feeders)

    layers: list[LayerError] = []
    for tensor in measured:
        m = matching[tensor]
        ref, got = list(m["float"]), list(m["post_qdq"])
        if len(ref) != len(got) or not ref:
            continue
        try:
            stats = compare_batches(ref, got)
        except ValueError:
            continue
        idx, feeders = unit(tensor)
        if units is not None:
            units[tensor] = [nodes[i].name for i in idx if nodes[i].name]
        if idx:
            ops = [nodes[i] for i in idx]
            named = next((n for n in ops if n.op_type in NAMED_OPS), ops[-1])
            node_name = named.name or tensor
            op = "+".join(n.op_type for n in ops[-3:]) if len(ops) <= 3 else f"{ops[0].op_type}+...+{ops[-1].op_type}"
            depth = idx[-1] + 1
        else:  # a graph input, quantized before the first op
            node_name, op, depth = f"input {tensor}", "QuantizeLinear", 0
        layer = LayerError(
            name=tensor,
            source_name=shown_name(node_name, shown),
            op=op,
            depth=depth,
            inputs=feeders,
            measure="carried",
            snr_db=stats["snr_db"],
            cosine=stats["cosine"],
            max_abs=stats["max_abs"],
            rel_error=stats["rel_error"],
        )
        ch = channel_snr(ref, got, shapes.get(tensor))
        if ch is not None:
            layer["channel_snr_db"] = ch
        layers.append(layer)
    return sorted(layers, key=lambda layer: layer["depth"])


def activation_matching(float_path: str, qdq_path: str, feeds: Sequence[dict], tmp: str) -> dict:
    """onnxruntime's debugger on both models: quantized activation name -> pre_qdq/post_qdq/float."""
    from onnxruntime.quantization import qdq_loss_debug as dbg

    from edgekit.targets.base import capture_native_output

    aug_float, aug_qdq = os.path.join(tmp, "float.debug.onnx"), os.path.join(tmp, "qdq.debug.onnx")
    with capture_native_output():
        try:
            dbg.modify_model_output_intermediate_tensors(float_path, aug_float)
            dbg.modify_model_output_intermediate_tensors(qdq_path, aug_qdq)
            float_acts = dbg.collect_activations(aug_float, list(feeds))
            qdq_acts = dbg.collect_activations(aug_qdq, list(feeds))
        except Exception as exc:
            raise EdgekitError(
                f"onnxruntime's QDQ debugger failed: {type(exc).__name__}: {str(exc)[:200]}",
                "check that the onnx-int8 artifact loads in onnxruntime ('edgekit inspect')",
            ) from None
    return dbg.create_activation_matching(qdq_acts, float_acts)


def feeds_of(ctx: Any, path: str, limit: int = REPORT_SAMPLES) -> list[dict]:
    """Up to ``limit`` calibration samples as onnxruntime feeds of the model at ``path``."""
    from edgekit.targets.onnx import model_inputs

    cal = ctx.calibration
    if cal is None or len(cal) == 0:
        raise EdgekitError("the per-layer report of onnx-int8 needs calibration samples", "pass --calibration DATA")
    names, dtypes = model_inputs(path)
    return [
        {n: np.asarray(a).astype(d, copy=False) for n, a, d in zip(names, cal.sample(i), dtypes)}
        for i in range(min(len(cal), limit))
    ]


class OnnxBackend:
    """``BACKENDS["onnx"]``: per-layer error of a static int8 QDQ ONNX target."""

    format = "onnx"

    def layer_errors(self, target: Any, ctx: Any, nodes_to_exclude: Sequence[str] = ()) -> list[LayerError]:
        from edgekit.targets.onnx import preprocessed_float, quantize_static_file

        quantize = getattr(target, "quantize", None)
        if quantize == "dynamic":
            raise EdgekitError(
                f"no per-layer report for {target.name}: dynamic int8 quantizes activations per call, "
                "so there is no calibrated int8 activation to compare with float",
                "build onnx-int8 (static, calibrated) with --explain to see which layers int8 hurts",
            )
        if quantize != "static":
            raise EdgekitError(f"{getattr(target, 'name', '?')} is not a quantized ONNX target", "ask for onnx-int8")
        with tempfile.TemporaryDirectory(prefix="edgekit-onnxdbg-") as tmp:
            pre_path, _ = preprocessed_float(ctx, tmp)
            shipped = os.path.join(ctx.outdir, target.file_name(ctx)) if getattr(ctx, "outdir", None) else ""
            if shipped and os.path.isfile(shipped) and not nodes_to_exclude:
                qdq_path = shipped
            else:
                qdq_path = os.path.join(tmp, "qdq.onnx")
                quantize_static_file(pre_path, qdq_path, ctx, target.name, nodes_to_exclude=nodes_to_exclude)
            return measure(ctx, pre_path, qdq_path, tmp, target.name)


def measure(ctx: Any, pre_path: str, qdq_path: str, tmp: str, name: str, units: dict | None = None) -> list[LayerError]:
    """The layers of ``qdq_path`` against ``pre_path`` (its float model; ``tmp`` holds float.onnx, the
    source's float model, for the names) on the calibration samples."""
    import onnx

    matching = activation_matching(pre_path, qdq_path, feeds_of(ctx, pre_path), tmp)
    shown = user_names(onnx.load(os.path.join(tmp, "float.onnx")))
    layers = layers_of(onnx.load(pre_path), matching, shown, units)
    if not layers:
        raise EdgekitError(
            f"{name} has no quantized activation to compare",
            "check that onnx-int8 quantized the model ('edgekit inspect' shows QuantizeLinear nodes)",
        )
    return layers


def _register() -> None:
    from edgekit.quant import BACKENDS

    BACKENDS.register("onnx", OnnxBackend())


_register()
