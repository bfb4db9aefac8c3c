"""``.onnx`` files as a build source: onnxruntime on the file itself is the float reference.

Most published ONNX models (RapidOCR's, Paddle2ONNX exports, YOLO exports) have dynamic
dimensions: ``dim_param`` names, ``?``, or ``-1`` written as a dim value (Paddle2ONNX). A build
needs fixed shapes, so every dynamic dimension except a leading batch dimension must be fixed with
``--input-shape NAME=...``; the message names the dynamic dimensions and gives an example with
the model's own static ones filled in. The leading batch dimension becomes 1.

Targets that convert an ONNX source (``tflite-*`` through onnx2tf, see
edgekit/targets/tflite_onnx.py) run in their own toolchain environment; this loader only needs
``onnx`` (to read the graph) and ``onnxruntime`` (to predict), imported lazily.
"""

from __future__ import annotations

from typing import Any

from edgekit.errors import EdgekitError, EnvironmentMissing, first_line
from edgekit.sources import (
    SOURCES,
    InputSpec,
    Source,
    SourceLoader,
    check_declared_names,
    hash_path,
    merge_inputs,
    source_name,
)

ONNX_HINT = "install the ONNX extra: pip install 'edgekit[onnx]' (onnx 1.23.2, onnxruntime 1.32.0)"


def import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise EnvironmentMissing(f"onnx cannot be imported ({exc})", ONNX_HINT) from None
    return onnx


def read_model(ref: str) -> Any:
    """The ModelProto (weights included); a file that is not ONNX is one line naming the file."""
    onnx = import_onnx()
    try:
        return onnx.load(ref)
    except Exception as exc:
        raise EdgekitError(
            f"cannot read {ref} as an ONNX model ({first_line(exc)})",
            "check that the file is a complete .onnx model (re-export or re-download it)",
        ) from None


def _dims(value_info: Any) -> list[int | None]:
    """A graph input's dimensions; None for every dynamic one (dim_param, '?', 0 or -1 values)."""
    dims: list[int | None] = []
    for d in value_info.type.tensor_type.shape.dim:
        dims.append(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None)
    return dims


def graph_inputs(model: Any) -> list[InputSpec]:
    """Real inputs of the graph (older exporters also list every initializer as an input)."""
    import numpy as np
    from onnx import helper

    inits = {i.name for i in model.graph.initializer}
    found = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        elem = vi.type.tensor_type.elem_type
        try:
            dtype = str(np.dtype(helper.tensor_dtype_to_np_dtype(elem)))
        except Exception:
            dtype = "float32"
        found.append(InputSpec(vi.name, _dims(vi), dtype))  # type: ignore[arg-type]
    return found


def dynamic_message(spec: InputSpec, ref: str) -> EdgekitError:
    dims = spec.shape
    example = ",".join("1" if (d is None and i == 0) else ("64" if d is None else str(d)) for i, d in enumerate(dims))
    shown = "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
    return EdgekitError(
        f"input {spec.name!r} of {ref} has dynamic dimensions {shown}",
        f"fix them with --input-shape {spec.name}={example} (the real sizes the model is meant to run at)",
    )


def fixed_inputs(declared: list[InputSpec] | None, found: list[InputSpec], ref: str) -> list[InputSpec]:
    """The build's input specs: declared shapes where the graph is dynamic, batch 1 otherwise."""
    if declared:
        return merge_inputs(declared, found, ref)
    for spec in found:
        if any(d is None for d in spec.shape[1:]):
            raise dynamic_message(spec, ref)
    return merge_inputs(None, found, ref)


def onnx_info(model: Any) -> dict:
    import onnx

    return {
        "onnx": onnx.__version__,
        "opset": {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "ir_version": int(model.ir_version),
        "nodes": len(model.graph.node),
        "dynamic_inputs": {
            i.name: ["?" if d is None else d for d in i.shape] for i in graph_inputs(model) if any(d is None for d in i.shape)
        },
    }


def make_session(ref: str) -> Any:
    """An onnxruntime CPU session on the file: the float reference every artifact is compared with."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EnvironmentMissing(f"onnxruntime cannot be imported ({exc})", ONNX_HINT) from None
    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are not the user's business
    try:
        return ort.InferenceSession(ref, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EdgekitError(
            f"onnxruntime cannot load {ref} ({first_line(exc)})",
            "check the model with 'edgekit inspect'; onnxruntime must run it to be the float reference",
        ) from None


class OnnxLoader(SourceLoader):
    kind = "onnx"

    def peek_input_names(self, ref: str) -> list[str] | None:
        try:
            return [i.name for i in graph_inputs(read_model(ref))]
        except EdgekitError:
            return None

    def load(self, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        import numpy as np

        model = read_model(ref)
        found = graph_inputs(model)
        check_declared_names(inputs, [f.name for f in found], ref)
        specs = fixed_inputs(inputs, found, ref)
        session = make_session(ref)
        import onnxruntime as ort

        names = [s.name for s in specs]
        output_names = [o.name for o in session.get_outputs()]

        def predict(arrays: list) -> list:
            feed = {n: np.asarray(a, dtype=s.dtype) for n, a, s in zip(names, arrays, specs)}
            return list(session.run(None, feed))

        info = {
            **onnx_info(model),
            "onnxruntime": ort.__version__,
            "graph_inputs": [
                {"name": i.name, "shape": ["?" if d is None else d for d in i.shape], "dtype": i.dtype} for i in found
            ],
        }
        return Source(
            kind="onnx",
            framework="onnx",
            ref=ref,
            name=source_name(ref),
            model=model,
            inputs=specs,
            output_names=output_names,
            content_hash=hash_path(ref),
            info=info,
            predict_fn=predict,
        )


SOURCES.register("onnx", OnnxLoader())
