"""The toolchain registry, the cache key and stale environments: no installs, no network."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.errors import EnvironmentMissing
from edgekit.toolchains import (
    TOOLCHAINS,
    WORKERS_DIR,
    ensure,
    env_dir,
    env_key,
    envs,
    python_for,
    status,
    toolchains_dir,
)
from edgekit.toolchains.envs import OWNER
from tests.conftest import ROOT


def test_shipped_toolchains_are_complete_locks():
    assert {"litert", "onnx2tf"} <= set(TOOLCHAINS.names())
    for name in ("litert", "onnx2tf"):
        tc = TOOLCHAINS.get(name)
        assert tc.requirements_path.is_file(), tc.requirements_path
        lines = envs.requirement_lines(tc)
        assert len(lines) > 30, f"{name}: a full lock has every package, not just the top ones"
        bad = [ln for ln in lines if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*==[0-9][0-9a-z.+!\-]*", ln)]
        assert not bad, f"{name}: not an exact pin: {bad}"
        names = [ln.split("==")[0] for ln in lines]
        assert len(names) == len(set(names)), f"{name}: a package pinned twice"
        assert "pip" not in names
    pins = lambda n: dict(ln.split("==") for ln in envs.requirement_lines(n))
    lt = pins("litert")
    assert lt["torch"] == "2.13.0" and lt["litert-torch"] == "0.10.0" and lt["ai-edge-litert"] == "2.3.0"
    assert lt["ai-edge-quantizer"] == "0.10.0"
    for unneeded in ("tensorflow", "tensorflow-cpu", "executorch", "coremltools", "pytest"):
        assert unneeded not in lt, unneeded
    ox = pins("onnx2tf")
    assert ox == {
        **ox,
        "onnx2tf": "1.29.24",
        "tensorflow": "2.19.0",
        "tf-keras": "2.19.0",
        "numpy": "1.26.4",
        "onnx": "1.19.1",
        "onnxruntime": "1.23.0",
        "onnxsim": "0.4.36",
        "onnxoptimizer": "0.4.2",
        "ai-edge-litert": "2.1.0",
        "protobuf": "4.25.5",
    }
    assert "sne4onnx" in ox and "sng4onnx" in ox


def test_workers_never_import_edgekit():
    """edgekit is not installed in a toolchain environment: a worker importing it would crash there."""
    scripts = sorted(WORKERS_DIR.glob("*.py"))
    assert scripts
    for script in scripts:
        text = script.read_text()
        assert not re.search(r"^\s*(from|import)\s+edgekit", text, re.MULTILINE), script


def test_import_is_stdlib_only():
    code = (
        "import sys, edgekit.toolchains, edgekit.toolchains.litert, edgekit.toolchains.onnx2tf; "
        "print(sorted(m for m in ('numpy', 'rich', 'torch', 'tensorflow', 'onnx') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_default_dir_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGEKIT_TOOLCHAINS_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert toolchains_dir() == tmp_path / ".cache" / "edgekit" / "toolchains"
    monkeypatch.setenv("EDGEKIT_TOOLCHAINS_DIR", str(tmp_path / "elsewhere"))
    assert toolchains_dir() == tmp_path / "elsewhere"
    d = env_dir("litert")
    assert d.parent == tmp_path / "elsewhere"
    assert re.fullmatch(r"litert-[0-9a-f]{12}", d.name)
    assert d.name != env_dir("onnx2tf").name.replace("onnx2tf", "litert")


def test_key_follows_the_pins_not_their_formatting(toy, toy_requirements, monkeypatch, tmp_path):
    key = env_key("toy")
    tc = toy
    other = tmp_path / "same.txt"
    other.write_text("\n\n# reordered, commented, other case\nEDGEKIT_TOY == 1.2.3   # pinned\n")
    monkeypatch.setitem(TOOLCHAINS._items, "toy", type(tc)(**{**tc.__dict__, "requirements": str(other)}))
    assert env_key("toy") == key
    other.write_text("edgekit_toy==1.2.4\n")
    changed = env_key("toy")
    assert changed != key
    monkeypatch.setattr(envs, "python_tag", lambda: "cpython3.99-x86_64")
    assert env_key("toy") not in (key, changed), "another interpreter version is another environment"


def test_stale_environments_are_listed_and_only_owned_ones(toy, tmp_path):
    base = toolchains_dir()
    current = env_dir("toy")
    old = base / "toy-0123456789ab"
    foreign = base / "toy-ba9876543210"
    for d in (old, foreign):
        (d / "lib").mkdir(parents=True)
        (d / "lib" / "blob").write_bytes(b"x" * 50_000)
    (old / OWNER).write_text("edgekit toolchain toy\n")
    (base / "toy-notakey").mkdir()
    info = status("toy")
    assert info.path == str(current) and not info.installed and info.size is None
    assert [s["path"] for s in info.stale] == [str(old)]
    assert info.stale[0]["size"] >= 50_000 and info.stale[0]["installed"] is False

    from edgekit.toolchains import remove

    assert remove("toy", stale_only=True) == [str(old)]
    assert not old.exists() and foreign.exists(), "a directory edgekit did not make is never removed"


def test_not_installed_and_override(toy, monkeypatch, tmp_path):
    with pytest.raises(EnvironmentMissing) as info:
        ensure("toy", install=False)
    assert "edgekit toolchains install toy" in str(info.value) and toy.env_var in str(info.value)
    assert toy.env_var == "EDGEKIT_TOOLCHAIN_TOY_PYTHON"
    assert TOOLCHAINS.get("onnx2tf").env_var == "EDGEKIT_TOOLCHAIN_ONNX2TF_PYTHON"
    assert python_for("toy") == str(env_dir("toy") / "bin" / "python")

    monkeypatch.setenv(toy.env_var, sys.executable)
    assert python_for("toy") == sys.executable
    assert ensure("toy") == sys.executable  # nothing installed, nothing created
    assert not env_dir("toy").exists()
    assert status("toy", sizes=False).override == sys.executable

    monkeypatch.setenv(toy.env_var, str(tmp_path / "no-python"))
    with pytest.raises(EnvironmentMissing) as info:
        ensure("toy")
    assert "is not an executable interpreter" in str(info.value)


def test_unknown_toolchain_names_the_known_ones():
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError) as info:
        env_dir("nope")
    assert "litert" in str(info.value) and "onnx2tf" in str(info.value)


def test_interpreter_outside_the_pins_range(toy, monkeypatch):
    from edgekit.toolchains import install

    monkeypatch.setitem(TOOLCHAINS._items, "toy", type(toy)(**{**toy.__dict__, "python_max": (3, 0), "python": "needs Python 2"}))
    with pytest.raises(EnvironmentMissing) as info:
        install("toy")
    assert "cannot be installed on Python" in str(info.value) and "needs Python 2" in str(info.value)
    assert not Path(env_dir("toy")).exists()


def test_need_toolchain_skips_or_fails_but_never_installs(toy, monkeypatch):
    from tests.conftest import need_toolchain

    monkeypatch.delenv("EDGEKIT_REQUIRE_TOOLCHAINS", raising=False)
    with pytest.raises(pytest.skip.Exception):
        need_toolchain("toy")
    monkeypatch.setenv("EDGEKIT_REQUIRE_TOOLCHAINS", "1")
    with pytest.raises(pytest.fail.Exception):
        need_toolchain("toy")
    assert not env_dir("toy").exists()
    monkeypatch.setenv(toy.env_var, sys.executable)
    assert need_toolchain("toy") == sys.executable
