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

    report = api.build(
        source="tests.build_torch.models:no_example",
        targets=["executorch-portable"],
        outdir=str(tmp_path),
        inputs=[InputSpec("x", [1, 1, 8, 8])],
    )
    assert report.ok, report.entries[0].error
    _check_built(tmp_path, report.entries, "executorch-portable", "pte", [1, 1, 8, 8])


def _check_built(outdir, entries, target: str, fmt: str, shape: list[int]) -> None:
    """The one built entry is that target's, its file is on disk with the recorded hash and size,
    and its input is the declared shape (what the build checked by running it)."""
    import json
    import os

    from edgekit.build.artifacts import sha256_file

    assert [(e.target, e.status, e.format) for e in entries] == [(target, "built", fmt)]
    entry = entries[0]
    path = os.path.join(outdir, entry.file)
    assert entry.file.endswith("." + fmt) and os.path.getsize(path) == entry.size_bytes > 0
    assert sha256_file(path) == entry.sha256
    assert [i["shape"] for i in entry.inputs] == [shape] and entry.outputs
    assert entry.accuracy, "the artifact was never compared with the source"
    manifest = json.load(open(os.path.join(outdir, "manifest.json")))
    assert [a["target"] for a in manifest["artifacts"]] == [target]


def test_torchscript_source_builds_ptl_only(tmp_path):
    import torch

    from tests.build_torch.models import tiny_cnn

    model, example = tiny_cnn()
    ts = tmp_path / "tiny.pt"
    torch.jit.save(torch.jit.trace(model, example), str(ts))
    out = tmp_path / "out"
    proc = run_cli("build", "--source", str(ts), "--input-shape", "x=1,1,8,8", "-t", "executorch-xnnpack", "-o", str(out))
    assert_one_line_error(proc, "TorchScript", "ptl")
    assert not out.exists() or not list(out.glob("*.pte"))  # the refused target wrote nothing
    proc = run_cli("build", "--source", str(ts), "--input-shape", "x=1,1,8,8", "-t", "ptl", "-o", str(out))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    from edgekit.build.artifacts import Manifest

    _check_built(out, list(Manifest.load(str(out), missing_ok=False).entries.values()), "ptl", "ptl", [1, 1, 8, 8])
    assert not list(out.glob("*.pte"))


def test_every_export_target_refuses_torchscript_the_same_way(tmp_path):
    """Target.needs_export is the one record: each target that builds from torch.export refuses a
    TorchScript source with the same line, before anything heavy runs; ptl (which takes it) does not."""
    from types import SimpleNamespace

    from edgekit.errors import EdgekitError
    from edgekit.targets import TARGETS
    from edgekit.targets.base import BuildContext

    source = SimpleNamespace(kind="torchscript", framework="torch", name="tiny")
    exporting = [n for n in TARGETS.names() if TARGETS.get(n).needs_export]
    assert {"executorch-xnnpack", "executorch-portable", "onnx", "onnx-int8"} <= set(exporting)
    assert "ptl" not in exporting and not any(n.startswith("tflite") for n in exporting)
    for name in exporting:
        ctx = BuildContext(source=source, spec=None, target=name, options={}, calibration=object(), outdir=str(tmp_path))
        with pytest.raises(EdgekitError) as err:
            TARGETS.get(name).check(ctx)
        assert err.value.line() == (
            f"edgekit: target {name} needs a torch.export-able model; TorchScript files only build the ptl target; "
            "give the nn.Module factory (package.module:function) or a .pt2 exported program"
        )


def test_weights_are_never_unpickled(tmp_path):
    """A pickled arbitrary object is refused (weights_only=True), with a line that says why."""
    import pickle

    from edgekit.errors import EdgekitError
    from edgekit.sources.torch_module import load_weights

    bad = tmp_path / "evil.pth"
    bad.write_bytes(pickle.dumps({"w": object.__new__(type("Evil", (), {}))}) if False else pickle.dumps(print))
    with pytest.raises(EdgekitError, match="weights_only=True"):
        load_weights(str(bad))
