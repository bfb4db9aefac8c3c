"""edgekit toolchains list / install / remove on the toy toolchain (in-process: it is registered here)."""

from __future__ import annotations

import json
import threading
import time

from edgekit.cli import main
from edgekit.toolchains import env_dir, remove, toolchains_dir
from edgekit.toolchains.envs import MARKER, OWNER, lock_path
from tests.test_locks import end, hold_in_subprocess
from tests.toolchains.conftest import TOY_VERSION


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_install_list_remove(toy, wheelhouse, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line: the long tmp path is not folded
    base = toolchains_dir()
    current = env_dir("toy")
    stale = base / "toy-00000000abcd"
    stale.mkdir(parents=True)
    (stale / OWNER).write_text("edgekit toolchain toy\n")
    (stale / "blob").write_bytes(b"y" * 20_000)

    code, out, _ = cli(capsys, "toolchains", "list", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["toolchains"]}
    assert {"litert", "onnx2tf", "toy"} <= set(rows)
    assert rows["toy"]["installed"] is False and rows["toy"]["path"] == str(current)
    assert [s["path"] for s in rows["toy"]["stale"]] == [str(stale)]

    code, out, err = cli(capsys, "toolchains", "install", "toy", "--find-links", str(wheelhouse))
    assert code == 0, err
    assert out.strip() == f"toy: {current / 'bin' / 'python'}"
    assert "installing 1 pinned packages from" in err and "(offline)" in err and "toy: installed 1 packages" in err
    assert (current / MARKER).is_file()

    code, out, _ = cli(capsys, "toolchains", "list")
    toy_row = next(ln for ln in out.splitlines() if "│ toy" in ln)
    assert "yes" in toy_row and current.name in toy_row and "toy-00000000abcd" in toy_row
    assert "remove NAME --stale" in out

    code, out, _ = cli(capsys, "toolchains", "remove", "toy", "--stale")
    assert code == 0 and out.strip() == f"removed {stale}"
    assert current.is_dir() and not stale.exists()

    code, out, _ = cli(capsys, "toolchains", "remove", "toy", "--json")
    assert json.loads(out) == {"toy": [str(current)]} and not current.exists()
    code, out, _ = cli(capsys, "toolchains", "remove", "toy")
    assert out.strip() == "toy: nothing to remove"


def test_cli_errors_are_one_line(toy, capsys, tmp_path):
    code, _, err = cli(capsys, "toolchains", "install", "nope")
    assert code == 2 and err.strip() == "edgekit: unknown toolchain 'nope'; choose one of: litert, onnx2tf, toy"
    code, _, err = cli(capsys, "toolchains", "install", "toy", "--find-links", str(tmp_path / "missing"))
    assert code == 2 and err.count("\n") == 1 and "the wheel directory" in err and "does not exist" in err
    assert not env_dir("toy").exists()


def test_download_then_install_offline(toy, wheelhouse, capsys, tmp_path):
    """download fills a wheel directory from the configured source; install then needs nothing else."""
    dest = tmp_path / "carry"
    code, out, err = cli(capsys, "toolchains", "download", "toy", str(dest), "--find-links", str(wheelhouse))
    assert code == 0, err
    assert [p.name for p in dest.iterdir()] == [f"edgekit_toy-{TOY_VERSION}-py3-none-any.whl"]
    assert f"install offline with: edgekit toolchains install toy --find-links {dest}" in out
    code, out, err = cli(capsys, "toolchains", "install", "toy", "--find-links", str(dest))
    assert code == 0, err
    assert (env_dir("toy") / MARKER).is_file()


def test_remove_takes_the_install_lock(toy, capsys):
    """An install running in another process (it holds the env's lock): remove refuses at once with
    one line naming it, or waits with --wait, and removes the env once that process is gone."""
    current, stale = env_dir("toy"), toolchains_dir() / "toy-00000000abcd"
    for d in (current, stale):
        d.mkdir(parents=True)
        (d / OWNER).write_text("edgekit toolchain toy\n")
        (d / "blob").write_bytes(b"z" * 1000)
    lock = lock_path(current)
    proc = hold_in_subprocess(lock)
    try:
        started = time.monotonic()
        code, out, err = cli(capsys, "toolchains", "remove", "toy")
        assert time.monotonic() - started < 5, "refuses at once, does not wait for the install"
        assert code == 2 and err.count("\n") == 1 and not out
        assert err.startswith(f"edgekit: {current.name} is being installed by pid {proc.pid} on "), err
        assert err.rstrip().endswith(
            f"(removed {stale.name}); wait for that install to finish, then run 'edgekit toolchains remove toy' "
            "again (--wait SECONDS waits for it)"
        ), err
        assert (current / "blob").read_bytes() == b"z" * 1000 and not stale.exists()

        started = time.monotonic()
        code, out, err = cli(capsys, "toolchains", "remove", "toy", "--wait", "0.6")
        assert code == 2 and time.monotonic() - started >= 0.6 and current.is_dir()
        assert f"waiting for another install of {current.name} (pid {proc.pid} on " in err

        result: dict = {}
        waiter = threading.Thread(target=lambda: result.update(removed=remove("toy", wait=60)))
        waiter.start()
        time.sleep(0.8)
        assert waiter.is_alive() and (current / "blob").is_file(), "remove must wait while the lock is held"
    finally:
        end(proc)
    waiter.join(30)
    assert result == {"removed": [str(current)]} and not current.exists()
    # The lock file stays: deleting it would let a later process lock a new file while a waiter holds the old one.
    assert lock.is_file()
