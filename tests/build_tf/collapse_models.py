"""A Keras factory for the collapse tests (``--source tests.build_tf.collapse_models:dense_model``)."""

from __future__ import annotations


def dense_model():
    """x[16] -> Dense(32, relu) -> Dense(8): a float model whose outputs vary with every input."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((16,), name="x")
    h = keras.layers.Dense(32, activation="relu")(inp)
    out = keras.layers.Dense(8, name="embedding")(h)
    return keras.Model(inp, out)
