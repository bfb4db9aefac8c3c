"""PT2E post-training quantization for XNNPACK: the ONE place its import path is spelled.

torch 2.13 / executorch 1.5.1 / torchao 0.18: ``torchao.quantization.pt2e.quantize_pt2e``
(``prepare_pt2e``, ``convert_pt2e``) with executorch's ``XNNPACKQuantizer``. The older
``torch.ao.quantization.quantize_pt2e`` no longer exists in torch 2.13. If a pin changes, change
the imports here and nowhere else.

Integer glue is never quantized. ``XNNPACKQuantizer.transform_for_annotation``
(``_convert_scalars_to_attrs``) replaces every scalar argument of ``aten.add``/``aten.mul`` with a
*float* buffer, including the int64 arithmetic of attention-mask and position-id builders
(``cumsum(mask) * mask + 1``): the result turns float and the embedding lookup it feeds fails in
calibration ("tensors used as indices must be long"), for static and dynamic configs alike. The
quantizer made here (:func:`make_quantizer`) runs that transform only on nodes whose result is a
floating-point tensor (``meta["val"].dtype``) and filters integer/bool nodes out of annotation.

Modules can be kept float (mixed precision): ``keep_float`` names PyTorch module paths (as in
``model.named_modules()``); the ops whose *innermost* module is one of them get no annotation, so
they run in float between a dequantize and a quantize. For leaf modules (Linear, LayerNorm) this
is ``set_module_name(path, None)``; for a container it keeps only the container's own ops (its
residual adds), not its children's, so that every op belongs to exactly one repair unit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from edgekit.errors import EdgekitError, EnvironmentMissing


def _imports():
    try:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError as exc:
        raise EnvironmentMissing(
            f"PT2E quantization is not available ({exc})",
            "install the pinned stack: pip install 'edgekit[torch]' (torchao 0.18, executorch 1.5.1)",
        ) from None
    return XNNPACKQuantizer, get_symmetric_quantization_config, prepare_pt2e, convert_pt2e


def quantization_scheme(per_channel: bool, dynamic: bool) -> dict:
    return {
        "scheme": "pt2e-xnnpack",
        "weights": "int8 symmetric " + ("per-channel" if per_channel else "per-tensor"),
        "activations": "int8 dynamic (per-call range)" if dynamic else "int8 static (calibrated)",
        "api": "torchao.quantization.pt2e.quantize_pt2e + XNNPACKQuantizer",
    }


def is_float_node(node: Any) -> bool:
    """True unless the node's recorded result is a tensor of integer or bool dtype.

    Nodes without a tensor ``val`` (get_attr, tuples) count as float: the annotators decide."""
    val = node.meta.get("val") if hasattr(node, "meta") else None
    dtype = getattr(val, "dtype", None)
    if dtype is None:
        return True
    return bool(dtype.is_floating_point or dtype.is_complex)


def module_path(node: Any) -> str:
    """The innermost PyTorch module path of a graph node ('' for the top-level module's own ops)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return path.removeprefix("L['self'].")


def _convert_float_scalars_to_attrs(model: Any) -> Any:
    """``_convert_scalars_to_attrs`` restricted to add/mul nodes with a floating-point result.

    Same buffers and fake values as the original for float nodes; integer arithmetic (mask and
    position-id builders) keeps its Python scalars and stays integer."""
    import torch
    from torchao.quantization.pt2e.utils import get_new_attr_name_with_prefix

    for n in model.graph.nodes:
        if n.op != "call_function" or n.target not in (torch.ops.aten.add.Tensor, torch.ops.aten.mul.Tensor):
            continue
        if not is_float_node(n):
            continue
        new_args = []
        for arg in n.args:
            if isinstance(arg, torch.fx.Node) or not isinstance(arg, (int, float)) or isinstance(arg, bool):
                new_args.append(arg)
                continue
            name = get_new_attr_name_with_prefix("_tensor_constant_")(model)
            value = torch.tensor(float(arg))
            model.register_buffer(name, value)
            with model.graph.inserting_before(n):
                attr = model.graph.create_node("get_attr", name, (), {})
                attr.meta["val"] = n.meta["val"].fake_mode.from_tensor(value, static_shapes=True)
            new_args.append(attr)
        n.args = tuple(new_args)
    model.recompile()
    return model


def make_quantizer(per_channel: bool = True, dynamic: bool = False, keep_float: Iterable[str] = ()) -> Any:
    """An XNNPACKQuantizer (global symmetric int8 config) that leaves integer glue and the
    ``keep_float`` module paths unquantized. See the module docstring for why."""
    XNNPACKQuantizer, get_config, _, _ = _imports()
    kept = frozenset(keep_float)

    class IntegerSafeXNNPACKQuantizer(XNNPACKQuantizer):
        def transform_for_annotation(self, model):
            return _convert_float_scalars_to_attrs(model)

        def annotate(self, model):
            model = super().annotate(model)
            _drop_integer_annotations(model)
            return model

    def keep(node: Any) -> bool:
        if not is_float_node(node):
            return False
        return not (kept and node.op == "call_function" and module_path(node) in kept)

    quantizer = IntegerSafeXNNPACKQuantizer().set_global(get_config(is_per_channel=per_channel, is_dynamic=dynamic))
    quantizer.set_filter_function(keep)
    return quantizer


def _drop_integer_annotations(model: Any) -> None:
    """Belt and braces after the annotators (``propagate_annotation`` can reach views of integer
    tensors): no observer ever sits on an integer or bool tensor."""
    key = "quantization_annotation"
    for n in model.graph.nodes:
        ann = n.meta.get(key)
        if ann is None:
            continue
        if not is_float_node(n):
            ann.output_qspec = None
        for inp in list(getattr(ann, "input_qspec_map", {}) or {}):
            if not is_float_node(inp):
                del ann.input_qspec_map[inp]


def prepare(exported_program: Any, quantizer: Any) -> Any:
    """``prepare_pt2e`` on the program's module, its failures as one line."""
    _, _, prepare_pt2e, _ = _imports()
    from edgekit.torchkit.export import first_reason

    try:
        return prepare_pt2e(exported_program.module(), quantizer)
    except Exception as exc:  # noqa: BLE001 - any PT2E failure becomes one line
        raise EdgekitError(f"PT2E prepare failed: {first_reason(exc)}", "try executorch-xnnpack-dynamic-int8 or fp32") from None


def calibrate(prepared: Any, calibration: Iterable[Sequence[Any]], on_sample: Callable[[], None] | None = None) -> int:
    import torch

    from edgekit.torchkit.export import first_reason

    seen = 0
    try:
        with torch.no_grad():
            for batch in calibration:
                prepared(*batch)
                seen += 1
                if on_sample:
                    on_sample()
    except Exception as exc:  # noqa: BLE001 - any PT2E failure becomes one line
        raise EdgekitError(
            f"calibration failed after {seen} sample(s): {first_reason(exc)}",
            "check the calibration data matches the model's inputs (shape, dtype, layout NCHW)",
        ) from None
    return seen


def convert(prepared: Any) -> Any:
    """``convert_pt2e``: the quantize-simulated module (q/dq around float ops), runnable eagerly."""
    _, _, _, convert_pt2e = _imports()
    from edgekit.torchkit.export import first_reason

    try:
        return convert_pt2e(prepared)
    except Exception as exc:  # noqa: BLE001 - any PT2E failure becomes one line
        raise EdgekitError(f"PT2E convert failed: {first_reason(exc)}", "try the fp32 or dynamic int8 target") from None


def simulate(
    exported_program: Any,
    calibration: Iterable[Sequence[Any]],
    *,
    per_channel: bool = True,
    dynamic: bool = False,
    keep_float: Iterable[str] = (),
    on_sample: Callable[[], None] | None = None,
) -> tuple[Any, int]:
    """(converted module, samples seen): the eager PT2E simulation the repair search scores."""
    prepared = prepare(exported_program, make_quantizer(per_channel, dynamic, keep_float))
    seen = calibrate(prepared, calibration, on_sample)
    return convert(prepared), seen


def quantize(
    exported_program: Any,
    example: Sequence[Any],
    calibration: Iterable[Sequence[Any]],
    *,
    per_channel: bool = True,
    dynamic: bool = False,
    on_sample: Any = None,
    keep_float: Iterable[str] = (),
) -> tuple[Any, int]:
    """Quantize an ExportedProgram; returns the re-exported quantized program and the samples seen."""
    from edgekit.torchkit.state import buffer_snapshot

    fresh_buffers = buffer_snapshot(exported_program.module())  # a stateful model's state before calibration
    converted, seen = simulate(
        exported_program, calibration, per_channel=per_channel, dynamic=dynamic, keep_float=keep_float, on_sample=on_sample
    )
    return export_converted(converted, example, fresh_buffers), seen


def export_converted(converted: Any, example: Sequence[Any], fresh_buffers: Any = None) -> Any:
    """Re-export a converted (quantize-simulated) module for lowering, from the fresh state."""
    import torch

    from edgekit.torchkit.export import first_reason
    from edgekit.torchkit.state import restore_buffers

    try:
        if fresh_buffers is not None:
            restore_buffers(converted, fresh_buffers)  # the .pte starts from the fresh state, not the last sample's
        with torch.no_grad():
            return torch.export.export(converted, tuple(example), strict=False)
    except Exception as exc:  # noqa: BLE001 - any PT2E failure becomes one line
        raise EdgekitError(f"PT2E convert failed: {first_reason(exc)}", "try the fp32 or dynamic int8 target") from None
