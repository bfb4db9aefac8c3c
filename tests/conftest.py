"""Shared test fixtures: where the real test data lives, and running the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EDGEKIT_SHARED", ROOT.parent / "shared"))
CORAL = SHARED / "testdata" / "coral"


@pytest.fixture(scope="session")
def coral() -> Path:
    """../shared/testdata/coral, read in place (never copied into the project)."""
    if not (CORAL / "models").is_dir():
        pytest.skip(f"real Coral test data not found at {CORAL} (set EDGEKIT_SHARED)")
    return CORAL


@pytest.fixture(scope="session")
def coral_models(coral) -> Path:
    return coral / "models"


def need_toolchain(name: str) -> str:
    """The python of converter toolchain ``name`` (``edgekit toolchains``) for a test that runs a
    worker in it. Never installs (gigabytes have no place inside a test): skips when it is not
    installed, or fails under ``make test`` (EDGEKIT_REQUIRE_TOOLCHAINS=1, which installs them first)."""
    from edgekit.errors import EnvironmentMissing
    from edgekit.toolchains import ensure

    try:
        return ensure(name, install=False)
    except EnvironmentMissing as exc:
        if os.environ.get("EDGEKIT_REQUIRE_TOOLCHAINS") == "1":
            pytest.fail(str(exc))
        pytest.skip(f"{exc.message} (make toolchains)")


def run_cli(*args: str, check: bool | None = None, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m edgekit ARGS` in a subprocess, exactly as a user's shell would."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.pop("EDGEKIT_DEBUG", None)
    # Tests' benchmarks stay out of the repository's own results history; history tests pass
    # their own EDGEKIT_HISTORY or --history.
    full_env["EDGEKIT_HISTORY"] = "off"
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=str(ROOT),
    )
    if check is True and proc.returncode != 0:
        raise AssertionError(f"edgekit {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture
def cli():
    return run_cli


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """A user-caused failure: non-zero exit, exactly one 'edgekit:' line on stderr, no traceback."""
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    lines = [l for l in err.splitlines() if l.startswith("edgekit:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]
    return lines[0]
