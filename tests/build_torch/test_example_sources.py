"""The shipped PyTorch examples load as build sources (the Edge TPU path builds from the
MobileNetV2-like factory): names, shapes and a pristine model to convert."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.torch]  # MobileNetV2 at 224: ~15 s alone, a minute on a busy machine


def test_mobilenet_factory_is_a_build_source():
    import numpy as np

    from edgekit.sources import load_source
    from edgekit.torchkit.export import exported

    src = load_source("examples.torch_mobilenet.mobilenet:mobilenet_v2")
    assert [(i.name, i.shape, i.dtype) for i in src.inputs] == [("image", [1, 3, 224, 224], "float32")]
    assert src.stateful is False and src.output_names == ["output_0"]
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 224, 224)).astype(np.float32)
    out = src.predict([x])[0]
    assert out.shape == (2, 1000) and np.std(out) > 1e-3  # BatchNorm statistics kept activations alive
    ep = exported(src, ["executorch-xnnpack"])
    assert [s.arg.name for s in ep.graph_signature.input_specs if s.kind.name == "USER_INPUT"] == ["image"]
