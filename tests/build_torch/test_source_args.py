"""TorchScript forward() with constant arguments (--arg / [source] args), .jit files, the
interpreter's real error in the message, export advice that fits the requested targets, and
inputs named as the model's arguments in every manifest entry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def rate_file(tmp_path_factory):
    import torch

    from tests.build_torch.stateful import WithRate

    path = tmp_path_factory.mktemp("rate") / "rate.jit"
    torch.jit.save(torch.jit.script(WithRate()), str(path))
    return path


def test_constant_argument_from_the_flag_builds_and_runs(rate_file, tmp_path):
    """sr=8000 -> step 1: the .ptl keeps forward(x, sr) and the runtime passes the constant."""
    out = tmp_path / "out"
    proc = run_cli(
        "build", "--source", str(rate_file), "--input-shape", "x=1,8", "--arg", "sr=8000", "-t", "ptl", "-o", str(out), "--json"
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["args"] == {"sr": 8000}  # typed int from the signature, not the flag's text
    entry = next(e for e in manifest["artifacts"] if e["target"] == "ptl")
    assert entry["extra"]["constant_args"] == {"sr": 8000}

    from edgekit.runtimes import get_runtime
    from edgekit.runtimes.base import RunOptions

    session = get_runtime("ptl").load(str(out / "rate.ptl.ptl"), RunOptions())
    x = np.array([[-1, 2, -3, 4, -5, 6, -7, 8]], np.float32)
    session.set_inputs([x])
    session.invoke()
    assert np.array_equal(session.outputs()[0], np.maximum(x, 0))  # relu(x[:, ::1]): the constant arrived


def test_constant_argument_from_the_spec_file(rate_file, tmp_path):
    from edgekit.build.spec import load_spec
    from edgekit.sources import load_source

    toml = tmp_path / "edgekit.toml"
    toml.write_text(
        f'targets = ["ptl"]\n[source]\npath = "{rate_file}"\nargs = {{sr = 8000}}\n[[inputs]]\nname = "x"\nshape = [1, 8]\n'
    )
    spec = load_spec(str(toml))
    assert spec.source_args == {"sr": 8000}
    src = load_source(spec.source, None, spec.inputs, {"args": spec.source_args})
    assert [i.name for i in src.inputs] == ["x"]
    assert src.predict([np.ones((1, 8), np.float32)])[0].shape == (1, 8)


def test_missing_or_wrong_constant_is_one_line(rate_file, tmp_path):
    from edgekit.errors import EdgekitError
    from edgekit.sources import InputSpec, load_source

    base = ("build", "--source", str(rate_file), "--input-shape", "x=1,8", "-t", "ptl", "-o", str(tmp_path))
    assert_one_line_error(run_cli(*base), "'sr'", "--arg sr=")
    inputs = [InputSpec("x", [1, 8])]
    with pytest.raises(EdgekitError, match=r"'sr' .* is int, not 'fast'"):
        load_source(str(rate_file), None, inputs, {"args": {"sr": "fast"}})
    with pytest.raises(EdgekitError, match=r"no argument 'rate' \(forward takes: x, sr\)"):
        load_source(str(rate_file), None, inputs, {"args": {"rate": "8000"}})
    with pytest.raises(EdgekitError, match="take no constant arguments"):
        load_source("tests.build_torch.models:tiny_cnn", None, None, {"args": {"sr": 1}})


def test_interpreter_error_is_kept_not_cut_off(rate_file, tmp_path):
    """sr=16000 -> step 0 -> x[:, ::-1]: TorchScript's "slice step must be positive"."""
    line = assert_one_line_error(
        run_cli(
            "build", "--source", str(rate_file), "--input-shape", "x=1,8", "--arg", "sr=16000", "-t", "ptl", "-o", str(tmp_path)
        ),
        "slice step must be positive",
    )
    assert "The following operation failed" not in line


def test_jit_extension_is_torchscript(rate_file):
    from edgekit.sources import detect_kind, source_name

    assert detect_kind(str(rate_file)) == "torchscript"
    assert source_name(str(rate_file)) == "rate"


def test_export_advice_fits_the_requested_targets(tmp_path):
    from edgekit.torchkit.export import export_hint

    only_ptl = assert_one_line_error(
        run_cli("build", "--source", "tests.build_torch.models:data_dependent", "-t", "ptl", "-o", str(tmp_path)),
        "torch.export cannot trace",
        "torch.jit.script",
    )
    assert "build only the ptl target" not in only_ptl
    assert "ptl" not in export_hint(["executorch-xnnpack"])
    both = export_hint(["ptl", "executorch-xnnpack"])
    assert "executorch-xnnpack need it" in both and "torch.jit.script" in both


def test_inputs_without_stored_names_take_the_model_argument_names():
    """A .pte stores no input names (the runtime says input_0, input_1): the manifest uses the
    model's, in the artifact's order; names an artifact does store are kept."""
    from edgekit.build.verify import named_like_source

    pte = [{"name": "input_1", "shape": [1, 4]}, {"name": "input_0", "shape": [1, 8]}]
    assert [s["name"] for s in named_like_source(pte, ["audio", "mask"])] == ["mask", "audio"]
    stored = [{"name": "serving_default_audio:0"}, {"name": "input_1"}]
    assert named_like_source(stored, ["audio", "mask"]) == stored
