"""The ``onnx2tf`` toolchain: ONNX -> TFLite with onnx2tf 1.29.24 (TensorFlow 2.19).

onnx2tf 1.29.x is the last release for Python 3.11 (2.x needs >= 3.12) and pins tensorflow 2.19.0,
tf-keras 2.19.0, numpy 1.26.4, onnx 1.19.1, onnxruntime 1.23.0, onnxsim 0.4.36, onnxoptimizer 0.4.2,
ai-edge-litert 2.1.0 and protobuf 4.25.5: none of which can share edgekit's main environment
(tensorflow-cpu 2.21, numpy 2.4, onnx 1.23). The lock is ``pip freeze`` of one install of those pins
with sne4onnx and sng4onnx.
"""

from edgekit.toolchains import TOOLCHAINS, Toolchain

ONNX2TF = TOOLCHAINS.register(
    "onnx2tf",
    Toolchain(
        name="onnx2tf",
        description="ONNX -> TFLite (onnx2tf 1.29.24, tensorflow 2.19.0, onnx 1.19.1, onnxruntime 1.23.0, onnxsim 0.4.36)",
        requirements="onnx2tf.txt",
        python="CPython 3.10-3.12 (tensorflow 2.19.0 wheels; tested on 3.11; onnx2tf 2.x needs >= 3.12 and is not this toolchain)",
        smoke="import onnx2tf, onnx, onnxruntime, onnxsim, tensorflow",
        python_min=(3, 10),
        python_max=(3, 12),
    ),
)
