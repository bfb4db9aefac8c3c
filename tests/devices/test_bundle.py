"""The single-file runner: deterministic, self-contained, and the host's own worker code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile

from edgekit.harness import bundle
from edgekit.results.schema import validate


def test_runner_is_deterministic_and_holds_the_host_modules(tmp_path):
    a = bundle.write_pyz(tmp_path / "a.pyz")
    b = bundle.write_pyz(tmp_path / "b.pyz")
    assert open(a, "rb").read() == open(b, "rb").read()
    names = zipfile.ZipFile(a).namelist()
    for needed in (
        "__main__.py",
        "edgekit/__init__.py",
        "edgekit/errors.py",
        "edgekit/harness/worker.py",
        "edgekit/harness/stats.py",
        "edgekit/results/schema.py",
        "edgekit/runtimes/litert.py",
    ):
        assert needed in names
    for host_only in ("edgekit/harness/bundle.py", "edgekit/cli.py", "edgekit/api.py"):
        assert host_only not in names
    # Same bytes as the host's modules: no second copy of the statistics.
    with zipfile.ZipFile(a) as z:
        assert z.read("edgekit/harness/stats.py") == (bundle.PKG_DIR / "harness" / "stats.py").read_bytes()
    cached = bundle.runner_pyz()
    assert os.path.basename(cached) == f"runner-{bundle.content_hash()[:16]}.pyz"
    assert bundle.runner_pyz() == cached


def test_runner_runs_where_edgekit_is_not_importable(tmp_path, small_model):
    """`python runner.pyz` with numpy and the runtime importable but no edgekit on the path."""
    pyz = bundle.write_pyz(tmp_path / "runner.pyz")
    site = sysconfig.get_paths()["purelib"]
    # -S skips site (and with it the editable-install hook of this checkout); PYTHONPATH gives
    # back only the third-party packages.
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": site, "HOME": str(tmp_path)}
    probe = subprocess.run([sys.executable, "-S", "-c", "import edgekit"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'edgekit'" in probe.stderr
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"artifact": str(small_model), "min_runs": 5, "min_time_s": 0.0, "warmup": 1}))
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-S", str(pyz), "--spec", "spec.json", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = validate(json.loads(out.read_text()))
    assert result["status"] == "ok" and result["latency_ms"]["n"] >= 5
    assert result["runtime"]["name"] == "ai_edge_litert"
