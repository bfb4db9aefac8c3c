"""How long a converter toolchain takes to install, cold and already installed (BENCHMARKS.md).

    python benchmarks/toolchain_install.py litert onnx2tf [--dir DIR] [--keep]

Each toolchain is installed with ``edgekit toolchains install NAME`` into a fresh toolchains
directory (a temporary one unless --dir) with pip's cache off (PIP_NO_CACHE_DIR=1), so every wheel
comes from the registry or the configured wheel directories, as on a new machine; then
``ensure()`` on the installed environment (what every later build pays) is timed, and the
environment's size measured. Prints one JSON line per toolchain.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+")
    ap.add_argument("--dir", help="toolchains directory to install into (default: a fresh temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="edgekit-toolchains-bench-"))
    env = {
        **os.environ,
        "EDGEKIT_TOOLCHAINS_DIR": str(base),
        "PIP_NO_CACHE_DIR": "1",
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    try:
        for name in args.names:
            load = os.getloadavg()[0]
            start = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "edgekit", "toolchains", "install", name],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            cold = time.monotonic() - start
            if proc.returncode != 0:
                print(json.dumps({"toolchain": name, "error": proc.stderr.strip().splitlines()[-1:]}))
                continue
            warm = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    (
                        "import time, edgekit.toolchains as t; s = time.perf_counter(); "
                        f"t.ensure({name!r}); print(time.perf_counter() - s)"
                    ),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            info = json.loads(
                subprocess.run(
                    [sys.executable, "-m", "edgekit", "toolchains", "list", "--json"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            row = next(t for t in info["toolchains"] if t["name"] == name)
            print(
                json.dumps(
                    {
                        "toolchain": name,
                        "cold_install_s": round(cold, 1),
                        "pip_and_checks_s": row["marker"].get("seconds"),
                        "ensure_installed_ms": round(float(warm.stdout) * 1000, 1),
                        "size_gb": round(row["size"] / 1e9, 2),
                        "packages": row["marker"].get("packages"),
                        "load_avg_at_start": round(load, 1),
                    }
                ),
                flush=True,
            )
    finally:
        if not args.dir and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
