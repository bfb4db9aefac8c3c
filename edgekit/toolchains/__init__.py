"""Placeholder for the converter-toolchain manager (branch h-toolchains replaces this file).

Only ``run_worker`` with the manager's signature, using ``EDGEKIT_TOOLCHAIN_<NAME>_PYTHON``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from edgekit.errors import EdgekitError, EnvironmentMissing

WORKERS_DIR = Path(__file__).resolve().parent / "workers"


def run_worker(name: str, worker: str, spec: dict, *, workdir: str, timeout: float | None = None,
               progress=None, env: dict | None = None) -> dict:
    var = f"EDGEKIT_TOOLCHAIN_{name.upper()}_PYTHON"
    python = os.environ.get(var)
    if not python or not os.path.exists(python):
        raise EnvironmentMissing(f"the {name} toolchain is not installed", f"set {var}=/path/to/python")
    os.makedirs(workdir, exist_ok=True)
    script = WORKERS_DIR / f"{worker}.py"
    spec_path, out_path = os.path.join(workdir, f"{worker}.spec.json"), os.path.join(workdir, f"{worker}.out.json")
    with open(spec_path, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    child = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    child.update(env or {})
    with open(os.path.join(workdir, f"{worker}.log"), "w") as log:
        rc = subprocess.run([python, str(script), spec_path, out_path], cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                            env=child, timeout=timeout).returncode
    if not os.path.exists(out_path):
        raise EdgekitError(f"the {name} worker {worker} failed (exit {rc})", f"see {workdir}/{worker}.log")
    with open(out_path, encoding="utf-8") as f:
        data = json.load(f)
    if data.get("error"):
        raise EdgekitError(data["error"], data.get("hint", ""))
    return data
