"""Fixtures for the device tests: a real OpenSSH server on 127.0.0.1 as the "local-ssh" device."""

from __future__ import annotations

import pytest

from tests.sshd import SSHServer, sshd_available

MODEL = "mobilenet_v1_0.25_128_quant.tflite"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    why = sshd_available()
    if why:
        pytest.skip(why)
    server = SSHServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def devices_dir(sshd, tmp_path_factory):
    d = tmp_path_factory.mktemp("devices")
    sshd.write_profile(d, "local-ssh")
    return d


@pytest.fixture(scope="session")
def local_ssh(sshd, devices_dir):
    from edgekit.devices.profiles import get_device

    return get_device("local-ssh", [str(devices_dir)])


@pytest.fixture(scope="session")
def small_model(coral_models):
    return coral_models / MODEL
