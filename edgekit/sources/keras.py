"""Keras 3 models: a ``.keras``/``.h5`` file, or a ``keras.Model`` returned by a factory.

The Keras object itself is kept (not a SavedModel of it): converting from the Keras model is what
gives the compact, frozen TFLite graph (see docs/build.md on the ``tf.saved_model.save`` trap).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from typing import Any

from edgekit.errors import EdgekitError, EnvironmentMissing, first_line
from edgekit.sources import SOURCES, InputSpec, Source, SourceLoader, hash_path, merge_inputs, source_name

TF_HINT = "install TensorFlow: pip install 'edgekit[tf]' (tensorflow-cpu 2.21)"


def import_keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up chatter on stderr
    try:
        import keras  # noqa: F401  (Keras 3 imports its backend, TensorFlow here)
    except ImportError as exc:
        raise EnvironmentMissing(f"Keras/TensorFlow cannot be imported ({exc})", TF_HINT) from None
    return keras


def weights_hash(model: Any) -> str:
    """Architecture + weights: what decides the converted artifact for an in-memory model."""
    h = hashlib.sha256()
    try:
        h.update(model.to_json().encode())
    except Exception:  # subclassed models have no config
        h.update(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    for w in model.weights:
        arr = w.numpy()
        h.update(w.path.encode() if hasattr(w, "path") else w.name.encode())
        h.update(str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def peek_input_names(ref: str) -> list[str] | None:
    """Input names of a ``.keras`` file from its config.json, without importing Keras.

    A functional model lists its input layers (``[name, 0, 0]``, a list of those, or a dict);
    anything else (``.h5``, Sequential, subclassed) gives None and the check waits for the load.
    """
    try:
        with zipfile.ZipFile(ref) as z:
            config = json.loads(z.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    layers = (config.get("config") or {}).get("input_layers") if isinstance(config, dict) else None
    if isinstance(layers, dict):
        layers = list(layers.values())
    if isinstance(layers, list) and layers and isinstance(layers[0], str):
        layers = [layers]
    if not isinstance(layers, list) or not all(isinstance(l, list) and l and isinstance(l[0], str) for l in layers):
        return None
    return [l[0] for l in layers]


def trace_keras(model: Any, specs: list[InputSpec]) -> Any:
    """The model's inference call traced at exactly ``specs`` and frozen (variables -> constants).

    ``from_keras_model`` keeps the model's own signature, so a dynamic batch stays -1 in the
    artifact's shape_signature whatever shape calibration used; tracing at fixed shapes is what
    makes the artifact static (the Edge TPU compiler and the GPU delegate need that). Converted
    without a trackable object: with one, TF 2.21 keeps the weights as variables.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    def call(*xs):
        return model(xs[0] if len(xs) == 1 else list(xs), training=False)

    sig = [tf.TensorSpec(s.shape, tf.as_dtype(s.dtype), name=s.name) for s in specs]
    return convert_variables_to_constants_v2(tf.function(call).get_concrete_function(*sig))


def keras_source(model: Any, ref: str, kind: str, inputs: list[InputSpec] | None, content_hash: str) -> Source:
    import numpy as np

    keras = import_keras()
    found: list[InputSpec] = []
    try:
        model_inputs = list(model.inputs)
    except (AttributeError, ValueError):
        model_inputs = []
    for i, t in enumerate(model_inputs):
        shape = [None if d is None else int(d) for d in t.shape]
        name = getattr(t, "name", None) or f"input_{i}"
        found.append(InputSpec(str(name).split(":")[0], shape, str(np.dtype(t.dtype))))
    if not found:
        if not inputs:
            raise EdgekitError(
                f"{ref} does not say its input shapes (a subclassed Keras model)",
                "declare them with --input-shape NAME=1,32,32,3 or [[inputs]] in edgekit.toml",
            )
        specs = inputs
        model(*[np.zeros(s.shape, dtype=s.dtype) for s in specs])  # builds the model's weights
    else:
        specs = merge_inputs(inputs, found, ref)
    try:
        output_names = [str(n) for n in model.output_names]
    except Exception:
        output_names = []

    def predict(arrays: list) -> list:
        out = model(arrays[0] if len(arrays) == 1 else list(arrays), training=False)
        if isinstance(out, dict):
            out = [out[k] for k in sorted(out)]
        return list(out) if isinstance(out, (list, tuple)) else [out]

    return Source(
        kind="keras",
        framework="tf",
        ref=ref,
        name=source_name(ref) if kind != "factory" else ref.split(":")[1],
        model=model,
        inputs=specs,
        output_names=output_names,
        content_hash=content_hash,
        info={"keras": keras.__version__, "params": int(model.count_params()), "loaded_from": kind},
        predict_fn=predict,
        trace_fn=lambda specs: trace_keras(model, specs),
    )


class KerasLoader(SourceLoader):
    kind = "keras"

    def peek_input_names(self, ref: str) -> list[str] | None:
        return peek_input_names(ref)

    def load(self, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        keras = import_keras()
        if os.path.isdir(ref):
            raise EdgekitError(f"{ref} is a directory, not a Keras file", "give a .keras or .h5 file, or a SavedModel directory")
        try:
            model = keras.saving.load_model(ref, compile=False)
        except Exception as exc:
            first = first_line(exc)
            raise EdgekitError(
                f"cannot load the Keras model {ref} ({first})",
                "check that the file is a complete .keras/.h5 model saved by Keras 3 (model.save)",
            ) from None
        return keras_source(model, ref, "file", inputs, hash_path(ref))

    def from_object(self, obj: Any, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        return keras_source(obj, ref, "factory", inputs, weights_hash(obj))


SOURCES.register("keras", KerasLoader())
