"""Small Keras factories for build tests (imported by `edgekit build --source tests.build_tf.models:NAME`)."""

from __future__ import annotations


def cumsum_model():
    """Converts to float TFLite, but CUMSUM has no int8 kernel: full-integer conversion must fail."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((16,), name="x")
    h = keras.layers.Dense(16)(inp)
    out = keras.ops.cumsum(h, axis=-1)
    return keras.Model(inp, out)


def two_output_model():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((6,), name="x")
    a = keras.layers.Dense(4, activation="softmax", name="probs")(inp)
    b = keras.layers.Dense(2, name="reg")(inp)
    return keras.Model(inp, [a, b])


def not_a_model():
    return "hello"


def sample_generator():
    """A calibration generator: dict samples keyed by input name, with labels."""
    import numpy as np

    for i in range(10):
        yield {"x": np.full((16,), float(i), np.float32), "label": i % 3}
