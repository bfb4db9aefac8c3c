"""Where the machine cannot run the board, the reason is explicit (it becomes the skip reason).

Fast and not marked ``board``: these run everywhere, so a CI machine without root or qemu still
shows *why* the board's tests were skipped instead of silently passing them.
"""

from __future__ import annotations

import shutil

from tests.boards import board as board_mod


def test_not_root_is_named(monkeypatch):
    monkeypatch.setattr(board_mod.sys, "platform", "linux")
    monkeypatch.setattr(board_mod.os, "geteuid", lambda: 1000)
    assert "needs root" in board_mod.unavailable_reason()


def test_missing_qemu_and_debootstrap_are_named_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(board_mod.sys, "platform", "linux")
    monkeypatch.setattr(board_mod.os, "geteuid", lambda: 0)
    monkeypatch.setattr(board_mod, "CACHE_DIR", tmp_path)  # nothing cached: debootstrap is needed
    real_which = shutil.which
    monkeypatch.setattr(
        board_mod.shutil, "which", lambda name: None if name in ("qemu-aarch64-static", "debootstrap") else real_which(name)
    )
    monkeypatch.setattr(board_mod, "Path", _NoSbin(board_mod.Path))
    reason = board_mod.unavailable_reason()
    assert "qemu-aarch64-static" in reason and "debootstrap" in reason
    assert "apt-get install" in reason


def test_missing_binfmt_entry_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(board_mod, "BINFMT_DIR", tmp_path)  # "mounted" (register exists), no qemu entry
    (tmp_path / "register").write_text("")
    monkeypatch.setattr(board_mod.shutil, "which", lambda name: None)
    monkeypatch.setattr(board_mod, "Path", _NoSbin(board_mod.Path))
    assert "qemu-aarch64" in board_mod.binfmt_reason()


def test_cache_key_follows_the_build_script(monkeypatch, tmp_path):
    script = tmp_path / "build_rootfs.sh"
    script.write_text("echo one\n")
    monkeypatch.setattr(board_mod, "BUILD_SCRIPT", script)
    first = board_mod.tarball_path()
    script.write_text("echo two\n")
    assert board_mod.tarball_path() != first
    assert str(first).startswith(str(board_mod.CACHE_DIR))


class _NoSbin:
    """Path, except that nothing under /usr/sbin exists (as on a machine without the packages)."""

    def __init__(self, real):
        self._real = real

    def __call__(self, *parts):
        p = self._real(*parts)
        if str(p).startswith("/usr/sbin/"):
            return self._real("/nonexistent-edgekit-test", *p.parts[1:])
        return p
