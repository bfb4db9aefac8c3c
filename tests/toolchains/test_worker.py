"""run_worker: result JSON, the worker's own error, a crash, a signal, a timeout, progress.

The toy toolchain points at this interpreter (EDGEKIT_TOOLCHAIN_TOY_PYTHON), which is also how a
user hands edgekit an environment they built: workers are stdlib scripts, so any python runs them.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
import time

import pytest

from edgekit.errors import EdgekitError
from edgekit.toolchains import WORKERS_DIR, run_worker


@pytest.fixture
def here(toy, monkeypatch):
    monkeypatch.setenv(toy.env_var, sys.executable)
    monkeypatch.setenv("PYTHONPATH", "/somewhere/edgekit")  # must not reach the worker
    return toy


def worker(tmp_path, body: str, name: str = "toyworker") -> str:
    """A worker script in its own directory beside a copy of the shipped _common.py."""
    d = tmp_path / "workers"
    d.mkdir(exist_ok=True)
    shutil.copy(WORKERS_DIR / "_common.py", d / "_common.py")
    path = d / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_success_returns_the_json_and_keeps_the_log(here, tmp_path):
    script = worker(
        tmp_path,
        """
        import os, sys
        from _common import main, progress

        def go(spec):
            progress("converting   step 1/2")
            print("a converter's chatter", file=sys.stderr)
            progress("step 2/2")
            return {"doubled": [2 * v for v in spec["values"]], "cwd": os.getcwd(),
                    "pythonpath": os.environ.get("PYTHONPATH"), "edgekit": "edgekit" in sys.modules}

        main(go)
    """,
    )
    lines: list[str] = []
    wd = tmp_path / "work"
    out = run_worker("toy", script, {"values": [1, 2.5]}, workdir=str(wd), progress=lines.append)
    assert out["doubled"] == [2, 5.0]
    assert out["cwd"] == str(wd) and out["pythonpath"] is None and out["edgekit"] is False
    assert lines == ["converting step 1/2", "step 2/2"]
    log = (wd / "toyworker.log").read_text()
    assert "a converter's chatter" in log and "edgekit-progress: step 2/2" in log
    assert (wd / "toyworker.spec.json").is_file()


def test_shipped_versions_worker(here, tmp_path):
    out = run_worker("toy", "versions", {"packages": ["pip", "edgekit-no-such-dist"]}, workdir=str(tmp_path))
    assert out["python"] == ".".join(map(str, sys.version_info[:3]))
    assert out["versions"]["pip"] and out["versions"]["edgekit-no-such-dist"] is None


def test_worker_reported_error_is_its_own_line(here, tmp_path):
    script = worker(
        tmp_path,
        """
        from _common import main, WorkerError

        def go(spec):
            raise WorkerError("onnx2tf cannot convert op 'NonMaxSuppression'\\nmore pages", "export without NMS", op="NonMaxSuppression")

        main(go)
    """,
    )
    with pytest.raises(EdgekitError) as info:
        run_worker("toy", script, {}, workdir=str(tmp_path / "w"))
    err = info.value
    log = tmp_path / "w" / "toyworker.log"
    assert str(err) == f"edgekit: onnx2tf cannot convert op 'NonMaxSuppression'; export without NMS (log {log})"
    assert err.details["op"] == "NonMaxSuppression" and err.details["log"] == str(log)


def test_unexpected_exception_names_type_and_first_line(here, tmp_path):
    script = worker(
        tmp_path,
        """
        from _common import main

        def go(spec):
            raise ValueError("Dimension -1 must be >= 0\\n  (a long trace)")

        main(go)
    """,
    )
    with pytest.raises(EdgekitError) as info:
        run_worker("toy", script, {}, workdir=str(tmp_path / "w"))
    assert info.value.message == "ValueError: Dimension -1 must be >= 0"
    assert "Traceback" in (tmp_path / "w" / "toyworker.log").read_text()


def test_crash_gives_the_last_meaningful_line_and_the_log(here, tmp_path):
    script = worker(
        tmp_path,
        """
        import sys
        print("W0000 00:00:1796133374.327416   21968 computation_placer.cc:177] noise", file=sys.stderr)
        def inner():
            raise RuntimeError("the converter ran out of patience")
        inner()
    """,
    )
    with pytest.raises(EdgekitError) as info:
        run_worker("toy", script, {}, workdir=str(tmp_path / "w"))
    log = tmp_path / "w" / "toyworker.log"
    assert str(info.value) == (
        f"edgekit: the toy worker toyworker failed: RuntimeError: the converter ran out of patience; see {log}"
    )
    assert "exit_status" in info.value.details and info.value.details["exit_status"] == 1


def test_signal_is_named(here, tmp_path):
    script = worker(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    with pytest.raises(EdgekitError) as info:
        run_worker("toy", script, {}, workdir=str(tmp_path / "w"))
    assert "was killed by SIGKILL (out of memory?)" in str(info.value)


def test_timeout_stops_the_worker_and_its_children(here, tmp_path):
    script = worker(
        tmp_path,
        """
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open("pids", "w").write(f"{os.getpid()} {child.pid}")
        time.sleep(60)
    """,
    )
    wd = tmp_path / "w"
    started = time.monotonic()
    with pytest.raises(EdgekitError) as info:
        run_worker("toy", script, {}, workdir=str(wd), timeout=3)
    assert time.monotonic() - started < 20
    assert "did not finish within 3 s and was stopped" in str(info.value) and str(wd / "toyworker.log") in str(info.value)
    time.sleep(0.3)
    for pid in map(int, (wd / "pids").read_text().split()):
        assert not alive(pid), pid


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper (the killed worker's child is reparented)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_no_result_is_an_edgekit_bug(here, tmp_path):
    script = worker(tmp_path, "print('forgot to write OUT.json')\n")
    with pytest.raises(EdgekitError) as info:
        run_worker("toy", script, {}, workdir=str(tmp_path / "w"))
    assert "exited without writing its result" in str(info.value) and info.value.exit_code == 70


def test_missing_worker(here, tmp_path):
    with pytest.raises(EdgekitError) as info:
        run_worker("toy", "no_such_worker", {}, workdir=str(tmp_path))
    assert "no_such_worker" in str(info.value) and info.value.exit_code == 70
