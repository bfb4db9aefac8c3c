"""PyTorch -> TFLite in the ``litert`` toolchain: ``python litert_convert.py SPEC.json OUT.json``.

Runs with the toolchain environment's Python (litert-torch 0.10.0, torch 2.13.0, ai-edge-litert
2.3.0, ai-edge-quantizer 0.10.0), never in edgekit's own environment, and never imports edgekit:
everything it needs comes in SPEC.json and files beside it.

SPEC.json:
  model        {"pt2": PATH} (an ExportedProgram saved with torch.export.save by the main
               environment) or {"factory": "module:function", "sys_path": [...]}
  example      .npz of the example inputs (input_0, input_1 ...)
  mode         fp32 | fp16 | dynamic | int8 | int16x8
  io_dtype     what the artifact's inputs/outputs are: float32 | int8 | uint8 | int16
  quantizer    int8 only: "ai-edge-quantizer" (default) or "pt2e"
  calibration  .npz of calibration inputs (input_K: [N, ...]) for int8 / int16x8
  float_model  optional: litert-torch's float .tflite of this very model, written by an earlier
               run's ``float_out`` (the targets of one build share one conversion)
  out          where to write the .tflite
OUT.json: {"quantization", "tool_versions", "warnings", "converter", "signature_inputs"} or
{"error": "...", "hint": "..."}.

How each mode is made (measured with these versions, see docs/pytorch.md):
- fp32: ``litert_torch.convert(module, example)``; the NCHW layout stays at the boundary and
  litert-torch inserts the TRANSPOSE/RESHAPE ops itself.
- fp16, dynamic, int8, int16x8: ai-edge-quantizer on that float flatbuffer (FLOAT_CASTING weight-only
  fp16, dynamic_wi8_afp32, static_wi8_ai8, static_wi8_ai16), calibrated with the LiteRT interpreter
  on the calibration samples. static_wi8_ai8 quantizes every op, SOFTMAX included, and writes int8
  inputs and outputs.
- int8 with quantizer "pt2e": static PT2E in torch (litert-torch's PT2EQuantizer, per-channel
  symmetric, prepare_pt2e, calibrate, convert_pt2e(fold_quantize=False), then convert with
  QuantConfig(pt2e_quantizer=...)). It leaves ops its quantizer does not annotate in float (the
  digits CNN's final SOFTMAX: a DEQUANTIZE and a float SOFTMAX), which edgekit's full-integer check
  then reports.
- I/O types other than what the quantizer wrote are made by editing the flatbuffer (the job of TF's
  modify_model_interface, whose ai_edge_litert build only turns float I/O into int8/uint8): a float
  input gets a QUANTIZE in front, a float output a DEQUANTIZE behind; uint8 gets a QUANTIZE that
  re-zero-points by 128 on either side, as TFLiteConverter writes it.
"""

from __future__ import annotations

import os
import sys

from _common import WorkerError, main, progress

MODES = ("fp32", "fp16", "dynamic", "int8", "int16x8")
DISTRIBUTIONS = ("torch", "litert-torch", "litert-converter", "ai-edge-quantizer", "ai-edge-litert")


def first_reason(exc: BaseException, limit: int = 300) -> str:
    lines = [l.strip() for l in str(exc).splitlines() if l.strip()]
    return f"{type(exc).__name__}: {(lines[0] if lines else '')[:limit]}"


def tool_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for dist in DISTRIBUTIONS:
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return found


# -- the model -------------------------------------------------------------------------------
def load_model(spec: dict):
    import torch

    model = spec["model"]
    if model.get("pt2"):
        try:
            return torch.export.load(model["pt2"]).module()
        except Exception as exc:  # noqa: BLE001
            raise WorkerError(
                f"the toolchain's torch {torch.__version__} cannot load the exported program ({first_reason(exc)})",
                "the main environment and the litert toolchain must have the same torch (2.13.0)",
            ) from None
    import importlib

    for p in model.get("sys_path") or []:
        if p not in sys.path:
            sys.path.insert(0, p)
    module_name, _, func = model["factory"].partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), func)()
    except Exception as exc:  # noqa: BLE001
        raise WorkerError(
            f"the factory {model['factory']} failed in the litert toolchain: {first_reason(exc)}",
            "hand the model over as a .pt2 (torch.export.save) or make the factory's imports available there",
        ) from None
    if isinstance(obj, tuple):
        obj = obj[0]
    return obj.eval()


def load_arrays(path: str | None) -> list:
    import numpy as np

    if not path:
        return []
    with np.load(path) as z:
        return [z[f"input_{i}"] for i in range(len(z.files))]


def litert_convert(model, example: tuple, quant_config=None) -> bytes:
    import litert_torch

    reason = None
    try:
        edge = (
            litert_torch.convert(model, example, quant_config=quant_config)
            if quant_config
            else litert_torch.convert(model, example)
        )
        return bytes(edge.model_content())
    except Exception as exc:  # noqa: BLE001
        reason = first_reason(exc)
    hint = "check the model exports with torch.export; try the executorch-* targets"
    if "Lowering not found" in reason:
        hint = (
            "litert-torch has no TFLite lowering for that op: rewrite it with supported ops, "
            "or build the executorch-* targets (portable kernels cover every aten op)"
        )
    raise WorkerError(f"litert-torch could not convert the model: {reason}", hint)


# -- quantization ----------------------------------------------------------------------------
def signature_input_names(model_bytes: bytes, count: int) -> list[str]:
    """The serving signature's input names in positional order (litert-torch names them args_K)."""
    from ai_edge_litert.interpreter import Interpreter

    names = list(Interpreter(model_content=model_bytes).get_signature_list()["serving_default"]["inputs"])
    positional = [f"args_{i}" for i in range(count)]
    return positional if set(positional) <= set(names) else names[:count]


def aeq_quantize(float_bytes: bytes, mode: str, calibration: list) -> tuple[bytes, dict]:
    from ai_edge_quantizer import quantizer, recipe, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName

    if mode == "fp16":
        rm = recipe_manager.RecipeManager()
        rm.add_weight_only_config(
            regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED, num_bits=16, algorithm_key=AlgorithmName.FLOAT_CASTING
        )
        rp, q = (
            rm.get_quantization_recipe(),
            {"weights": "float16", "activations": "float32", "recipe": "weight-only float16 (FLOAT_CASTING)"},
        )
    elif mode == "dynamic":
        rp, q = (
            recipe.dynamic_wi8_afp32(),
            {
                "weights": "int8 per-channel (dynamic range)",
                "activations": "float32, int8 at run time where kernels allow",
                "recipe": "dynamic_wi8_afp32",
            },
        )
    elif mode == "int8":
        rp, q = recipe.static_wi8_ai8(), {"weights": "int8 per-channel", "activations": "int8", "recipe": "static_wi8_ai8"}
    else:
        rp, q = recipe.static_wi8_ai16(), {"weights": "int8", "activations": "int16", "recipe": "static_wi8_ai16"}
    # From a file, not from bytes: litert-converter stores large constants after the flatbuffer
    # (buffer offsets), which ai-edge-quantizer resolves only when it reads a path ("Constant
    # buffer 1 specified an out of range offset" from bytes, measured on the MobileNetV2 example).
    float_path = os.path.abspath("float_for_quantizer.tflite")
    with open(float_path, "wb") as f:
        f.write(float_bytes)
    try:
        qz = quantizer.Quantizer(float_path, rp)
        result = None
        if qz.need_calibration:
            names = signature_input_names(float_bytes, len(calibration))
            n = int(calibration[0].shape[0])
            data = [{name: arr[i : i + 1] for name, arr in zip(names, calibration)} for i in range(n)]
            result = qz.calibrate({"serving_default": data}, num_threads=1)
            q["calibration_samples"] = n
        model = qz.quantize(result, enable_progress_report=False).quantized_model
    except Exception as exc:  # noqa: BLE001
        raise WorkerError(
            f"ai-edge-quantizer ({q['recipe']}) failed: {first_reason(exc)}",
            "try another target; static modes need every op to have an integer kernel",
        ) from None
    q["api"] = "ai-edge-quantizer on litert-torch's float model"
    return bytes(model), q


def pt2e_int8(model, example: tuple, calibration: list) -> tuple[bytes, dict]:
    import torch
    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    q = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    try:
        prepared = prepare_pt2e(torch.export.export(model, example, strict=False).module(), q)
        n = int(calibration[0].shape[0])
        with torch.no_grad():
            for i in range(n):
                prepared(*(torch.from_numpy(a[i : i + 1]) for a in calibration))
        converted = convert_pt2e(prepared, fold_quantize=False)
    except Exception as exc:  # noqa: BLE001
        raise WorkerError(
            f"PT2E quantization failed: {first_reason(exc)}", "use the default quantizer (option quantizer = 'ai-edge-quantizer')"
        ) from None
    return litert_convert(converted, example, QuantConfig(pt2e_quantizer=q)), {
        "weights": "int8 per-channel",
        "activations": "int8",
        "calibration_samples": n,
        "api": "litert-torch PT2EQuantizer (static, per-channel symmetric)",
    }


# -- the I/O interface -----------------------------------------------------------------------
def set_io(model_bytes: bytes, io_dtype: str) -> bytes:
    """Make every graph input/output ``io_dtype`` by adding the converting op at the boundary."""
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    T = schema.TensorType
    want = {"float32": T.FLOAT32, "int8": T.INT8, "uint8": T.UINT8, "int16": T.INT16}[io_dtype]
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(bytearray(model_bytes), 0))
    sg = model.subgraphs[0]
    if all(sg.tensors[i].type == want for i in list(sg.inputs) + list(sg.outputs)):
        return model_bytes  # nothing to change: keep the quantizer's bytes as written
    # ai-edge-quantizer stores constants of models > 256 KiB after the flatbuffer (buffer offset/size):
    # pull them back in, or repacking would drop them (offsets point past the new, shorter file).
    for buf in model.buffers:
        if buf.offset and buf.offset > 1:
            buf.data = np.frombuffer(model_bytes[buf.offset : buf.offset + buf.size], dtype=np.uint8)
            buf.offset, buf.size = 0, 0

    def opcode(builtin: int) -> int:
        for i, c in enumerate(model.operatorCodes):
            if max(c.builtinCode, c.deprecatedBuiltinCode) == builtin:
                return i
        c = schema.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = builtin, min(builtin, 127), 2
        model.operatorCodes.append(c)
        return len(model.operatorCodes) - 1

    def new_tensor(like, dtype: int, zp_shift: int) -> int:
        t = schema.TensorT()
        t.shape, t.shapeSignature, t.type = like.shape, like.shapeSignature, dtype
        t.name = (like.name.decode() if isinstance(like.name, bytes) else like.name) + f"_{io_dtype}"
        buf = schema.BufferT()
        model.buffers.append(buf)
        t.buffer = len(model.buffers) - 1
        if dtype != T.FLOAT32:
            t.quantization = schema.QuantizationParametersT()
            t.quantization.scale = list(like.quantization.scale)
            t.quantization.zeroPoint = [int(z) + zp_shift for z in like.quantization.zeroPoint]
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    def op(code: int, inp: int, out: int):
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = code, np.array([inp], dtype=np.int32), np.array([out], dtype=np.int32)
        return o

    front, back, replaced = [], [], {}
    for side in ("inputs", "outputs"):
        indices = list(getattr(sg, side))
        for k, idx in enumerate(indices):
            t = sg.tensors[idx]
            if t.type == want:
                continue
            if want == T.FLOAT32 and t.type in (T.INT8, T.INT16):
                new = new_tensor(t, T.FLOAT32, 0)
                code = opcode(schema.BuiltinOperator.QUANTIZE if side == "inputs" else schema.BuiltinOperator.DEQUANTIZE)
            elif want == T.UINT8 and t.type == T.INT8:
                new = new_tensor(t, T.UINT8, 128)
                code = opcode(schema.BuiltinOperator.QUANTIZE)
            else:
                raise WorkerError(
                    f"cannot give a {side[:-1]} of type {t.type} the I/O type {io_dtype}",
                    "choose the io_dtype the quantizer writes (int8), or float32",
                )
            if side == "inputs":
                front.append(op(code, new, idx))
            else:
                back.append(op(code, idx, new))
            indices[k] = replaced[idx] = new
        setattr(sg, side, np.array(indices, dtype=np.int32))
    sg.operators = front + list(sg.operators) + back
    for sig in model.signatureDefs or []:  # signature tensors follow the new boundary tensors
        for item in list(sig.inputs or []) + list(sig.outputs or []):
            item.tensorIndex = int(replaced.get(item.tensorIndex, item.tensorIndex))
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def io_types(model_bytes: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model_bytes)
    return sorted({str(d["dtype"].__name__) for d in it.get_input_details() + it.get_output_details()})


# -- main ------------------------------------------------------------------------------------
def convert(spec: dict) -> dict:
    import torch

    mode = spec["mode"]
    if mode not in MODES:
        raise WorkerError(f"unknown mode {mode!r}", f"choose one of: {', '.join(MODES)}")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    calibration = load_arrays(spec.get("calibration"))
    if mode in ("int8", "int16x8") and not calibration:
        raise WorkerError(f"mode {mode} needs calibration data", "pass --calibration")

    def model_and_example():
        progress(f"loading the model (torch {torch.__version__})")
        return load_model(spec), tuple(torch.from_numpy(a) for a in load_arrays(spec["example"]))

    warnings: list[str] = []
    quantizer = spec.get("quantizer") or "ai-edge-quantizer"
    if mode == "int8" and quantizer == "pt2e":
        model, example = model_and_example()
        progress("quantizing with PT2E and converting with litert-torch")
        model_bytes, quant = pt2e_int8(model, example, calibration)
    else:
        if spec.get("float_model") and os.path.isfile(spec["float_model"]):  # this build converted it already
            with open(spec["float_model"], "rb") as f:
                model_bytes = f.read()
        else:
            model, example = model_and_example()
            progress("converting with litert-torch")
            model_bytes = litert_convert(model, example)
            if spec.get("float_out"):
                with open(spec["float_out"], "wb") as f:
                    f.write(model_bytes)
        quant = {"weights": "float32", "activations": "float32"}
        if mode != "fp32":
            progress(f"quantizing ({mode}) with ai-edge-quantizer")
            model_bytes, quant = aeq_quantize(model_bytes, mode, calibration)
    io_dtype = spec.get("io_dtype") or "float32"
    if mode in ("int8", "int16x8"):
        model_bytes = set_io(model_bytes, io_dtype)
        quant["io_dtype"] = io_dtype
    with open(spec["out"], "wb") as f:
        f.write(model_bytes)
    versions = tool_versions()
    return {
        "quantization": {"mode": mode, **quant},
        "tool_versions": versions,
        "warnings": warnings,
        "converter": {
            "name": "litert-torch",
            "framework": "torch",
            "version": versions.get("litert-torch"),
            "quantizer": (quantizer if mode == "int8" else "ai-edge-quantizer") if mode != "fp32" else None,
        },
        "io_types": io_types(model_bytes),
    }


if __name__ == "__main__":
    main(convert)
