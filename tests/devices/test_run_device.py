"""`edgekit run --device`: a classifier's top-k from a device, the image decoded on this machine."""

from __future__ import annotations

import json


from edgekit import api
from tests.conftest import assert_one_line_error, run_cli


def test_run_on_the_ssh_device_prints_the_same_top_k_as_the_host(devices_dir, small_model, coral):
    image, labels = coral / "images" / "parrot.jpg", coral / "labels" / "imagenet_labels.txt"
    remote = run_cli(
        "run", "--device", "local-ssh", "--devices-dir", devices_dir, small_model, "--image", image, "--labels", labels, "--json"
    )
    host = run_cli("run", small_model, "--image", image, "--labels", labels, "--json")
    assert remote.returncode == 0, remote.stderr
    r, h = json.loads(remote.stdout), json.loads(host.stdout)
    assert r["top_k"][0]["label"] == "macaw"
    # One decode (here) and the same runtime build: identical scores, not merely the same argmax.
    assert r["top_k"] == h["top_k"]
    table = run_cli(
        "run",
        "--device",
        "local-ssh",
        "--devices-dir",
        devices_dir,
        small_model,
        "--image",
        image,
        "--labels",
        labels,
        "--top-k",
        "3",
    )
    assert table.returncode == 0 and "on local-ssh" in table.stdout and "macaw" in table.stdout, table.stderr


def test_the_image_is_decoded_on_this_machine_for_a_device(devices_dir, small_model, coral):
    """Boards often lack Pillow: the device receives the model's input array, and the result says so."""
    out = api.classify(
        str(small_model), image=str(coral / "images" / "parrot.jpg"), device="local-ssh", devices_dir=[str(devices_dir)], top_k=1
    )
    assert out["result"]["inputs"] == "parrot.jpg (decoded on the host)"
    assert out["result"]["device"]["name"] == "local-ssh"


def test_run_device_errors_are_one_line(devices_dir, small_model, tmp_path):
    missing = run_cli(
        "run", "--device", "no-such-board", "--devices-dir", devices_dir, small_model, "--image", tmp_path / "x.jpg"
    )
    assert_one_line_error(missing, "no-such-board")
    not_image = tmp_path / "x.jpg"
    not_image.write_bytes(b"not an image")
    bad = run_cli("run", "--device", "local-ssh", "--devices-dir", devices_dir, small_model, "--image", not_image)
    assert_one_line_error(bad, "x.jpg")
