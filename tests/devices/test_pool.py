"""Pools: devices run concurrently, one benchmark per device at a time, results per device."""

from __future__ import annotations

import json
import threading
import time

import pytest

from edgekit.api import bench_spec
from edgekit.devices.profiles import profile_from_dict
from edgekit.devices.pool import device_lock, lock_key, run_on_device, run_pool
from edgekit.results.schema import validate
from tests.conftest import run_cli
from tests.sshd import SSHServer


@pytest.fixture(scope="module")
def second_sshd(tmp_path_factory):
    server = SSHServer(tmp_path_factory.mktemp("sshd2")).start()
    yield server
    server.stop()


def test_two_devices_run_concurrently_one_job_each(sshd, second_sshd, small_model):
    a = profile_from_dict("pool-a", sshd.profile())
    b = profile_from_dict("pool-b", second_sshd.profile())
    specs = [bench_spec(str(small_model), warmup=1, min_runs=5, min_time_s=1.0)] * 2
    runs = run_pool([a, b], specs, timeout=120)
    assert [r.device.name for r in runs] == ["pool-a", "pool-b"]
    for run in runs:
        assert run.error is None, run.error
        assert len(run.results) == 2
        for r in run.results:
            assert validate(r)["status"] == "ok" and r["device"]["name"] == run.device.name
        first, second = (r["pool"] for r in run.results)
        assert second["started"] >= first["finished"]  # never two at once on one device
    a1, b1 = runs[0].results[0]["pool"], runs[1].results[0]["pool"]
    assert a1["started"] < b1["finished"] and b1["started"] < a1["finished"]  # the devices overlapped


def test_a_busy_device_waits_for_its_lock(sshd, small_model):
    profile = profile_from_dict("locked", sshd.profile())
    done = {}

    def later():
        done["run"] = run_on_device(profile, [bench_spec(str(small_model), warmup=0, min_runs=2, min_time_s=0.0)], timeout=60)

    with device_lock(profile):
        thread = threading.Thread(target=later)
        thread.start()
        time.sleep(1.5)
        assert thread.is_alive()
    thread.join(timeout=60)
    run = done["run"]
    assert run.error is None and run.results[0]["pool"]["lock_wait_s"] >= 1.0
    # Two profiles of one physical device share its lock.
    alias = profile_from_dict("alias", sshd.profile(description="same board"))
    assert lock_key(alias) == lock_key(profile)


def test_cli_pool_writes_one_json_per_device(sshd, second_sshd, small_model, tmp_path):
    sshd.write_profile(tmp_path / "devs", "pi-a")
    second_sshd.write_profile(tmp_path / "devs", "pi-b")
    out = tmp_path / "out"
    proc = run_cli(
        "bench",
        "--device",
        "pi-a",
        "--device",
        "pi-b",
        "--devices-dir",
        tmp_path / "devs",
        small_model,
        "--min-time",
        "0.3",
        "--warmup",
        "2",
        "-o",
        out,
        "--no-history",
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["pi-a.json", "pi-b.json"]
    for name in ("pi-a", "pi-b"):
        assert validate(json.loads((out / f"{name}.json").read_text()))["device"]["name"] == name
        assert f"on {name}" in proc.stdout
    assert "Devices" in proc.stdout  # the per-device table


def test_one_failing_device_keeps_the_others_results(sshd, small_model, tmp_path):
    from tests.sshd import free_port

    sshd.write_profile(tmp_path / "devs", "good")
    sshd.write_profile(tmp_path / "devs", "gone", port=free_port(), connect_timeout=2)
    out = tmp_path / "out"
    proc = run_cli(
        "bench",
        "--device",
        "good",
        "--device",
        "gone",
        "--devices-dir",
        tmp_path / "devs",
        small_model,
        "--min-time",
        "0.2",
        "--warmup",
        "1",
        "-o",
        out,
        "--no-history",
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [l for l in proc.stderr.splitlines() if l.startswith("edgekit:")]
    assert len(errors) == 1 and "refused" in errors[0] and errors[0].endswith("[device gone]")
    assert [p.name for p in out.iterdir()] == ["good.json"]
    assert validate(json.loads((out / "good.json").read_text()))["status"] == "ok"
