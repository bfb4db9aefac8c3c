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
from edgekit.quant.metrics import EXACT_SNR_DB, LayerError, snr_db

REPORT_SAMPLES = 16  # calibration samples every layer is compared on
NAMED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "Attention", "MatMulInteger", "ConvInteger")


class TensorStats:
    """Float-vs-quantized statistics of one tensor, accumulated sample by sample, so memory holds one
    sample's tensors whatever the number of samples (the metrics of ``compare`` over all samples, and
    per-channel signal/error power: axis 1 for rank >= 3, channels first, else the last axis)."""

    def __init__(self, shape: Sequence[int] | None = None):
        ok = shape is not None and len(shape) >= 2 and all(int(d) > 0 for d in shape)
        self.shape = [int(d) for d in shape] if ok and shape is not None else None
        self.sig = self.noise = self.dot = self.qq = self.max_abs = 0.0
        self.ch_sig: np.ndarray | None = None
        self.ch_err: np.ndarray | None = None
        self.samples = 0

    def add(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        f = np.asarray(reference, np.float64).ravel()
        q = np.asarray(candidate, np.float64).ravel()
        if f.shape != q.shape:
            raise ValueError(f"shapes differ: {f.shape} vs {q.shape}")
        e = q - f
        self.sig += float(f @ f)
        self.noise += float(e @ e)
        self.dot += float(f @ q)
        self.qq += float(q @ q)
        self.max_abs = max(self.max_abs, float(np.max(np.abs(e))) if e.size else 0.0)
        self.samples += 1
        if self.shape is None or int(np.prod(self.shape)) != f.size:
            self.shape = None
            return
        axis = 1 if len(self.shape) >= 3 else len(self.shape) - 1
        others = tuple(i for i in range(len(self.shape)) if i != axis)
        cs = np.sum(np.square(f.reshape(self.shape)), axis=others)
        ce = np.sum(np.square(e.reshape(self.shape)), axis=others)
        self.ch_sig = cs if self.ch_sig is None else self.ch_sig + cs
        self.ch_err = ce if self.ch_err is None else self.ch_err + ce

    def result(self) -> dict[str, float]:
        nf, nq = float(np.sqrt(self.sig)), float(np.sqrt(self.qq))
        if nf == 0.0 and nq == 0.0:
            cos = 1.0
        elif nf == 0.0 or nq == 0.0:
            cos = 0.0
        else:
            cos = float(np.clip(self.dot / (nf * nq), -1.0, 1.0))
        out = {
            "snr_db": snr_db(self.sig, self.noise),
            "cosine": cos,
            "max_abs": self.max_abs,
            "rel_error": float(np.sqrt(self.noise) / nf) if nf > 0 else (0.0 if self.noise == 0.0 else float("inf")),
        }
        if self.shape is not None and self.ch_sig is not None and self.ch_err is not None:
            live = self.ch_sig > 1e-12 * max(1e-30, float(self.ch_sig.max()))  # dead channels carry no signal
            out["channel_snr_db"] = (
                float(np.mean([snr_db(a, b) for a, b in zip(self.ch_sig[live], self.ch_err[live])]))
                if live.any()
                else EXACT_SNR_DB
            )
        return out


def channel_snr(float_: Sequence[np.ndarray], quant: Sequence[np.ndarray], shape: Sequence[int] | None) -> float | None:
    """Mean SNR over channels of ``float_`` vs ``quant`` (one array per sample), dead channels left
    out; None when the tensor's shape is unknown or it has no channel axis."""
    st = TensorStats(shape)
    for f, q in zip(float_, quant):
        st.add(f, q)
    return st.result().get("channel_snr_db")


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
    stats: dict[str, dict[str, float]],
    shown: dict[str, str] | None = None,
    units: dict[str, list[str]] | None = None,
) -> list[LayerError]:
    """LayerErrors from each quantized activation's ``stats`` (``TensorStats.result()``) over
    ``model``'s graph (the pre-processed float model): units, names, inputs, depth.
    ``units``, when given, receives each layer's node names (what ``nodes_to_exclude`` keeps float)."""
    shown = shown or {}
    nodes = list(model.graph.node)
    producer = {o: (i, n) for i, n in enumerate(nodes) for o in n.output if o}
    constants = {t.name for t in model.graph.initializer}
    measured = set(stats)

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
    for tensor in sorted(measured):
        st = stats[tensor]
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
            snr_db=st["snr_db"],
            cosine=st["cosine"],
            max_abs=st["max_abs"],
            rel_error=st["rel_error"],
        )
        if "channel_snr_db" in st:
            layer["channel_snr_db"] = st["channel_snr_db"]
        layers.append(layer)
    return sorted(layers, key=lambda layer: layer["depth"])


def activation_stats(float_path: str, qdq_path: str, feeds: Sequence[dict], tmp: str) -> dict[str, dict[str, float]]:
    """onnxruntime's QDQ debugger on both models, one sample at a time: quantized activation name ->
    its float-vs-QDQ statistics (``TensorStats.result()``).

    ``modify_model_output_intermediate_tensors`` exposes every float tensor of each model;
    ``collect_activations``' loop (a session without graph optimisations, so no tensor is fused
    away) runs here per sample, and ``create_activation_matching`` pairs each sample's tensors, so a
    large model's activations are never all held at once (``collect_activations`` keeps them all)."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import qdq_loss_debug as dbg

    from edgekit.targets.base import capture_native_output

    postfix = getattr(dbg, "_TENSOR_SAVE_POSTFIX", "_ReshapedSavedOutput")
    aug_float, aug_qdq = os.path.join(tmp, "float.debug.onnx"), os.path.join(tmp, "qdq.debug.onnx")
    shapes = _tensor_shapes(onnx.load(float_path))
    acc: dict[str, TensorStats] = {}
    with capture_native_output():
        try:
            dbg.modify_model_output_intermediate_tensors(float_path, aug_float)
            dbg.modify_model_output_intermediate_tensors(qdq_path, aug_qdq)
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            opts.log_severity_level = 3
            sessions = [
                ort.InferenceSession(p, sess_options=opts, providers=["CPUExecutionProvider"]) for p in (aug_float, aug_qdq)
            ]
            names = [[o.name for o in s.get_outputs()] for s in sessions]
            for feed in feeds:
                saved = []
                for sess, outs in zip(sessions, names):
                    values = sess.run(None, feed)
                    saved.append({n[: -len(postfix)]: [v] for n, v in zip(outs, values) if n.endswith(postfix)})
                for name, m in dbg.create_activation_matching(saved[1], saved[0]).items():
                    if m.get("float") is not None:
                        acc.setdefault(name, TensorStats(shapes.get(name))).add(m["float"][0], m["post_qdq"][0])
                del saved
        except EdgekitError:
            raise
        except Exception as exc:
            raise EdgekitError(
                f"onnxruntime's QDQ debugger failed: {type(exc).__name__}: {str(exc)[:200]}",
                "check that the onnx-int8 artifact loads in onnxruntime ('edgekit inspect')",
            ) from None
    return {name: st.result() for name, st in acc.items()}


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

    stats = activation_stats(pre_path, qdq_path, feeds_of(ctx, pre_path), tmp)
    shown = user_names(onnx.load(os.path.join(tmp, "float.onnx")))
    layers = layers_of(onnx.load(pre_path), stats, shown, units)
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
