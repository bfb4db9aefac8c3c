"""Fixtures for the emulated aarch64 board: brought up once per session, always torn down.

Tests that use them are marked ``board`` and ``slow``. Where the machine cannot run the board (not
root, no binfmt_misc, no qemu-aarch64-static or debootstrap) they are skipped with the reason, so
the suite still passes there; a board that should work but fails to start is an error, not a skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.boards import board as board_mod

DEVICE = "emulated-pi"


def pytest_collection_modifyitems(session, config, items):
    """Run the board's tests last: on a cold CI machine its rootfs is being built in the background
    (.ci/run) while the rest of the suite runs, so the fixture then finds it ready or nearly so."""
    board_items = [i for i in items if i.get_closest_marker("board")]
    if board_items:
        rest = [i for i in items if not i.get_closest_marker("board")]
        items[:] = rest + board_items


@pytest.fixture(scope="session")
def board(tmp_path_factory):
    reason = board_mod.unavailable_reason()
    if reason:
        pytest.skip(f"emulated aarch64 board unavailable: {reason}")
    b = board_mod.start(log=lambda msg: print(f"[board] {msg}"))
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def board_devices_dir(board, tmp_path_factory) -> Path:
    """A devices directory holding only the board's test profile (``--devices-dir``)."""
    d = tmp_path_factory.mktemp("board-devices")
    (d / f"{DEVICE}.toml").write_text(board_mod.profile_toml(board, DEVICE))
    return d


@pytest.fixture(scope="session")
def board_cli(board_devices_dir):
    """run_cli with the board's profile visible (``EDGEKIT_DEVICES_DIR`` and ``--devices-dir``)."""
    from tests.conftest import run_cli

    def _run(*args: str, timeout: float = 600):
        return run_cli(
            *args, "--devices-dir", str(board_devices_dir), timeout=timeout, env={"EDGEKIT_DEVICES_DIR": str(board_devices_dir)}
        )

    return _run
