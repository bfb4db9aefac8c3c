"""PT2E post-training quantization for XNNPACK: the ONE place its import path is spelled.

torch 2.13 / executorch 1.5.1 / torchao 0.18: ``torchao.quantization.pt2e.quantize_pt2e``
(``prepare_pt2e``, ``convert_pt2e``) with executorch's ``XNNPACKQuantizer``. The older
``torch.ao.quantization.quantize_pt2e`` no longer exists in torch 2.13. If a pin changes, change
the imports here and nowhere else.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

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


def quantize(
    exported_program: Any,
    example: Sequence[Any],
    calibration: Iterable[Sequence[Any]],
    *,
    per_channel: bool = True,
    dynamic: bool = False,
    on_sample: Any = None,
) -> tuple[Any, int]:
    """Quantize an ExportedProgram; returns the re-exported quantized program and the samples seen."""
    import torch

    XNNPACKQuantizer, get_config, prepare_pt2e, convert_pt2e = _imports()
    from edgekit.torchkit.export import first_reason

    from edgekit.torchkit.state import buffer_snapshot, restore_buffers

    quantizer = XNNPACKQuantizer().set_global(get_config(is_per_channel=per_channel, is_dynamic=dynamic))
    module = exported_program.module()
    fresh_buffers = buffer_snapshot(module)  # a stateful model's state before calibration ran it
    try:
        prepared = prepare_pt2e(module, quantizer)
    except Exception as exc:
        raise EdgekitError(f"PT2E prepare failed: {first_reason(exc)}", "try executorch-xnnpack-dynamic-int8 or fp32") from None
    seen = 0
    try:
        with torch.no_grad():
            for batch in calibration:
                prepared(*batch)
                seen += 1
                if on_sample:
                    on_sample()
    except Exception as exc:
        raise EdgekitError(
            f"calibration failed after {seen} sample(s): {first_reason(exc)}",
            "check the calibration data matches the model's inputs (shape, dtype, layout NCHW)",
        ) from None
    try:
        converted = convert_pt2e(prepared)
        restore_buffers(converted, fresh_buffers)  # the .pte starts from the fresh state, not the last sample's
        with torch.no_grad():
            return torch.export.export(converted, tuple(example), strict=False), seen
    except Exception as exc:
        raise EdgekitError(f"PT2E convert failed: {first_reason(exc)}", "try the fp32 or dynamic int8 target") from None
