"""tflite-from-torch for real: litert-torch converts, the orchestrator checks, LiteRT invokes.

litert-torch is not in the pinned environment (constraints.txt): it needs typing_extensions < 4.13
and adds about 0.9 GB, so these tests skip there and run in a separate venv that has it (see
docs/pytorch.md, "tflite-from-torch"). The not-installed path is covered by test_targets.py.
"""

from __future__ import annotations

import os
from importlib.metadata import version

import numpy as np
import pytest

litert_torch = pytest.importorskip(
    "litert_torch",
    reason="litert-torch is not installed here (kept out of constraints.txt; see docs/pytorch.md, tflite-from-torch)",
)

import torch  # noqa: E402  (after the skip: nothing below is needed without litert-torch)

from edgekit import api  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.torch]

TARGET = "tflite-from-torch"


class SvdNet(torch.nn.Module):
    """An op litert-torch has no TFLite lowering for (aten._linalg_svd)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.svdvals(x)


def svd_net():
    return SvdNet().eval(), (torch.rand(1, 4, 4),)


@pytest.fixture(scope="module")
def digits_tflite(digits_dir, tmp_path_factory):
    """The digits CNN (a .pt2 exported program) built to tflite-from-torch alone, drift-checked on
    the 449 held-out digits by the orchestrator."""
    work, _ = digits_dir
    out = tmp_path_factory.mktemp("tflite_from_torch")
    report = api.build(os.path.join(str(work), "edgekit.toml"), targets=[TARGET], outdir=str(out))
    assert [e.target for e in report.entries] == [TARGET]
    return report, report.entries[0]


def test_digits_builds_and_passes_the_drift_check(digits_tflite):
    report, e = digits_tflite
    assert report.ok and e.status == "built", e.error
    path = os.path.join(report.outdir, e.file)
    assert os.path.getsize(path) == e.size_bytes > 100_000  # 47,540 float32 parameters
    assert e.tool_versions["litert-torch"] == version("litert-torch")
    assert e.tool_versions["litert-converter"] == version("litert-converter")
    assert e.tool_versions["torch"].startswith("2.13")
    assert e.quantization == {"scheme": "none", "dtype": "float32"}
    assert e.extra["converter"] == "litert-torch"
    assert e.extra["ops"].get("CONV_2D", 0) + e.extra["ops"].get("DEPTHWISE_CONV_2D", 0) == 3
    assert e.warnings == []
    # The PyTorch layout is kept at the boundary (litert-torch transposes inside the graph).
    assert e.inputs[0]["shape"] == [1, 1, 8, 8] and e.inputs[0]["dtype"] == "float32"
    assert e.outputs[0]["shape"] == [1, 10]
    acc = e.accuracy
    assert acc["samples"] == 449
    assert acc["cosine"] > 0.9999 and acc["max_abs_error"] < 1e-4, acc
    assert acc["top1_agreement"] == 1.0
    assert acc["reference_accuracy"] > 90.0 and abs(acc["accuracy_drop"]) <= 0.5, acc


def test_artifact_invokes_and_matches_eager_torch(digits_dir, digits_tflite):
    """Independent of the orchestrator: LiteRT's interpreter on held-out digits vs the eager model."""
    from ai_edge_litert.interpreter import Interpreter

    work, _ = digits_dir
    report, e = digits_tflite
    test = np.load(os.path.join(str(work), "test.npz"))
    x, y = test["pixels"][:64], test["y"][:64]
    model = torch.export.load(os.path.join(str(work), "digits_cnn.pt2")).module()  # exported at batch 1
    with torch.no_grad():
        expected = np.concatenate([model(torch.from_numpy(x[i:i + 1])).numpy() for i in range(len(x))])

    interp = Interpreter(model_path=os.path.join(report.outdir, e.file))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    got = []
    for sample in x:
        interp.set_tensor(inp["index"], sample[None])
        interp.invoke()
        got.append(interp.get_tensor(out["index"])[0].copy())
    got = np.stack(got)
    assert got.shape == expected.shape == (64, 10)
    assert np.abs(got - expected).max() < 1e-4
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert (got.argmax(1) == y).mean() > 0.9


def test_module_factory_source_converts(tmp_path):
    """An nn.Module factory (the .eval() branch; the digits test covers the .pt2 branch)."""
    report = api.build(source="tests.build_torch.models:tiny_cnn", targets=[TARGET], outdir=str(tmp_path))
    e = report.entries[0]
    assert e.status == "built", e.error
    assert e.accuracy["cosine"] > 0.9999 and e.accuracy["top1_agreement"] == 1.0


def test_op_without_lowering_fails_with_its_name(tmp_path):
    """The entry stays in the manifest, failed, naming the op and what to do instead."""
    report = api.build(source=f"{__name__}:svd_net", targets=[TARGET], outdir=str(tmp_path))
    e = report.entries[0]
    assert not report.ok and e.status == "failed"
    assert "litert-torch could not convert svd_net" in e.error["message"]
    assert "Lowering not found: aten._linalg_svd" in e.error["message"]
    assert "executorch-" in e.error["hint"]  # the targets whose portable kernels take every aten op
