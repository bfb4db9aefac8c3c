"""A small digits CNN with one quantization-hostile block, for testing quantization diagnosis/repair.

The network is trained briefly on scikit-learn's digits (8x8, ships inside the package: no download),
then one block is made hostile *without changing the float function*: output channel 0 of
``block2_conv`` is scaled by ``SCALE`` and the weights that read it in ``block3_conv`` by 1/SCALE.
The float model predicts exactly as before, but the tensor between the two layers now spans a range
``SCALE`` times wider in one channel, so per-tensor int8 activation quantization leaves the other
channels a handful of levels: full int8 loses accuracy, and the layer to blame is ``block2_conv``.

Factories for ``edgekit build --source hostile:hostile_cnn`` (this folder on PYTHONPATH) and
``hostile:digits_npz(path)`` to write calibration/evaluation data with labels.
"""

from __future__ import annotations

import numpy as np

SCALE = 3000.0
HOSTILE_LAYER = "block2_conv"


def digits(split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """Digits images as float32 NHWC (N, 8, 8, 1) in [0, 1], and labels; ``train``/``test`` split 80/20."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    cut = int(0.8 * len(x))
    idx = {"all": order, "train": order[:cut], "test": order[cut:]}[split]
    return x[idx], y[idx]


def _train(model, epochs: int = 15) -> None:
    x, y = digits("train")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)


def plain_cnn():
    """The trained CNN before the hostile rescale (full int8 keeps its accuracy)."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="block1_conv")(inp)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name=HOSTILE_LAYER)(h)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="block3_conv")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(32, activation="relu", name="fc1")(h)
    out = keras.layers.Dense(10, activation="softmax", name="predictions")(h)
    model = keras.Model(inp, out, name="hostile_cnn")
    _train(model)
    return model


def make_hostile(model, scale: float = SCALE):
    """Rescale channel 0 between block2_conv and block3_conv by ``scale`` (float function unchanged:
    ReLU is positively homogeneous, so relu(s*z) / s == relu(z))."""
    k2, b2 = model.get_layer(HOSTILE_LAYER).get_weights()
    k2, b2 = k2.copy(), b2.copy()
    k2[..., 0] *= scale
    b2[0] *= scale
    model.get_layer(HOSTILE_LAYER).set_weights([k2, b2])
    k3, b3 = model.get_layer("block3_conv").get_weights()
    k3 = k3.copy()
    k3[:, :, 0, :] /= scale
    model.get_layer("block3_conv").set_weights([k3, b3])
    return model


def hostile_cnn():
    """Build-source factory: the trained CNN with the hostile block."""
    return make_hostile(plain_cnn())


def digits_npz(path: str, split: str = "all") -> str:
    """Write digits as an .npz edgekit reads as calibration/evaluation data (input + labels)."""
    x, y = digits(split)
    np.savez(path, image=x, labels=y)
    return path
