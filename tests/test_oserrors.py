"""Path and disk mistakes are one line naming the path and the fix (exit 2 path, 3 environment).

Real effects where this machine allows them: a file where a directory should be, a directory as
-o, a read-only and a full file system (tiny tmpfs mounts, when we may mount; skipped otherwise),
an unreadable model (run as an unprivileged user when the tests run as root). A full disk is also
injected in-process (os.fsync raising ENOSPC, as it does on a full disk with delayed allocation)
so the check runs everywhere.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from edgekit.errors import EXIT_ENV, EXIT_USAGE, EdgekitError, os_error, user_os_errno
from tests.conftest import ROOT, assert_one_line_error, run_cli

FAST = ("--warmup", "1", "--min-runs", "3", "--min-time", "0", "--threads", "1")


@pytest.fixture(scope="module")
def model(coral_models):
    pytest.importorskip("ai_edge_litert")
    return coral_models / "split_concat.tflite"


@pytest.fixture(scope="module")
def result_file(model, tmp_path_factory):
    """One real result JSON, for report -o."""
    path = tmp_path_factory.mktemp("res") / "r.json"
    proc = run_cli("bench", model, *FAST, "-o", path)
    assert proc.returncode == 0, proc.stderr
    return path


def _mount_tmpfs(where, options: str):
    os.makedirs(where, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode(errors='replace').strip()})")


@pytest.fixture
def readonly_dir(tmp_path):
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    where = tmp_path / "ro"
    _mount_tmpfs(where, "ro,size=64k")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.fixture
def full_dir(tmp_path):
    """A 64 KiB tmpfs filled to the last block."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "full"
    _mount_tmpfs(where, "size=64k")
    try:
        with open(where / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


# ---- bench -o: checked before measuring, so a mistake costs no measurement ----


def test_output_under_a_file(model, tmp_path):
    (tmp_path / "a_file").write_text("x")
    proc = run_cli("bench", model, *FAST, "-o", tmp_path / "a_file" / "r.json")
    line = assert_one_line_error(proc, "a_file is a file, not a directory", "choose another path")
    assert proc.returncode == EXIT_USAGE and "Benchmark:" not in proc.stdout
    assert str(tmp_path / "a_file" / "r.json") in line


def test_output_is_a_directory(model, tmp_path):
    proc = run_cli("bench", model, *FAST, "-o", tmp_path)
    assert_one_line_error(proc, "is a directory", "results.json")
    assert proc.returncode == EXIT_USAGE and "Benchmark:" not in proc.stdout


def test_output_on_a_read_only_file_system(model, result_file, readonly_dir):
    proc = run_cli("bench", model, *FAST, "-o", readonly_dir / "r.json")
    assert_one_line_error(proc, "read-only", "r.json")
    assert proc.returncode == EXIT_USAGE and "Benchmark:" not in proc.stdout
    proc = run_cli("report", result_file, "-o", readonly_dir / "report.html")
    assert_one_line_error(proc, "read-only", "report.html")
    assert proc.returncode == EXIT_USAGE


def test_output_on_a_full_disk_keeps_the_measurement(model, result_file, tmp_path, full_dir):
    """The write fails after measuring: exit 3 with one line, the result still on screen and
    in the history, and no temporary file left on the full disk."""
    hist = tmp_path / "h.sqlite"
    proc = run_cli("bench", model, *FAST, "-o", full_dir / "r.json", "--history", hist)
    assert_one_line_error(proc, "no space left", "r.json", "df -h")
    assert proc.returncode == EXIT_ENV
    assert "Benchmark: split_concat.tflite" in proc.stdout
    import sqlite3

    with sqlite3.connect(hist) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    proc = run_cli("report", result_file, "-o", full_dir / "report.html")
    assert_one_line_error(proc, "no space left", "report.html")
    assert proc.returncode == EXIT_ENV
    assert sorted(os.listdir(full_dir)) == ["filler"]


def test_full_disk_injected(model, tmp_path, monkeypatch, capsys):
    """Same contract without a mount: fsync reports ENOSPC for the -o file only."""
    from edgekit import cli

    real_fsync = os.fsync

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path / "out")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setenv("EDGEKIT_HISTORY", "off")
    (tmp_path / "out").mkdir()
    code = cli.main(["bench", str(model), str(model), *FAST, "-o", str(tmp_path / "out" / "r.json")])
    captured = capsys.readouterr()
    assert code == EXIT_ENV
    lines = [l for l in captured.err.splitlines() if l.startswith("edgekit:")]
    assert lines and all("no space left" in l for l in lines)
    assert "Summary (sorted by p50)" in captured.out  # the batch went on and printed its table
    assert os.listdir(tmp_path / "out") == []  # no .tmp-* left behind


# ---- unreadable models ----


def _as_nobody(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), EDGEKIT_HISTORY="off", HOME="/tmp")
    env.pop("EDGEKIT_DEBUG", None)
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "edgekit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd="/tmp",
        timeout=300,
    )


def test_unreadable_model_for_inspect_and_bench(model):
    shared = tempfile.mkdtemp(prefix="edgekit-test-perm-")
    try:
        os.chmod(shared, 0o755)
        locked = os.path.join(shared, "locked.tflite")
        shutil.copyfile(model, locked)
        os.chmod(locked, 0o000)
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("root reads every file; setpriv is needed to run as another user")
            run = _as_nobody
        else:
            run = run_cli
        for cmd in (("inspect", locked), ("bench", locked, *FAST)):
            proc = run(*cmd)
            assert_one_line_error(proc, "permission denied", "locked.tflite", "chmod")
            assert proc.returncode == EXIT_USAGE, proc.stderr
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# ---- build -o under a file: the OSError from deep inside still becomes one line ----


@pytest.mark.slow
def test_build_output_under_a_file(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "a_file").write_text("x")
    proc = run_cli(
        "build",
        "--source",
        "tests.build_torch.models:tiny_cnn",
        "-t",
        "ptl",
        "--random-calibration",
        "-o",
        tmp_path / "a_file" / "out",
    )
    errors = [l for l in proc.stderr.splitlines() if l.startswith("edgekit:") and not l.startswith("edgekit: warning:")]
    assert "Traceback" not in proc.stderr and len(errors) == 1, proc.stderr
    assert "a_file is a file, not a directory" in errors[0] and "internal error" not in errors[0]
    assert proc.returncode == EXIT_USAGE


# ---- the mapping itself ----


@pytest.mark.parametrize(
    "exc, path, needle, code",
    [
        (FileExistsError(errno.EEXIST, "File exists"), None, "is a file, not a directory", EXIT_USAGE),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), None, "is a file, not a directory", EXIT_USAGE),
        (IsADirectoryError(errno.EISDIR, "Is a directory"), "DIR", "is a directory", EXIT_USAGE),
        (PermissionError(errno.EACCES, "Permission denied"), "/x/r.json", "permission denied", EXIT_USAGE),
        (OSError(errno.EROFS, "Read-only file system"), "/x/r.json", "read-only", EXIT_USAGE),
        (OSError(errno.ENOSPC, "No space left on device"), "/x/r.json", "no space left", EXIT_ENV),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "/x/r.json", "quota", EXIT_ENV),
        (OSError(errno.EIO, "Input/output error"), "/x/r.json", "input/output", EXIT_ENV),
    ],
)
def test_os_error_mapping(tmp_path, exc, path, needle, code):
    (tmp_path / "a_file").write_text("x")
    target = path or str(tmp_path / "a_file" / "out" / "r.json")
    err = os_error(exc, target)
    assert isinstance(err, EdgekitError) and err.exit_code == code
    line = err.line()
    assert needle in line and "\n" not in line and "; " in line
    assert target.split("/")[-1] in line


def test_stray_oserrors_that_are_not_the_users():
    assert not user_os_errno(ConnectionResetError(errno.ECONNRESET, "reset"))  # stays an internal error
    assert not user_os_errno(PermissionError(errno.EACCES, "denied"))  # no path: nothing to name
    assert user_os_errno(PermissionError(errno.EACCES, "denied", "/x"))
    assert user_os_errno(OSError(errno.ENOSPC, "full"))
