"""A runner that dies on a device is one line, like a crash on the host (edgekit.transports.crash).

The SSH cases use the loopback OpenSSH server (tests/sshd.py): the real runner.pyz runs on the
"device" and is killed from outside with a real SIGSEGV while it measures (its pid is the one the
run script records in the run directory's ``pids``), as a crashing native runtime would end it.
With ``PYTHONFAULTHANDLER=1`` in the profile's env, Python itself writes its fatal-error report to
the device's stderr before dying: a runtime log of known content that must land in ``log_tail``
and never in the line. The adb cases check the message builder on the statuses a device's shell
hands back (no phone here, and the adb tests drive no fake adb).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from edgekit.api import bench_spec
from edgekit.devices.profiles import profile_from_dict
from edgekit.errors import error_from_dict
from edgekit.results.schema import validate
from edgekit.transports.android_tools import tool_failure
from edgekit.transports.base import RUN_DIR_PREFIX, open_transport
from edgekit.transports.crash import exit_signal, worker_died
from tests.conftest import run_cli

FAULT_ENV = {"PYTHONFAULTHANDLER": "1"}


def run_dirs(workdir: str) -> list[str]:
    if not os.path.isdir(workdir):
        return []
    return [d for d in os.listdir(workdir) if d.startswith(RUN_DIR_PREFIX)]


def _loaded(pid: int, run_dir: str) -> bool:
    """Has the runner loaded its model? (TFLite maps the model file: it shows in the maps.)"""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return f"{run_dir}/model" in f.read()
    except OSError:
        return False


def kill_first_runner(
    workdir: str, sig: int = signal.SIGSEGV, settle: float = 0.3, deadline: float = 90.0, shell: bool = False
) -> dict:
    """Wait until the first run on the device has its runner (the pid RUN_SH wrote to ``pids``)
    measuring, i.e. its model loaded, then kill that runner (or with ``shell``, the run script's
    shell) with ``sig``. Runs in a thread; the dict says what it did."""
    done: dict = {}

    def watch():
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for d in run_dirs(workdir):
                path = os.path.join(workdir, d)
                try:
                    with open(os.path.join(path, "pids")) as f:
                        shell_pid, runner_pid = (int(x) for x in f.read().split())
                except (OSError, ValueError, IndexError):
                    continue
                if not _loaded(runner_pid, path):
                    continue
                time.sleep(settle)  # into its warmup/timed runs
                os.kill(shell_pid if shell else runner_pid, sig)
                done.update(run_dir=d, pid=shell_pid if shell else runner_pid, runner=runner_pid)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    done["thread"] = thread
    return done


def test_runner_killed_by_sigsegv_is_an_error_result(sshd, small_model, tmp_path):
    profile = profile_from_dict("crashy", sshd.profile(env=FAULT_ENV, workdir=str(tmp_path / "device-tmp")))
    spec = bench_spec(str(small_model), warmup=0, min_runs=1, min_time_s=30.0, max_runs=10**9)
    killer = kill_first_runner(profile.workdir)
    with open_transport(profile) as t:
        t0 = time.monotonic()
        result = t.run_worker(spec, timeout=120)  # returns: a crash is a result, not an exception
    killer["thread"].join(timeout=5)
    assert "pid" in killer, "the runner never started on the device"
    assert time.monotonic() - t0 < 30  # it ended at the kill, not at min_time or the timeout
    validate(result)
    assert result["status"] == "error" and result["device"]["name"] == "crashy"
    assert result["artifact"]["path"] == str(small_model)
    assert result["device"]["fingerprint"] is None  # not this host's: the device reported none
    err = result["error"]
    assert err["signal"] == "SIGSEGV" and err["exit_status"] == 128 + signal.SIGSEGV and err["exit_code"] == 1
    assert any("Fatal Python error: Segmentation fault" in line for line in err["log_tail"]), err["log_tail"]
    line = error_from_dict(err).line()
    assert line.startswith(f"edgekit: the runner for {small_model.name} on device 'crashy' was killed by SIGSEGV; ")
    assert "Fatal Python" not in line and "(" not in line.split(";")[0]  # the log is not the message
    assert f"edgekit inspect {small_model}" in line and "--no-xnnpack" in line  # the .tflite record's step
    assert RUN_DIR_PREFIX not in line
    assert run_dirs(profile.workdir) == []  # the run directory went with the run


def test_run_script_killed_is_one_line_without_a_status(sshd, small_model, tmp_path):
    """The remote shell itself dies (SIGKILL): OpenSSH exits 255 without a word (once the orphaned
    runner, which holds the channel's stderr, has ended); the line says what is known."""
    profile = profile_from_dict("crashy", sshd.profile(workdir=str(tmp_path / "device-tmp")))
    spec = bench_spec(str(small_model), warmup=0, min_runs=1, min_time_s=3.0, max_runs=10**9)
    killer = kill_first_runner(profile.workdir, sig=signal.SIGKILL, shell=True)
    with open_transport(profile) as t:
        result = t.run_worker(spec, timeout=120)
    killer["thread"].join(timeout=5)
    assert "pid" in killer, "the runner never started on the device"
    line = error_from_dict(validate(result)["error"]).line()
    assert line.startswith(
        f"edgekit: the run of {small_model.name} on device 'crashy' ended without an exit status "
        "(its shell was killed by a signal); check the model with 'edgekit inspect"
    )
    assert result["error"]["exit_status"] == 255 and result["error"]["exit_code"] == 1
    assert run_dirs(profile.workdir) == []


def test_timeout_is_an_error_result_and_stops_the_runner(sshd, small_model, tmp_path):
    profile = profile_from_dict("slowpoke", sshd.profile(workdir=str(tmp_path / "device-tmp")))
    spec = bench_spec(str(small_model), warmup=0, min_runs=1, min_time_s=60.0, max_runs=10**9)
    with open_transport(profile) as t:
        t0 = time.monotonic()
        result = t.run_worker(spec, timeout=4)
        assert time.monotonic() - t0 < 30
        validate(result)
        err = result["error"]
        line = error_from_dict(err).line()
        assert line == (
            f"edgekit: the benchmark of {small_model.name} on device 'slowpoke' did not finish within 4 s; "
            "lower --min-time/--min-runs or raise --timeout"
        )
        assert err["exit_code"] == 1 and isinstance(err["log_tail"], list) and err["timeout_s"] == 4
        # The same transport goes on with the next model.
        quick = t.run_worker(bench_spec(str(small_model), warmup=0, min_runs=2, min_time_s=0.0), timeout=120)
        assert quick["status"] == "ok"
    time.sleep(0.5)
    assert run_dirs(profile.workdir) == []
    left = subprocess.run(["pgrep", "-f", f"{profile.workdir}/{RUN_DIR_PREFIX}"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "a runner outlived its timeout"


@pytest.mark.slow
def test_crash_on_one_device_keeps_every_other_result(sshd, small_model, coral_models, tmp_path):
    """bench on two devices, two models; the first model's runner on 'crashy' dies by SIGSEGV
    mid-run: one edgekit line naming the signal, exit 1, and the three other results written;
    --debug shows the device's log above that line."""
    other = coral_models / "split_concat.tflite"
    devs = tmp_path / "devs"
    crashy_dir = str(tmp_path / "crashy-tmp")
    sshd.write_profile(devs, "crashy", env=FAULT_ENV, workdir=crashy_dir)
    sshd.write_profile(devs, "steady", workdir=str(tmp_path / "steady-tmp"))
    out = tmp_path / "out"
    killer = kill_first_runner(crashy_dir)
    proc = run_cli(
        "--debug",
        "bench",
        "--device",
        "crashy",
        "--device",
        "steady",
        "--devices-dir",
        devs,
        small_model,
        other,
        "--min-time",
        "1.5",
        "--warmup",
        "1",
        "--threads",
        "1",
        "-o",
        out,
        "--no-history",
        timeout=300,
    )
    killer["thread"].join(timeout=5)
    assert "pid" in killer, "the runner never started on crashy"
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [l for l in proc.stderr.splitlines() if l.startswith("edgekit:")]
    assert len(errors) == 1, proc.stderr
    log = proc.stderr[proc.stderr.index("--- log tail ---") : proc.stderr.index(errors[0])]
    assert "Fatal Python error: Segmentation fault" in log and "Fatal Python" not in errors[0]
    assert f"the runner for {small_model.name} on device 'crashy' was killed by SIGSEGV; " in errors[0]
    assert errors[0].endswith("[device crashy]")
    saved = {name: json.loads((out / f"{name}.json").read_text()) for name in ("crashy", "steady")}
    assert [r["artifact"]["name"] for r in saved["crashy"]] == [other.name]  # the model after the crash ran
    assert [r["artifact"]["name"] for r in saved["steady"]] == [small_model.name, other.name]
    for results in saved.values():
        for r in results:
            assert validate(r)["status"] == "ok"


# --- the message builder on the statuses a device's shell hands back -------------------------


def test_shell_statuses_name_the_signal():
    assert exit_signal(139, shell=True) == signal.SIGSEGV and exit_signal(134, shell=True) == signal.SIGABRT
    assert exit_signal(-11) == signal.SIGSEGV
    assert exit_signal(139) is None  # a local process's status 139 is just a status
    assert exit_signal(1, shell=True) is None and exit_signal(255, shell=True) is None


def test_ssh_runner_exit_without_a_signal_names_the_exception_not_the_log():
    warning = "torchao/__init__.py:41: UserWarning: Skipping import of cpp extensions"
    err = worker_died(
        {"artifact": "/m/x.tflite", "format": "tflite", "threads": 512},
        1,
        f"{warning}\nTraceback (most recent call last):\n  ...\nModuleNotFoundError: No module named 'numpy'\n",
        process="the runner",
        device="pi",
        shell=True,
        hint="check the device has numpy",
    )
    line = err.line()
    assert line == (
        "edgekit: the runner for x.tflite on device 'pi' exited with status 1 without a result "
        "(ModuleNotFoundError: No module named 'numpy'); check the device has numpy"
    )
    assert err.details["log_tail"][0] == warning and "signal" not in err.details
    # the device's core count is unknown: no claim about threads vs cores
    crash = worker_died({"artifact": "/m/x.tflite", "format": "tflite", "threads": 512}, 139, "", device="pi", shell=True)
    assert "cores" not in crash.line() and "killed by SIGSEGV" in crash.line()


@pytest.mark.parametrize(
    "fmt, tool, needle",
    [
        ("tflite", "benchmark_model", "edgekit inspect /m/x.tflite"),
        ("pte", "executor_runner", "executorch"),
    ],
)
def test_adb_tool_killed_by_a_signal_is_one_line(fmt, tool, needle):
    log = "INFO: Initialized TensorFlow Lite runtime.\nSegmentation fault\n"
    spec = {"artifact": f"/m/x.{fmt}", "format": fmt}
    err = tool_failure(spec, tool, "pixel", 139, log)
    line = err.line()
    assert line.startswith(f"edgekit: {tool} for x.{fmt} on device 'pixel' was killed by SIGSEGV; ")
    assert needle in line and "\n" not in line and "Initialized" not in line
    assert err.details["log_tail"] == log.strip().splitlines() and err.exit_code == 1
    if fmt == "pte":
        assert "inspect" not in line and "--no-xnnpack" not in line
    timed = tool_failure(spec, tool, "pixel", None, log, timeout=30).line()
    assert timed == (
        f"edgekit: the benchmark of x.{fmt} on device 'pixel' did not finish within 30 s; "
        "lower --min-time/--min-runs or raise --timeout"
    )
    assert tool_failure(spec, tool, "pixel", 0, log) is None  # ended by itself: its output is parsed
    assert tool_failure(spec, tool, "pixel", 1, log) is None
