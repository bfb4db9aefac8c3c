"""Silent fallback detection: an op XNNPACK does not take must be listed, at build and at run time."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.torch


def test_build_reports_and_warns_about_fallen_back_ops(cumsum_build):
    report, entry = cumsum_build
    assert entry.status == "built", entry.error
    d = entry.extra["delegation"]
    assert d["not_delegated"].get("aten_cumsum_default") == 1, d
    assert "aten_cumsum_default" in d["compute_fallback"]
    assert d["by_op"]["aten_convolution_default"] == {"delegated": 1, "not_delegated": 0}
    assert any("fell back" in w and "cumsum" in w for w in entry.warnings), entry.warnings


def test_pte_file_alone_tells_which_ops_run_on_portable_kernels(cumsum_build):
    from edgekit.torchkit.pte import read_delegation, session_delegates

    report, entry = cumsum_build
    info = read_delegation(os.path.join(report.outdir, entry.file))
    assert info["kernels"] == {"aten::cumsum.out": 1}
    assert info["backends"]["XnnpackBackend"]["partitions"] == 2  # the graph is split around cumsum
    (d,) = session_delegates(info)
    assert d["not_delegated"] == {"aten::cumsum.out": 1} and d["compute_fallback"] == {"aten::cumsum.out": 1}
    assert d["total_nodes"] == d["nodes"] + 1


@pytest.mark.slow
def test_profile_names_ops_and_where_they_ran(tmp_path):
    """ETRecord at build, ETDump at run, Inspector summary: per-op p50, delegated or not."""
    from edgekit import api
    from edgekit.torchkit.profile import profile_pte

    report = api.build(
        source="tests.build_torch.models:cumsum_cnn",
        targets=["executorch-xnnpack"],
        outdir=str(tmp_path),
        options={"executorch-xnnpack": {"etrecord": True}},
    )
    entry = report.entries[0]
    assert entry.status == "built", entry.error
    pte = os.path.join(report.outdir, entry.file)
    assert entry.extra["etrecord"] == entry.file + ".etrecord" and os.path.exists(pte + ".etrecord")
    prof = profile_pte(pte, runs=5)
    cumsum = [r for r in prof["ops"] if "aten.cumsum.default" in r["op_types"]]
    delegated = [r for r in prof["ops"] if r["delegated"] and r["backend"] == "XnnpackBackend"]
    assert cumsum and not any(r["delegated"] for r in cumsum)
    assert delegated and all(r["p50_ms"] is not None for r in delegated if r["event"] == "DELEGATE_CALL")


@pytest.mark.slow
def test_build_command_shows_the_fallback_warning(tmp_path):
    from tests.conftest import run_cli

    proc = run_cli("build", "--source", "tests.build_torch.models:cumsum_cnn", "-t", "executorch-xnnpack", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    text = " ".join((proc.stdout + proc.stderr).split())  # rich may wrap long lines
    assert "executorch-xnnpack warning: compute ops fell back to portable kernels" in text
    assert "aten_cumsum_default" in text
