"""Fixtures for the ONNX tests: the shared RapidOCR models (read in place) and ONNX models built from code."""

from __future__ import annotations

import os

import pytest

from tests.conftest import SHARED

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

RAPIDOCR = SHARED / "testdata" / "onnx" / "rapidocr"
CLS = "ch_ppocr_mobile_v2.0_cls_infer.onnx"
DET = "ch_PP-OCRv4_det_infer.onnx"
REC = "ch_PP-OCRv4_rec_infer.onnx"


@pytest.fixture(scope="session")
def rapidocr():
    if not (RAPIDOCR / CLS).is_file():
        pytest.skip(f"shared RapidOCR models not found at {RAPIDOCR} (set EDGEKIT_SHARED)")
    return RAPIDOCR


def hand_counted_model(path: str) -> int:
    """A small model of Conv, ConvTranspose, Gemm and MatMul, with a dynamic batch and height, and
    its MACs at x=1,3,8,8 counted by hand. Returns the MACs."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def const(name, shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    inits = [
        const("w1", [4, 3, 3, 3]),
        const("wt", [4, 2, 2, 2]),
        const("wg", [128, 5]),
        const("wm", [5, 6]),
        numpy_helper.from_array(np.array([1, 128], dtype=np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),  # [1,4,4,4]
        helper.make_node("ConvTranspose", ["c1", "wt"], ["ct"], strides=[2, 2]),  # [1,2,8,8]
        helper.make_node("Reshape", ["ct", "flat"], ["f"]),  # [1,128]
        helper.make_node("Gemm", ["f", "wg"], ["g"]),  # [1,5]
        helper.make_node("MatMul", ["g", "wm"], ["y"]),  # [1,6]
    ]
    graph = helper.make_graph(
        nodes,
        "hand",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, path)
    conv = (1 * 4 * 4 * 4) * (3 * 3 * 3)  # every output element: C_in * kh * kw
    convt = (1 * 4 * 4 * 4) * (2 * 2 * 2)  # every input element scatters into C_out/g * kh * kw
    gemm = 1 * 128 * 5
    matmul = 1 * 5 * 6
    return conv + convt + gemm + matmul


@pytest.fixture(scope="session")
def hand_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("onnx") / "hand.onnx")
    return path, hand_counted_model(path)


@pytest.fixture(scope="session")
def digits_onnx(tmp_path_factory):
    """The PyTorch digits example built to onnx, onnx-int8 and onnx-dynamic (one build per session)."""
    pytest.importorskip("sklearn")
    pytest.importorskip("onnxscript")
    from edgekit import api
    from examples.torch_digits.digits import prepare

    work = tmp_path_factory.mktemp("torch_digits_onnx")
    info = prepare(str(work))
    report = api.build(
        os.path.join(str(work), "edgekit.toml"), targets=["onnx", "onnx-int8", "onnx-dynamic"], outdir=str(work / "artifacts")
    )
    entries = {e.target: e for e in report.entries}
    for e in entries.values():
        e.path = os.path.join(report.outdir, e.file) if e.file else None
    return work, info, entries
