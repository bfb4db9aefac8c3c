"""Build targets by name. Each target family is one module that registers its targets in TARGETS;
modules are imported only when one of their targets is asked for (TensorFlow and PyTorch are heavy)."""

from __future__ import annotations

from edgekit.registry import Registry

TARGETS: Registry = Registry("target")

for _name in ("tflite-fp32", "tflite-fp16", "tflite-dynamic", "tflite-int8", "tflite-int16x8", "tflite-from-torch"):
    TARGETS.declare(_name, "edgekit.targets.tflite")
TARGETS.declare("edgetpu", "edgekit.targets.edgetpu")
for _name in (
    "executorch-portable",
    "executorch-xnnpack",
    "executorch-xnnpack-int8",
    "executorch-xnnpack-dynamic-int8",
    "executorch-coreml",
    "executorch-xnnpack-int8-mixed",
):
    TARGETS.declare(_name, "edgekit.targets.executorch")
TARGETS.declare("ptl", "edgekit.targets.ptl")
TARGETS.declare("tflite-int8-mixed", "edgekit.targets.tflite_mixed")
TARGETS.declare("onnx-int8-mixed", "edgekit.targets.onnx_mixed")
for _name in "onnx onnx-int8 onnx-dynamic".split():
    TARGETS.declare(_name, "edgekit.targets.onnx")
