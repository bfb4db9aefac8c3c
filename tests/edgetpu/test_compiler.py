"""The edgetpu_compiler wrapper: process handling and log parsing with a fake compiler on PATH.

The real compiler (x86-64 Linux, Coral's apt repository) is not installable here. The fake below
prints log text in the format documented in ../shared/docs/edgetpu-ops.md ("Compiler output", the
lines compiler 16 prints), with the counts of the real pairs in the test data (deeplab: 64 ops on
the Edge TPU, 8 on the CPU), and writes the real compiled twin as its output file, so the
post-compile checks read a genuine compiled model. One test runs the real compiler when present.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time

import pytest

from edgekit.edgetpu.compiler import compile_model, output_name, parse_log, parse_size
from edgekit.errors import CheckFailed, EnvironmentMissing
from tests.conftest import assert_one_line_error, run_cli

LOG_HEAD = """\
Edge TPU Compiler version 16.0.384591198
Started a compilation timeout timer of 180 seconds.
Model compiled successfully in 412 ms.
"""

LOG_MOBILENET = (
    LOG_HEAD
    + """\

Input model: {model}
Input size: 513.28KiB
Output model: {out}
Output size: 782.67KiB
On-chip memory used for caching model parameters: 662.25KiB
On-chip memory remaining for caching model parameters: 7.12MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 31
Operation log: {log}

Operator                       Count      Status

SOFTMAX                        1          Mapped to Edge TPU
AVERAGE_POOL_2D                1          Mapped to Edge TPU
CONV_2D                        15         Mapped to Edge TPU
DEPTHWISE_CONV_2D              13         Mapped to Edge TPU
RESHAPE                        1          Mapped to Edge TPU
"""
)

LOG_DEEPLAB = (
    LOG_HEAD
    + """\

Input model: {model}
Input size: 743.07KiB
Output model: {out}
Output size: 1.06MiB
On-chip memory used for caching model parameters: 563.25KiB
On-chip memory remaining for caching model parameters: 6.97MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 72
Operation log: {log}
Model successfully compiled but not all operations are supported by the Edge TPU. A percentage of the model will instead run on the CPU, which is slower. If possible, consider updating your model to use only operations supported by the Edge TPU. For details, visit g.co/coral/model-reqs.
Number of operations that will run on Edge TPU: 64
Number of operations that will run on CPU: 8

Operator                       Count      Status

CONV_2D                        36         Mapped to Edge TPU
CONV_2D                        2          More than one subgraph is not supported
DEPTHWISE_CONV_2D              17         Mapped to Edge TPU
ADD                            10         Mapped to Edge TPU
AVERAGE_POOL_2D                1          Mapped to Edge TPU
RESIZE_BILINEAR                3          Operation is otherwise supported, but not mapped due to some unspecified limitation
QUANTIZE                       1          More than one subgraph is not supported
CONCATENATION                  1          More than one subgraph is not supported
ARG_MAX                        1          Operation is working on an unsupported data type
"""
)

LOG_NOTHING_MAPPED = (
    LOG_HEAD
    + """\

Input model: {model}
Input size: 10.00KiB
Output model: {out}
Output size: 10.00KiB
On-chip memory used for caching model parameters: 0.00B
On-chip memory remaining for caching model parameters: 8.00MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 0
Total number of operations: 4
Operation log: {log}
Number of operations that will run on Edge TPU: 0
Number of operations that will run on CPU: 4

Operator                       Count      Status

CONV_2D                        1          Operation is working on an unsupported data type
FULLY_CONNECTED                1          Operation is working on an unsupported data type
"""
)

FAKE = '''\
#!{python}
"""A stand-in for edgetpu_compiler: prints $FAKE_LOG, writes $FAKE_OUTPUT as the compiled file."""
import os, shutil, sys, time
args = sys.argv[1:]
out_dir = args[args.index("-o") + 1]
model = args[-1]
segments = int(args[args.index("-n") + 1]) if "-n" in args else 1
with open(os.environ["FAKE_ARGS_FILE"], "w") as f:
    f.write(" ".join(args))
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
stem = os.path.splitext(os.path.basename(model))[0]
names = [stem + "_edgetpu.tflite"] if segments == 1 else [
    f"{{stem}}_segment_{{i}}_of_{{segments}}_edgetpu.tflite" for i in range(segments)]
log = open(os.environ["FAKE_LOG"]).read() if os.environ.get("FAKE_LOG") else ""
for name in names:
    print(log.format(model=os.path.basename(model), out=name, log=stem + "_edgetpu.log"), end="")
    if os.environ.get("FAKE_OUTPUT"):
        shutil.copy(os.environ["FAKE_OUTPUT"], os.path.join(out_dir, name))
if os.environ.get("FAKE_OUTPUT"):
    open(os.path.join(out_dir, stem + "_edgetpu.log"), "w").write("operation log\\n")
code = int(os.environ.get("FAKE_EXIT", "0"))
if code:
    print("ERROR: Didn't find op for builtin opcode 'QUANTIZE' version '3'", file=sys.stderr)
sys.exit(code)
'''


@pytest.fixture
def fake_compiler(tmp_path, monkeypatch):
    """Put a fake edgetpu_compiler first on PATH; returns a function to set its behaviour."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "edgetpu_compiler"
    exe.write_text(FAKE.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("EDGEKIT_EDGETPU_COMPILER", raising=False)
    monkeypatch.setenv("FAKE_ARGS_FILE", str(tmp_path / "args.txt"))

    def configure(log: str | None = None, output=None, exit_code: int = 0, sleep: float = 0.0):
        if log is not None:
            (tmp_path / "log.txt").write_text(log)
            monkeypatch.setenv("FAKE_LOG", str(tmp_path / "log.txt"))
        if output is not None:
            monkeypatch.setenv("FAKE_OUTPUT", str(output))
        else:
            monkeypatch.delenv("FAKE_OUTPUT", raising=False)
        monkeypatch.setenv("FAKE_EXIT", str(exit_code))
        monkeypatch.setenv("FAKE_SLEEP", str(sleep))
        return tmp_path / "args.txt"

    return configure


def test_parse_log_reads_every_documented_field():
    rep = parse_log(LOG_DEEPLAB.format(model="m.tflite", out="m_edgetpu.tflite", log="m_edgetpu.log"))
    assert rep.compiler_version == "16.0.384591198" and rep.success and rep.compile_ms == 412.0
    (seg,) = rep.segments
    assert seg.on_chip_used == parse_size("563.25KiB") == 576768
    assert seg.on_chip_remaining == int(round(6.97 * 2**20)) and seg.off_chip_used == 0
    assert seg.subgraphs == 1 and seg.total_ops == 72 and rep.ops_tpu == 64 and rep.ops_cpu == 8
    assert seg.output_model == "m_edgetpu.tflite" and seg.operation_log == "m_edgetpu.log"
    assert sum(r["count"] for r in seg.ops) == 72
    assert rep.cpu_ops()["RESIZE_BILINEAR"]["count"] == 3
    assert rep.cpu_ops()["CONV_2D"] == {"count": 2, "status": "More than one subgraph is not supported"}
    assert any("not all operations are supported" in m for m in rep.messages)
    # without the -s table or the per-device counts, the table alone gives the counts
    rep = parse_log(LOG_MOBILENET.format(model="m.tflite", out="o.tflite", log="l"))
    assert rep.ops_tpu == 31 and rep.ops_cpu == 0


def test_output_names_follow_the_compiler():
    assert output_name("/x/model.tflite") == "model_edgetpu.tflite"
    assert output_name("model.tflite", 3, 2) == "model_segment_2_of_3_edgetpu.tflite"


def test_compile_all_mapped(fake_compiler, coral_models, tmp_path):
    src = coral_models / "mobilenet_v1_0.25_128_quant.tflite"
    args_file = fake_compiler(LOG_MOBILENET, coral_models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite")
    out = tmp_path / "out"
    res = compile_model(str(src), str(out), min_runtime_version="13", timeout=60)
    assert res.outputs == [str(out / "mobilenet_v1_0.25_128_quant_edgetpu.tflite")]
    assert res.report.ops_tpu == 31 and not res.warnings
    assert res.log_file and os.path.exists(res.log_file)
    argv = args_file.read_text().split()
    assert argv[argv.index("-m") + 1] == "13" and "-s" in argv and argv[argv.index("-t") + 1] == "60"
    assert sorted(os.listdir(out)) == ["mobilenet_v1_0.25_128_quant_edgetpu.log", "mobilenet_v1_0.25_128_quant_edgetpu.tflite"]


def test_compile_command_partial_mapping_warns_with_the_preflight_reason(fake_compiler, coral_models, tmp_path):
    fake_compiler(LOG_DEEPLAB, coral_models / "deeplabv3_mnv2_dm05_pascal_quant_edgetpu.tflite")
    out = tmp_path / "out"
    proc = run_cli(
        "edgetpu",
        "compile",
        coral_models / "deeplabv3_mnv2_dm05_pascal_quant.tflite",
        "-o",
        out,
        "-s",
        env={"PATH": os.environ["PATH"]},
    )
    assert proc.returncode == 0, proc.stderr
    assert "agrees" in proc.stdout and "RESIZE_BILINEAR" in proc.stdout
    warnings = [l for l in proc.stderr.splitlines() if l.startswith("edgekit: warning:")]
    assert any("8 op(s) run on the CPU" in w for w in warnings)
    assert any("#64 RESIZE_BILINEAR runs on the CPU: RESIZE_BILINEAR upsamples 1x1 to 33x33" in w for w in warnings)
    import json

    doc = json.loads((out / "deeplabv3_mnv2_dm05_pascal_quant_edgetpu.report.json").read_text())
    assert doc["prediction_agreement"]["agree"] is True
    assert doc["compiler"]["segments"][0]["on_chip_used"] == 576768
    assert (out / "deeplabv3_mnv2_dm05_pascal_quant.edgetpu-preflight.json").exists()


def test_nonzero_exit_fails_and_leaves_nothing(fake_compiler, coral_models, tmp_path):
    fake_compiler(LOG_HEAD, coral_models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite", exit_code=1)
    out = tmp_path / "out"
    with pytest.raises(CheckFailed, match=r"exit status 1.*QUANTIZE' version '3'"):
        compile_model(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"), str(out))
    assert os.listdir(out) == []  # the work directory is removed, no half output published


def test_zero_mapped_ops_fail_even_with_exit_zero(fake_compiler, coral_models, tmp_path):
    fake_compiler(LOG_NOTHING_MAPPED, coral_models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite")
    with pytest.raises(CheckFailed, match="mapped no op"):
        compile_model(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"), str(tmp_path / "o"))
    fake_compiler(LOG_MOBILENET, None)  # exit 0 but no output file
    with pytest.raises(CheckFailed, match="wrote no mobilenet_v1_0.25_128_quant_edgetpu.tflite"):
        compile_model(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"), str(tmp_path / "o"))


def test_timeout_kills_the_compiler(fake_compiler, coral_models, tmp_path):
    fake_compiler(LOG_MOBILENET, coral_models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite", sleep=60)
    t0 = time.monotonic()
    with pytest.raises(CheckFailed, match="did not finish"):
        compile_model(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"), str(tmp_path / "o"), timeout=1, grace_s=0.5)
    assert time.monotonic() - t0 < 15


def test_segments_produce_one_file_each(fake_compiler, coral_models, tmp_path):
    args_file = fake_compiler(LOG_MOBILENET, coral_models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite")
    res = compile_model(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"), str(tmp_path / "o"), segments=2)
    assert [os.path.basename(p) for p in res.outputs] == [
        "mobilenet_v1_0.25_128_quant_segment_0_of_2_edgetpu.tflite",
        "mobilenet_v1_0.25_128_quant_segment_1_of_2_edgetpu.tflite",
    ]
    assert len(res.report.segments) == 2 and "-n 2" in args_file.read_text()


def test_without_the_compiler_one_line_and_the_preflight_is_written(coral_models, tmp_path, monkeypatch):
    proc = run_cli(
        "edgetpu",
        "compile",
        coral_models / "mobilenet_v1_0.25_128_quant.tflite",
        "-o",
        tmp_path,
        env={"PATH": "/nonexistent", "EDGEKIT_EDGETPU_COMPILER": ""},
    )
    line = assert_one_line_error(proc, "edgetpu_compiler is not installed", "x86-64 Linux", "edgetpu-compiler")
    assert proc.returncode == 3, line
    assert (tmp_path / "mobilenet_v1_0.25_128_quant.edgetpu-preflight.json").exists()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("EDGEKIT_EDGETPU_COMPILER", raising=False)
    with pytest.raises(EnvironmentMissing, match="not installed"):
        compile_model(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"), str(tmp_path))


def test_the_edgetpu_target_compiles_a_given_int8_file(fake_compiler, coral_models, tmp_path):
    from types import SimpleNamespace

    from edgekit.targets import TARGETS
    from edgekit.targets.base import BuildContext

    fake_compiler(LOG_MOBILENET, coral_models / "mobilenet_v1_0.25_128_quant_edgetpu.tflite")
    target = TARGETS.get("edgetpu")
    spec = SimpleNamespace(resolve=lambda p: p)
    ctx = BuildContext(
        SimpleNamespace(name="mnv1", framework="tf", kind="keras"),
        spec,
        "edgetpu",
        {"source": str(coral_models / "mobilenet_v1_0.25_128_quant.tflite")},
        None,
        str(tmp_path),
    )
    target.check(ctx)
    out = tmp_path / ".tmp-out.tflite"
    built = target.build(ctx, str(out))
    assert out.exists() and out.read_bytes()[4:8] == b"TFL3"
    assert built.tool_versions == {"edgetpu_compiler": "16.0.384591198"}
    assert built.extra["edgetpu"]["prediction_agreement"]["agree"] is True
    assert "not invoked" in built.extra["not_run"]  # no libedgetpu / Edge TPU here
    # no source and no tflite-int8 entry: a clear error
    ctx.options = {}
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError, match="needs a built tflite-int8 artifact"):
        target.build(ctx, str(out))


@pytest.mark.skipif(
    shutil.which("edgetpu_compiler") is None, reason="edgetpu_compiler is not installed (x86-64 Linux, Coral apt repository)"
)
def test_real_compiler_on_a_real_model(coral_models, tmp_path):
    res = compile_model(str(coral_models / "mobilenet_v1_0.25_128_quant.tflite"), str(tmp_path))
    assert res.report.compiler_version and res.report.ops_tpu == 31 and res.report.ops_cpu == 0
