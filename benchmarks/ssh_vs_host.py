"""Does a benchmark over SSH measure the same thing as one on the host? (issue 6's done-when)

Starts the test suite's loopback OpenSSH server (tests/sshd.py) as the "local-ssh" device and
measures one real Coral model alternately on the host (worker subprocess) and over SSH (the
single-file runner on the "device"), ROUNDS times each, interleaved so drifting machine load hits
both sides alike. Compares the medians of the per-round p50s; exits 1 if they differ by more than
15%. Both sides run on this very machine, so any difference is the transport's overhead or the
runner's, which must be none: the same harness code measures the same invoke() loop.

    .venv/bin/python benchmarks/ssh_vs_host.py [MODEL] [--rounds N] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgekit.api import bench_spec  # noqa: E402
from edgekit.devices.profiles import profile_from_dict  # noqa: E402
from edgekit.transports.base import open_transport  # noqa: E402
from edgekit.transports.host import HostTransport  # noqa: E402
from tests.conftest import CORAL  # noqa: E402
from tests.sshd import SSHServer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=str(CORAL / "models" / "mobilenet_v2_1.0_224_quant.tflite"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--tolerance", type=float, default=0.15)
    args = ap.parse_args()
    spec = bench_spec(args.model, threads=args.threads, warmup=10, min_runs=50, min_time_s=args.min_time)
    with tempfile.TemporaryDirectory(prefix="edgekit-sshbench-") as tmp:
        server = SSHServer(tmp).start()
        try:
            device = profile_from_dict("local-ssh", server.profile())
            host, ssh = HostTransport(), open_transport(device)
            host_p50, ssh_p50, walls = [], [], {"host": [], "ssh": []}
            for i in range(args.rounds):
                for name, transport, sink in (("host", host, host_p50), ("ssh", ssh, ssh_p50)):
                    t0 = time.monotonic()
                    result = transport.run_worker(spec, timeout=600)
                    walls[name].append(time.monotonic() - t0)
                    if result["status"] != "ok":
                        print(f"{name} run failed: {result.get('error')}")
                        return 2
                    sink.append(result["latency_ms"]["p50"])
                print(f"round {i + 1}: host p50 {host_p50[-1]:.3f} ms, ssh p50 {ssh_p50[-1]:.3f} ms")
            ssh.close()
        finally:
            server.stop()
    h, s = statistics.median(host_p50), statistics.median(ssh_p50)
    diff = (s - h) / h
    print(f"model {Path(args.model).name}, threads {args.threads}, {args.rounds} interleaved rounds")
    print(f"median p50: host {h:.3f} ms, ssh {s:.3f} ms, difference {diff:+.1%} (limit ±{args.tolerance:.0%})")
    print(
        f"median wall time per measurement: host {statistics.median(walls['host']):.2f} s, "
        f"ssh {statistics.median(walls['ssh']):.2f} s (push, hash check, run, read back, clean up)"
    )
    return 0 if abs(diff) <= args.tolerance else 1


if __name__ == "__main__":
    raise SystemExit(main())
