"""A toy toolchain for the manager's tests: one tiny wheel built here (stdlib zipfile), installed
offline, so no test touches the network or installs anything large."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from edgekit.toolchains import TOOLCHAINS, Toolchain

TOY_VERSION = "1.2.3"


def build_wheel(directory: Path, name: str = "edgekit_toy", version: str = TOY_VERSION, requires: tuple[str, ...] = ()) -> Path:
    """A valid pure-Python wheel with one module, written by hand (no build backend, no network)."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}"
    files = {
        f"{name}.py": f"VALUE = 42\nVERSION = {version!r}\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: edgekit-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("wheels")
    build_wheel(d)
    return d


@pytest.fixture(scope="session")
def toy_requirements(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("req") / "toy.txt"
    p.write_text(f"# the toy toolchain's complete lock\nedgekit_toy=={TOY_VERSION}\n")
    return p


@pytest.fixture
def toy(toy_requirements, monkeypatch, tmp_path) -> Toolchain:
    """The ``toy`` toolchain registered for one test, with its own toolchains dir."""
    tc = Toolchain(
        name="toy",
        description="a test toolchain",
        requirements=str(toy_requirements),
        smoke="import edgekit_toy; assert edgekit_toy.VALUE == 42",
    )
    monkeypatch.setitem(TOOLCHAINS._items, "toy", tc)
    monkeypatch.setenv("EDGEKIT_TOOLCHAINS_DIR", str(tmp_path / "toolchains"))
    monkeypatch.delenv("EDGEKIT_WHEELHOUSE", raising=False)
    monkeypatch.delenv(tc.env_var, raising=False)
    return tc
