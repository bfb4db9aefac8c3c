"""TensorFlow SavedModel directories, converted through their serving signature.

A SavedModel written by ``keras_model.export(dir)`` converts cleanly. One written by
``tf.saved_model.save(keras3_model, dir)`` does not: TFLiteConverter keeps its weights as resource
variables (VAR_HANDLE/READ_VARIABLE ops, ~30x slower, sometimes NaN). The TFLite target detects
that and freezes the signature instead; this loader only loads and describes the model.
"""

from __future__ import annotations

import os

from typing import Any

from edgekit.errors import EdgekitError, first_line
from edgekit.sources import SOURCES, InputSpec, Source, SourceLoader, hash_path, merge_inputs, source_name
from edgekit.sources.keras import TF_HINT

SIGNATURE = "serving_default"


def import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up chatter on stderr
    try:
        import tensorflow as tf
    except ImportError as exc:
        from edgekit.errors import EnvironmentMissing

        raise EnvironmentMissing(f"TensorFlow cannot be imported ({exc})", TF_HINT) from None
    return tf


def serving_signature(loaded: Any, ref: str, name: str = SIGNATURE):
    sigs = getattr(loaded, "signatures", {}) or {}
    if name not in sigs:
        have = ", ".join(sigs) or "none"
        raise EdgekitError(
            f"the SavedModel {ref} has no {name!r} signature (signatures: {have})",
            "export it with keras_model.export(dir) or save it with a serving signature",
        )
    return sigs[name]


def trace_signature(tf: Any, sig: Any, names: list[str], specs: list[InputSpec]) -> Any:
    """The serving signature called at exactly ``specs``, traced and frozen.

    A loaded signature cannot be retraced, so it is wrapped in a new function whose inputs have
    the fixed shapes; the converter inlines the call and its shape inference makes every tensor
    static (MobileNetV2: 65 ops, no -1 anywhere, also from an unfrozen tf.saved_model.save).
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    by_name = {s.name: s for s in specs}

    def call(**kwargs):
        return sig(**kwargs)

    sig_specs = {n: tf.TensorSpec(by_name[n].shape, tf.as_dtype(by_name[n].dtype), name=n) for n in names}
    return convert_variables_to_constants_v2(tf.function(call).get_concrete_function(**sig_specs))


class SavedModelLoader(SourceLoader):
    kind = "saved_model"

    def load(self, ref: str, inputs: list[InputSpec] | None, options: dict) -> Source:
        import numpy as np

        tf = import_tf()
        try:
            loaded = tf.saved_model.load(ref)
        except Exception as exc:
            first = first_line(exc)
            raise EdgekitError(
                f"cannot load the SavedModel {ref} ({first})", "check the directory is a complete SavedModel"
            ) from None
        sig_name = options.get("signature", SIGNATURE)
        sig = serving_signature(loaded, ref, sig_name)
        _, kwargs = sig.structured_input_signature
        names = sorted(kwargs)
        found = [
            InputSpec(n, [None if d is None else int(d) for d in kwargs[n].shape], str(np.dtype(kwargs[n].dtype.as_numpy_dtype)))
            for n in names
        ]
        specs = merge_inputs(inputs, found, ref)
        output_names = sorted(sig.structured_outputs)

        def predict(arrays: list) -> list:
            out = sig(**{n: tf.constant(a) for n, a in zip(names, arrays)})
            return [out[k] for k in output_names]

        return Source(
            kind="saved_model",
            framework="tf",
            ref=ref,
            name=source_name(ref),
            model=loaded,
            inputs=specs,
            output_names=output_names,
            content_hash=hash_path(ref),
            info={"tensorflow": tf.__version__, "signature": sig_name},
            predict_fn=predict,
            trace_fn=lambda specs: trace_signature(tf, sig, names, specs),
        )


SOURCES.register("saved_model", SavedModelLoader())
