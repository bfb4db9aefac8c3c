"""A plain Keras MobileNet-style model saved with ``model.save`` (dynamic batch), for static-shape tests.

Run as ``python -m tests.build_tf.static_models OUTDIR``: writes ``m.keras`` (MobileNetV2, alpha
0.35, 96x96, 10 classes, batch dimension None as Keras saves it), a SavedModel of it from
``model.export`` (``sm/``) and ``cal.npz`` (smooth synthetic images). Random weights made
realistic as in examples/keras_mobilenetv2 (BatchNorm statistics from one training-mode pass),
so int8 calibration sees activations of a normal range.
"""

from __future__ import annotations

import os
import sys

SIZE = 96


def images(n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    out = np.empty((n, SIZE, SIZE, 3), np.float32)
    for i in range(n):
        f = rng.uniform(1, 6, size=(3, 2))
        p = rng.uniform(0, 6.28, size=3)
        for c in range(3):
            out[i, :, :, c] = np.sin(f[c, 0] * 6.28 * xx + f[c, 1] * 6.28 * yy + p[c])
    return out  # in [-1, 1], what MobileNetV2 expects


def build(outdir: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), alpha=0.35, weights=None, classes=10)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(images(16, seed=1), training=True)  # BatchNorm statistics from data, not 0/1
    model.save(os.path.join(outdir, "m.keras"))
    model.export(os.path.join(outdir, "sm"), verbose=False)
    np.savez(os.path.join(outdir, "cal.npz"), x=images(120, seed=2))


if __name__ == "__main__":
    build(sys.argv[1])
