"""The ssh transport against a real OpenSSH server on 127.0.0.1 (tests/sshd.py)."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from edgekit.api import bench_spec
from edgekit.devices.profiles import profile_from_dict
from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.results.schema import validate
from edgekit.transports.base import RUN_DIR_PREFIX, open_transport
from edgekit.transports.ssh import SSHTransport
from tests.conftest import assert_one_line_error, run_cli
from tests.sshd import SSHServer, free_port

QUICK = dict(warmup=2, min_runs=10, min_time_s=0.2)


def run_dirs(profile) -> list[str]:
    if not os.path.isdir(profile.workdir):
        return []
    return [d for d in os.listdir(profile.workdir) if d.startswith(RUN_DIR_PREFIX)]


def test_run_quotes_every_argument(local_ssh):
    with open_transport(local_ssh) as t:
        tricky = ["a b", "it's", '"dq"', "$HOME", "; touch /tmp/edgekit-pwned", "`id`", "*"]
        proc = t.run(["printf", "%s\\n", *tricky], timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == tricky
        assert not os.path.exists("/tmp/edgekit-pwned")
        assert t.run(["sh", "-c", "exit 7"], timeout=30).returncode == 7
        with pytest.raises(TypeError):
            t.run("echo hi")  # a shell string is refused


def test_push_pull_sha256_mkdtemp_remove(local_ssh, tmp_path, small_model):
    from edgekit.build.artifacts import sha256_file

    with open_transport(local_ssh) as t:
        d = t.mkdtemp()
        assert os.path.basename(d).startswith(RUN_DIR_PREFIX)
        assert oct(os.stat(d).st_mode & 0o777) == "0o700"
        t.push(str(small_model), f"{d}/m.tflite")
        assert t.sha256(f"{d}/m.tflite") == sha256_file(small_model)
        assert t.sha256(f"{d}/missing") is None
        t.pull(f"{d}/m.tflite", str(tmp_path / "back.tflite"))
        assert sha256_file(tmp_path / "back.tflite") == sha256_file(small_model)
        t.remove(d)
        assert not os.path.exists(d)


def test_bench_over_ssh_matches_a_host_run(devices_dir, small_model, tmp_path):
    """The done-when criterion: same result fields as a host run; p50 in a loose sanity band here
    (the 15% comparison with interleaved runs is benchmarks/ssh_vs_host.py)."""
    args = ["--min-time", "0.5", "--warmup", "5", "--threads", "1", "--no-history"]
    ssh_proc = run_cli(
        "bench", "--device", "local-ssh", "--devices-dir", devices_dir, small_model, "--json", "-o", tmp_path / "ssh.json", *args
    )
    host_proc = run_cli("bench", small_model, "--json", *args)
    assert ssh_proc.returncode == 0, ssh_proc.stderr
    assert host_proc.returncode == 0, host_proc.stderr
    remote, host = validate(json.loads(ssh_proc.stdout)), validate(json.loads(host_proc.stdout))
    assert json.loads((tmp_path / "ssh.json").read_text())["artifact"]["sha256"] == host["artifact"]["sha256"]

    def shape(doc, depth=0):
        if isinstance(doc, dict) and depth < 2:
            return {k: shape(v, depth + 1) for k, v in doc.items() if k not in ("pool", "outputs_file")}
        return type(doc).__name__

    assert set(remote) - {"pool"} == set(host)
    for key in ("artifact", "latency_ms", "memory", "runtime", "settings", "platform", "thermal"):
        assert shape(remote[key]) == shape(host[key]), key
    assert set(remote["device"]) == set(host["device"]) | {"arch"}
    assert remote["device"]["name"] == "local-ssh" and remote["device"]["transport"] == "ssh"
    assert remote["device"]["emulated"] is False and "fingerprint" in remote["device"]
    assert remote["artifact"]["name"] == small_model.name and remote["artifact"]["path"] == str(small_model)
    assert remote["runtime"]["threads"] == 1
    ratio = remote["latency_ms"]["p50"] / host["latency_ms"]["p50"]
    assert 0.25 < ratio < 4.0, ratio  # sanity only: other jobs share these 2 cores


def test_profile_threads_and_emulated_reach_the_result(sshd, small_model):
    profile = profile_from_dict("emu-board", sshd.profile(threads=1, emulated=True))
    with open_transport(profile) as t:
        result = t.run_worker(bench_spec(str(small_model), **QUICK), timeout=120)
    assert validate(result)["status"] == "ok"
    assert result["device"]["emulated"] is True and result["device"]["name"] == "emu-board"
    assert result["settings"]["threads"] == 1
    assert run_dirs(profile) == []


def test_hash_mismatch_is_caught_before_running(local_ssh, small_model):
    class CorruptingTransport(SSHTransport):
        def push(self, local, remote):
            super().push(local, remote)
            if remote.endswith(".tflite"):  # flip the file on the device, as a bad link would
                self.run(["sh", "-c", 'printf x >> "$1"', "sh", remote], timeout=30)

    t = CorruptingTransport(local_ssh)
    try:
        with pytest.raises(EdgekitError, match=r"has sha256 .* the local file"):
            t.run_worker(bench_spec(str(small_model), **QUICK), timeout=60)
    finally:
        t.close()
    assert run_dirs(local_ssh) == []


def test_wrong_host_key_is_refused(sshd, tmp_path, devices_dir, small_model):
    other = SSHServer(tmp_path / "other")  # generates a different host key; never started
    bad_known = tmp_path / "known_hosts"
    bad_known.write_text(other.known_hosts.read_text().replace(f"]:{other.port} ", f"]:{sshd.port} "))
    assert f"]:{sshd.port} " in bad_known.read_text()
    sshd.write_profile(tmp_path / "devs", "spoofed", known_hosts=str(bad_known))
    proc = run_cli("bench", "--device", "spoofed", "--devices-dir", tmp_path / "devs", small_model, "--no-history")
    assert_one_line_error(proc, "host key", "does not match known_hosts")
    assert proc.returncode == 3
    (tmp_path / "empty_known").write_text("")
    sshd.write_profile(tmp_path / "devs2", "unknown-key", known_hosts=str(tmp_path / "empty_known"))
    proc = run_cli("bench", "--device", "unknown-key", "--devices-dir", tmp_path / "devs2", small_model, "--no-history")
    assert_one_line_error(proc, "host key", "is not known")


def test_unreachable_device_fails_fast(sshd, tmp_path, small_model):
    sshd.write_profile(tmp_path, "nobody-home", port=free_port(), connect_timeout=2)
    t0 = time.monotonic()
    proc = run_cli("bench", "--device", "nobody-home", "--devices-dir", tmp_path, small_model, "--no-history")
    assert_one_line_error(proc, "nobody-home", "refused the ssh connection")
    # 192.0.2.0/24 is TEST-NET-1: never routed, so the connection times out (or the network says so)
    sshd.write_profile(tmp_path, "blackhole", host="192.0.2.1", connect_timeout=1)
    proc = run_cli("bench", "--device", "blackhole", "--devices-dir", tmp_path, small_model, "--no-history")
    assert_one_line_error(proc, "blackhole")
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - t0 < 60


def test_timeout_stops_the_remote_runner_and_cleans_up(local_ssh, small_model):
    spec = bench_spec(str(small_model), warmup=0, min_runs=1, min_time_s=60.0)
    with open_transport(local_ssh) as t:
        t0 = time.monotonic()
        result = t.run_worker(spec, timeout=4)  # an error result, so a batch or a pool goes on
        assert result["status"] == "error" and "did not finish within 4 s" in result["error"]["message"]
        assert time.monotonic() - t0 < 30
    time.sleep(0.5)
    assert run_dirs(local_ssh) == []


@pytest.mark.slow
def test_server_killed_mid_run(tmp_path, small_model):
    """The device vanishes mid-benchmark: a clear error within the timeout, no hang; the run's
    directory (left behind because the device died with it) is gone after the device comes back."""
    server = SSHServer(tmp_path / "dying").start()
    profile = profile_from_dict("dying", server.profile())
    outcome: dict = {}

    def bench():
        t = open_transport(profile)
        try:
            t.run_worker(bench_spec(str(small_model), warmup=0, min_runs=1, min_time_s=60.0), timeout=90)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc
        finally:
            outcome["at"] = time.monotonic()
            t.close()

    try:
        thread = threading.Thread(target=bench, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            os.path.exists(os.path.join(profile.workdir, d, "pids")) for d in run_dirs(profile)
        ):
            time.sleep(0.1)
        assert run_dirs(profile), "the run never started on the device"
        time.sleep(0.5)
        killed_at = time.monotonic()
        server.kill()
        thread.join(timeout=40)
        assert not thread.is_alive(), "bench hung after the device died"
        assert outcome["at"] - killed_at < 30
        err = outcome["error"]
        assert isinstance(err, EnvironmentMissing), repr(err)
        assert "lost the ssh connection" in err.line().lower() or "refused" in err.line().lower()
        assert run_dirs(profile), "killed with the device, the run directory should still be there"
        server.start()  # the device comes back
        with open_transport(profile) as t:
            result = t.run_worker(bench_spec(str(small_model), **QUICK), timeout=120)
        assert result["status"] == "ok"
        assert run_dirs(profile) == []
    finally:
        server.stop()


def test_image_input_and_saved_outputs_travel_both_ways(local_ssh, coral, small_model, tmp_path):
    out = tmp_path / "outputs.npz"
    spec = bench_spec(
        str(small_model),
        warmup=0,
        min_runs=1,
        min_time_s=0.0,
        max_runs=1,
        save_outputs=str(out),
        inputs={"kind": "image", "path": str(coral / "images" / "parrot.jpg")},
    )
    with open_transport(local_ssh) as t:
        result = t.run_worker(spec, timeout=60)
    assert result["status"] == "ok" and result["inputs"] == "input.jpg"
    import numpy as np

    with np.load(out) as data:
        scores = data["output_0"].reshape(-1)
    assert scores.size == 1001 and int(np.argmax(scores)) == 89  # imagenet 89: macaw (Coral's label file)
    assert run_dirs(local_ssh) == []


def test_model_errors_name_the_users_file_not_the_devices_copy(devices_dir, coral_models):
    """A model the device's runtime rejects: one line naming the user's file, not the temp copy."""
    model = coral_models / "model_invoking_error.tflite"
    proc = run_cli("bench", "--device", "local-ssh", "--devices-dir", devices_dir, model, "--no-history")
    line = assert_one_line_error(proc, "fake-op-double")
    assert str(model) in line and RUN_DIR_PREFIX not in line
