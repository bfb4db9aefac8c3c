"""Session-scoped builds for the PyTorch path: each heavy artifact is built once per test session."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("executorch")


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory):
    """The torch digits example prepared (trained, exported, data split) in a temporary directory."""
    pytest.importorskip("sklearn")
    from examples.torch_digits.digits import prepare

    work = tmp_path_factory.mktemp("torch_digits")
    info = prepare(str(work))
    return work, info


@pytest.fixture(scope="session")
def digits_build(digits_dir):
    """Every PyTorch target built from the digits model through the shared orchestrator."""
    from edgekit import api

    work, _ = digits_dir
    report = api.build(os.path.join(str(work), "edgekit.toml"))
    return report, {e.target: e for e in report.entries}


@pytest.fixture(scope="session")
def cumsum_build(tmp_path_factory):
    """A model with an op XNNPACK does not take, built to executorch-xnnpack with random data."""
    from edgekit import api

    out = tmp_path_factory.mktemp("cumsum")
    report = api.build(source="tests.build_torch.models:cumsum_cnn", targets=["executorch-xnnpack"], outdir=str(out))
    return report, report.entries[0]
