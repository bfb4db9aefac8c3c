"""Batch bench behaves like hyperfine: every model runs, failures are rows, results are kept.

The failing models are real: a truncated copy of a Coral model, Coral's own model with a custom op
no runtime has (model_invoking_error.tflite: fake-op-double), Coral's split_concat.tflite with one
byte changed, which makes the TFLite runtime itself segfault (found by mutating it), and a worker
that dies by a signal in the middle of its timed runs (tests/crashhook/sitecustomize.py, injected
from outside through PYTHONPATH; edgekit ships no test hook).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3

import pytest

from edgekit.commands import _batch
from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.results import schema
from tests.conftest import ROOT, assert_one_line_error, run_cli

pytest.importorskip("ai_edge_litert")

FAST = ("--warmup", "1", "--min-runs", "5", "--min-time", "0.05", "--threads", "1")
HOOK = ROOT / "tests" / "crashhook"


def crash_env(word: str = "segv") -> dict:
    return {"PYTHONPATH": f"{ROOT}:{HOOK}", "EDGEKIT_TEST_CRASH": word}


# split_concat.tflite with byte 210 (20 in the file, part of a tensor's shape/index table) set to 0:
# ai-edge-litert 2.3.0 dies by SIGSEGV in allocate/invoke. Found by a seeded mutation run.
SEGV_OFFSET, SEGV_WAS = 210, 20


def real_segfault(coral_models, where):
    data = bytearray((coral_models / "split_concat.tflite").read_bytes())
    assert data[SEGV_OFFSET] == SEGV_WAS, "split_concat.tflite changed; find a new crashing byte"
    data[SEGV_OFFSET] = 0
    where.write_bytes(bytes(data))
    return where


@pytest.fixture
def batch(coral_models, tmp_path):
    """good, truncated, unsupported custom op, runtime segfault, worker killed mid-run, good."""
    good_a = coral_models / "mobilenet_v1_0.25_128_quant.tflite"
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(good_a.read_bytes()[:20_000])
    crash = tmp_path / "crash-segv.tflite"
    shutil.copyfile(coral_models / "split_concat.tflite", crash)
    return [
        good_a,
        cut,
        coral_models / "model_invoking_error.tflite",
        real_segfault(coral_models, tmp_path / "byte210.tflite"),
        crash,
        coral_models / "split_concat.tflite",
    ]


def test_failing_middle_models_keep_the_others_results(batch, tmp_path):
    out, hist = tmp_path / "out.json", tmp_path / "h.sqlite"
    proc = run_cli("bench", *batch, *FAST, "-o", out, "--history", hist, env=crash_env())
    assert proc.returncode == 1, proc.stderr  # some artifact failed
    assert "Traceback" not in proc.stderr

    saved = json.loads(out.read_text())
    assert [r["artifact"]["name"] for r in saved] == ["mobilenet_v1_0.25_128_quant.tflite", "split_concat.tflite"]
    for r in saved:
        assert schema.validate(r)["status"] == "ok"
    with sqlite3.connect(hist) as db:
        rows = [r[0] for r in db.execute("SELECT artifact_name FROM runs WHERE status='ok' ORDER BY id")]
    assert rows == ["mobilenet_v1_0.25_128_quant.tflite", "split_concat.tflite"]

    # One line per failure, each naming its model; the crash names its signal and nothing else.
    errors = [l for l in proc.stderr.splitlines() if l.startswith("edgekit:")]
    assert len(errors) == 4, proc.stderr
    assert errors[0].endswith("[cut.tflite]") and "corrupt" in errors[0]
    assert "fake-op-double" in errors[1]
    for crash, name in zip(errors[2:], ("byte210.tflite", "crash-segv.tflite")):
        assert "killed by SIGSEGV" in crash and crash.endswith(f"[{name}]")
        assert "edgekit inspect" in crash and "--no-xnnpack" in crash
    assert "torchao" not in proc.stderr  # the runtime's log stays out of the message (--debug shows it)

    # The closing table: every model a row, measured ones by p50 with a ratio, failures last.
    table = proc.stdout[proc.stdout.index("Summary (sorted by p50)") :]
    order = [
        table.index(name)
        for name in (
            "split_concat.tflite",
            "mobilenet_v1_0.25_128_quant.tflite",
            "cut.tflite",
            "model_invoking_error.tflite",
            "byte210.tflite",
            "crash-segv.tflite",
        )
    ]
    assert order == sorted(order)
    assert "split_concat.tflite ran " in table and " times faster than mobilenet_v1_0.25_128_quant.tflite" in table
    assert "4 of 6 failed" in table


def test_results_are_written_as_each_model_finishes(batch, tmp_path, monkeypatch, capsys):
    """When the third model starts, -o already holds the first result (real measurements; the
    spy only reads the file)."""
    from edgekit import cli
    from edgekit.commands import bench

    out = tmp_path / "out.json"
    seen = []
    real = bench.measure_one

    def spy(path, opts, timeout):
        seen.append(json.loads(out.read_text()) if out.exists() else None)
        return real(path, opts, timeout)

    monkeypatch.setattr(bench, "measure_one", spy)
    monkeypatch.setenv("EDGEKIT_HISTORY", "off")
    code = cli.main(["bench", str(batch[0]), str(batch[2]), str(batch[4]), *FAST, "-o", str(out)])
    assert code == 1
    assert seen[0] is None
    assert [r["artifact"]["name"] for r in seen[1]] == [batch[0].name]
    assert [r["artifact"]["name"] for r in seen[2]] == [batch[0].name]  # the failure added nothing
    assert len(json.loads(out.read_text())) == 2


def test_crash_of_a_pte_is_one_line_with_the_pte_next_step(tmp_path):
    if importlib.util.find_spec("executorch") is None:  # the worker's describe() needs it installed
        pytest.skip("executorch is not installed")
    pte = tmp_path / "crash-segv.pte"
    pte.write_bytes(b"\0\0\0\0ET12" + b"\0" * 64)  # recognised as a .pte; the hook kills the worker on load
    line = assert_one_line_error(run_cli("bench", pte, *FAST, env=crash_env()), "killed by SIGSEGV", "crash-segv.pte")
    assert "inspect" not in line and "--no-xnnpack" not in line and "torchao" not in line
    assert "executorch" in line
    debug = run_cli("--debug", "bench", pte, *FAST, env=crash_env())
    assert debug.returncode == 1
    assert "--- log tail ---" in debug.stderr and "torchao" in debug.stderr  # the runtime's own log, kept


def test_real_runtime_segfault_alone_is_one_line(coral_models, tmp_path):
    model = real_segfault(coral_models, tmp_path / "byte210.tflite")
    proc = run_cli("bench", model, *FAST, "--json")
    assert_one_line_error(proc, "byte210.tflite was killed by SIGSEGV", "edgekit inspect")
    assert proc.returncode == 1 and proc.stdout == ""  # a crash is a failed measurement, not "bad input"


def test_crash_by_abort_names_sigabrt(coral_models, tmp_path):
    model = tmp_path / "crash-segv.tflite"
    shutil.copyfile(coral_models / "split_concat.tflite", model)
    proc = run_cli("bench", model, *FAST, "--json", env={**crash_env(), "EDGEKIT_TEST_CRASH_SIGNAL": "SIGABRT"})
    assert proc.returncode == 1
    line = assert_one_line_error(proc, "killed by SIGABRT")
    assert "edgekit inspect" in line and "--no-xnnpack" in line  # the .tflite record's next step


def test_every_model_failing_keeps_the_reason_status(coral_models, tmp_path):
    """A batch where all failed for bad input exits 2; one where some ran exits 1."""
    cut = tmp_path / "cut.tflite"
    cut.write_bytes((coral_models / "split_concat.tflite").read_bytes()[:300])
    out = tmp_path / "o.json"
    proc = run_cli("bench", cut, coral_models / "model_invoking_error.tflite", *FAST, "-o", out)
    assert proc.returncode == 2, proc.stderr
    assert json.loads(out.read_text()) == []  # nothing measured: an earlier file is not left standing
    assert run_cli("bench", cut, coral_models / "split_concat.tflite", *FAST).returncode == 1


def test_json_lists_failures_with_their_error(coral_models, tmp_path):
    proc = run_cli("bench", coral_models / "model_invoking_error.tflite", coral_models / "split_concat.tflite", *FAST, "--json")
    assert proc.returncode == 1
    docs = json.loads(proc.stdout)
    assert [d["status"] for d in docs] == ["error", "ok"]
    for d in docs:
        schema.validate(d)
    assert "fake-op-double" in docs[0]["error"]["message"]


# ---- flags checked before anything runs (no worker is started) ----


@pytest.mark.parametrize(
    "flags, needle",
    [
        (("--threads", "100000"), "between 1 and 256"),
        (("--threads", "0"), "--threads"),
        (("--timeout", "-5"), "--timeout must be a positive"),
        (("--timeout", "0"), "--timeout"),
        (("--min-runs", "5", "--max-runs", "1"), "--max-runs 1 is below --min-runs 5"),
        (("--warmup", "-1"), "--warmup"),
        (("--min-time", "-1"), "--min-time"),
    ],
)
def test_out_of_range_flags_are_one_line(coral_models, flags, needle):
    proc = run_cli("bench", coral_models / "split_concat.tflite", *flags)
    assert_one_line_error(proc, needle)
    assert proc.returncode == 2 and "Benchmark:" not in proc.stdout


def test_missing_path_in_a_batch_stops_before_measuring(coral_models, tmp_path):
    proc = run_cli("bench", coral_models / "split_concat.tflite", tmp_path / "typo.tflite")
    assert_one_line_error(proc, "no such file", "typo.tflite", "nothing was measured")
    assert proc.returncode == 2 and "Benchmark:" not in proc.stdout


# ---- the arithmetic, on samples of known ratio ----


def _result(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"status": "ok", "samples_ms": samples, "latency_ms": {"p50": s[len(s) // 2], "std": 0.0}}


def test_ratio_recovers_a_known_slowdown():
    import random

    rng = random.Random(0)
    base = [1.0 + rng.gauss(0, 0.02) for _ in range(2001)]
    slow = [1.84 * x for x in base]
    r, s = _batch.ratio(_result(slow), _result(base))
    assert r == pytest.approx(1.84, rel=1e-9)
    # Each side's robust sigma is ~2% of its p50, so the propagated spread is 1.84 * 2% * sqrt(2).
    assert s == pytest.approx(1.84 * 0.02 * 2**0.5, rel=0.1)
    stalled = base[:-20] + [50.0] * 20  # 1% of runs stalled: the std explodes, the robust sigma does not
    assert _batch.robust_sigma(_result(stalled)) == pytest.approx(0.02, rel=0.15)


def test_summary_lines_and_exit_status():
    fast, slow = _result([1.0, 1.0, 1.1]), _result([2.0, 2.0, 2.2])
    rows = [
        _batch.Row("a", slow, label="a"),
        _batch.Row("b", fast, label="b"),
        _batch.Row("c", None, EdgekitError("broken"), label="c"),
    ]
    assert _batch.summary_lines(rows) == ["b ran 2.00 ± 0.00 times faster than a"]
    assert [r.label for r in _batch.ordered(rows)] == ["b", "a", "c"]
    assert _batch.exit_status(rows) == 1
    assert _batch.exit_status(rows[:2]) == 0
    assert _batch.exit_status([rows[2]]) == 2
    assert _batch.exit_status([_batch.Row("d", None, EnvironmentMissing("no runtime"), label="d")]) == 3
    crashed = EdgekitError("killed by SIGSEGV", exit_code=1)
    assert _batch.exit_status([_batch.Row("e", None, crashed, label="e")]) == 1  # a crash is not "bad input"


def test_same_named_models_are_told_apart(tmp_path):
    a, b = tmp_path / "x" / "model.tflite", tmp_path / "y" / "model.tflite"
    la, lb = _batch.labels([str(a), str(b)])
    assert la != lb and la.endswith("x/model.tflite") and lb.endswith("y/model.tflite")
    assert _batch.labels([str(a), str(tmp_path / "other.tflite")]) == ["model.tflite", "other.tflite"]


def test_timeout_is_a_row_not_the_end(coral_models):
    model = coral_models / "split_concat.tflite"
    proc = run_cli(
        "bench", model, model, "--timeout", "1", "--min-time", "30", "--warmup", "0", "--max-runs", "1000000000"
    )  # a 3 us model would reach the default 100,000 runs in 0.3 s
    assert proc.returncode == 1
    errors = [l for l in proc.stderr.splitlines() if l.startswith("edgekit:")]
    assert len(errors) == 2 and all("did not finish within 1 s" in l for l in errors), proc.stderr
    assert "2 of 2 failed" in proc.stdout


def test_crash_line_is_built_from_the_format_record():
    import os

    from edgekit.transports.host import worker_died

    warning = "torchao/__init__.py:41: UserWarning: Skipping import of cpp extensions"
    many = os.cpu_count() * 8
    err = worker_died({"artifact": "/m/x.pte", "format": "pte", "threads": many}, -11, f"{warning}\n")
    line = err.line()
    assert "\n" not in line and "killed by SIGSEGV" in line and "torchao" not in line
    assert "inspect" not in line and "--no-xnnpack" not in line and "executorch" in line
    assert f"{many} threads on {os.cpu_count()} cores" in line  # too many threads is named before the model
    assert err.details["signal"] == "SIGSEGV" and err.details["log_tail"] == [warning] and err.exit_code == 1
    ptl = worker_died({"artifact": "/m/x.ptl", "format": "ptl"}, -6, "").line()
    assert "SIGABRT" in ptl and "torch" in ptl and "inspect" not in ptl
    # Not a signal: the Python exception it died of, never a warning line.
    died = worker_died(
        {"artifact": "/m/x.tflite", "format": "tflite"},
        1,
        f"{warning}\nTraceback (most recent call last):\n  ...\nModuleNotFoundError: No module named 'numpy'\n",
    )
    assert "exited with status 1" in died.message and "ModuleNotFoundError: No module named 'numpy'" in died.message
    quiet = worker_died({"artifact": "/m/x.tflite", "format": "tflite"}, 1, warning)
    assert "UserWarning" not in quiet.line() and "(" not in quiet.message
