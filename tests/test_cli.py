"""The CLI shell: usage errors, help, and the one-line error contract."""

from edgekit.errors import EdgekitError, EnvironmentMissing
from tests.conftest import assert_one_line_error, run_cli


# Every public command; a command that disappears from the parser must fail this test.
COMMANDS = (
    "bench",
    "build",
    "compare",
    "deploy",
    "devices",
    "doctor",
    "edgetpu",
    "gpu",
    "history",
    "inspect",
    "package",
    "profile",
    "provision",
    "quant-report",
    "report",
    "run",
    "toolchains",
)


def test_help_lists_commands():
    import re

    from edgekit.cli import build_parser

    proc = run_cli("--help")
    assert proc.returncode == 0
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert set(helps) == set(COMMANDS)
    for cmd in COMMANDS:
        # the command's own help line: its name at the start of the line, then (same line or the
        # next, argparse wraps long names) the first words of its own help text
        words = r"\s+".join(map(re.escape, helps[cmd].split()[:3]))
        assert re.search(rf"^    {re.escape(cmd)}(?: +|\n +){words}", proc.stdout, re.M), (cmd, proc.stdout)


def test_usage_errors_are_one_line():
    assert_one_line_error(run_cli("bench"), "required", "--help")
    assert_one_line_error(run_cli("no-such-command"), "invalid choice")
    assert run_cli().returncode == 2


def test_error_line_format():
    err = EnvironmentMissing("no TFLite runtime is installed.", "pip install ai-edge-litert.")
    assert err.line() == "edgekit: no TFLite runtime is installed; pip install ai-edge-litert"
    assert err.exit_code == 3 and EdgekitError("x").exit_code == 2


def test_no_runtime_at_all(monkeypatch):
    """With none of the TFLite runtimes importable, the error names the package to install."""
    import pytest

    from edgekit.runtimes import litert
    from edgekit.runtimes.base import RunOptions

    monkeypatch.setattr(litert, "PROVIDERS", {"ai_edge_litert": "edgekit_no_such_pkg.interpreter"})
    with pytest.raises(EnvironmentMissing) as info:
        litert.TFLiteRuntime().load("x.tflite", RunOptions())
    assert "pip install ai-edge-litert" in str(info.value)


def test_spread_advice_names_threads_on_every_core():
    from edgekit.commands.bench import spread_advice

    def result(cv: float, threads, cores) -> dict:
        return {"latency_ms": {"cv": cv}, "runtime": {"threads": threads}, "device": {"fingerprint": {"cpu_count": cores}}}

    assert spread_advice(result(0.05, 2, 2)) is None
    wide = spread_advice(result(0.26, 2, 2))
    assert "CV 26%" in wide and "--threads 1" in wide
    assert "--threads" not in spread_advice(result(0.26, 1, 2))
    assert "--threads" not in spread_advice(result(0.26, None, 4))  # runtime default: unknown count
    assert "--threads" not in spread_advice(result(0.26, 1, 1))  # nothing to leave free
    assert "--threads 3" in spread_advice(result(0.3, 8, 4))
