"""Run TensorFlow Lite's analyzer on models in one process (one TensorFlow import) for test_gpu_check.

``python -m tests.build_tf.gpu_probe OUT.json MODEL...`` writes, per model, the analyzer's text,
edgekit's parse of it and the op count read from the flatbuffer itself; plus whether this
TensorFlow's analyzer flags the canary, and the analyzer's text for a Flex-op model (the case
TensorFlow's own analyzer test expects to be flagged: "Not supported custom op FlexAddV2").
"""

from __future__ import annotations

import json
import os
import sys
import tempfile


def flex_model(path: str) -> None:
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.float32)])
    def func(x):
        return x + tf.cos(x)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([func.get_concrete_function()], func)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.SELECT_TF_OPS]
    with open(path, "wb") as f:
        f.write(conv.convert())


def fp32_model(path: str) -> None:
    """A small float CNN with a dynamic batch (conv, depthwise, pool, mean, dense, softmax), from a
    tf.function with constant weights, so any TensorFlow version converts it without Keras."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    w1 = tf.constant(rng.normal(0, 0.2, (3, 3, 3, 8)).astype(np.float32))
    dw = tf.constant(rng.normal(0, 0.2, (3, 3, 8, 1)).astype(np.float32))
    fc = tf.constant(rng.normal(0, 0.2, (8, 5)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32, name="image")])
    def net(x):
        h = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
        h = tf.nn.depthwise_conv2d(h, dw, [1, 1, 1, 1], "SAME")
        h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        h = tf.reduce_mean(h, axis=[1, 2])
        return tf.nn.softmax(tf.matmul(h, fc))

    with open(path, "wb") as f:
        f.write(tf.lite.TFLiteConverter.from_concrete_functions([net.get_concrete_function()]).convert())


def main(out_json: str, models: list[str]) -> None:
    from edgekit.inspect import gpu, load_tflite
    from edgekit.targets.base import capture_native_output

    os.environ.pop(gpu.ENV_PYTHON, None)  # this probe is about the TensorFlow installed here
    gpu._import_tf()
    tmp = tempfile.mkdtemp()
    extra = {"flex": os.path.join(tmp, "flex.tflite"), "fp32": os.path.join(tmp, "fp32.tflite")}
    with capture_native_output():
        flex_model(extra["flex"])
        fp32_model(extra["fp32"])
    result = {
        "analyzer_checks": gpu.analyzer_checks(),
        "models": {},
        "report_field": gpu.report_field(models[0]) if models else None,
    }
    for key, path in [(m, m) for m in models] + list(extra.items()):
        text = gpu.run_analyzer(path)
        parsed = gpu.parse(text)
        model = load_tflite(path)
        result["models"][key] = {
            "text": text,
            "parsed_ops": [o.to_dict() for o in parsed.ops],
            "flagged_nodes": {str(k): v for k, v in parsed.flagged_nodes.items()},
            "says_compatible": parsed.says_compatible,
            "flatbuffer_ops": [[sg.index, i, op.name] for sg in model.subgraphs for i, op in enumerate(sg.operators)],
        }
    with open(out_json, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
