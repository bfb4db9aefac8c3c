"""A random-initialised Keras MobileNetV2 that behaves like a trained one, for size and latency.

No weights can be downloaded here. ``MobileNetV2(weights=None)`` alone has vanishing activations
(~1e-10 at the logits), which makes quantization ranges meaningless (int16x8 then fails to
allocate). Setting every BatchNorm's momentum to 0 and running one training-mode forward pass on
data makes the moving statistics those of real activations: the net then has unit-scale
activations like a trained model; the classifier head is scaled so its logits spread like a
trained model's. ``keras.utils.set_random_seed(0)`` makes the weights reproducible.

Factories for ``edgekit build --source mobilenetv2:realistic_mobilenetv2`` (with this folder on
PYTHONPATH) and a calibration generator ``mobilenetv2:calibration_images``.
"""

from __future__ import annotations

import numpy as np

SIZE = 224


def _images(n: int, seed: int) -> np.ndarray:
    """Smooth random images in [-1, 1] (MobileNetV2's input scaling): blurred noise, not static."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(-1.0, 1.0, size=(n, SIZE // 16, SIZE // 16, 3)).astype(np.float32)
    big = small.repeat(16, axis=1).repeat(16, axis=2)
    return np.clip(big + rng.normal(0, 0.1, size=big.shape).astype(np.float32), -1.0, 1.0)


def plain_mobilenetv2():
    """MobileNetV2(weights=None) as Keras creates it: vanishing activations (the trap)."""
    import keras

    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(weights=None, input_shape=(SIZE, SIZE, 3))


def realistic_mobilenetv2():
    import keras

    model = plain_mobilenetv2()
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    data = _images(8, seed=123)
    model(data, training=True)  # moving mean/var := statistics of real activations
    # A random classifier head gives near-equal logits, so softmax is ~1/1000 everywhere and no
    # class stands out (int8 output quantization then erases it). Scale the head so the logits
    # spread like a trained model's (std 3): the output has confident classes to agree on.
    head = model.get_layer("predictions")
    features = keras.Model(model.inputs, head.input)(data, training=False)
    kernel, bias = head.kernel.numpy(), head.bias.numpy()
    logits = np.asarray(features) @ kernel + bias
    scale = np.float32(3.0 / max(float(np.std(logits)), 1e-12))
    head.kernel.assign(kernel * scale)
    head.bias.assign(bias * scale)
    return model


def calibration_images():
    """Generator of calibration/evaluation samples (same distribution as the BatchNorm pass)."""
    for i in range(64):
        yield _images(1, seed=1000 + i)
