"""Bad inputs end in one ``edgekit:`` line that names the cause (no traceback)."""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.torch


def _build(tmp_path, source, *extra):
    return run_cli("build", "--source", source, "-t", "executorch-xnnpack", "-o", str(tmp_path), *extra)


def test_factory_module_not_found(tmp_path):
    assert_one_line_error(_build(tmp_path, "no_such_pkg.models:net"), "cannot import", "no_such_pkg")


def test_factory_function_not_found(tmp_path):
    assert_one_line_error(_build(tmp_path, "tests.build_torch.models:no_such_factory"), "no_such_factory")


def test_wrong_example_input(tmp_path):
    line = assert_one_line_error(_build(tmp_path, "tests.build_torch.models:wrong_example"), "example inputs")
    assert "[1, 3, 32, 32]" in line


def test_model_torch_export_cannot_trace(tmp_path):
    line = assert_one_line_error(_build(tmp_path, "tests.build_torch.models:data_dependent"), "torch.export cannot trace")
    assert "data_dependent" in line


def test_no_example_inputs_and_no_shapes(tmp_path):
    assert_one_line_error(_build(tmp_path, "tests.build_torch.models:no_example"), "no example inputs", "--input-shape")


def test_declared_shape_gives_the_example(tmp_path):
    from edgekit import api
    from edgekit.sources import InputSpec

    report = api.build(source="tests.build_torch.models:no_example", targets=["executorch-portable"],
                       outdir=str(tmp_path), inputs=[InputSpec("x", [1, 1, 8, 8])])
    assert report.ok, report.entries[0].error


def test_torchscript_source_builds_ptl_only(tmp_path):
    import torch

    from tests.build_torch.models import tiny_cnn

    model, example = tiny_cnn()
    ts = tmp_path / "tiny.pt"
    torch.jit.save(torch.jit.trace(model, example), str(ts))
    out = tmp_path / "out"
    proc = run_cli("build", "--source", str(ts), "--input-shape", "x=1,1,8,8", "-t", "executorch-xnnpack", "-o", str(out))
    assert_one_line_error(proc, "TorchScript", "ptl")
    proc = run_cli("build", "--source", str(ts), "--input-shape", "x=1,1,8,8", "-t", "ptl", "-o", str(out))
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_weights_are_never_unpickled(tmp_path):
    """A pickled arbitrary object is refused (weights_only=True), with a line that says why."""
    import pickle

    from edgekit.errors import EdgekitError
    from edgekit.sources.torch_module import load_weights

    bad = tmp_path / "evil.pth"
    bad.write_bytes(pickle.dumps({"w": object.__new__(type("Evil", (), {}))}) if False else pickle.dumps(print))
    with pytest.raises(EdgekitError, match="weights_only=True"):
        load_weights(str(bad))
