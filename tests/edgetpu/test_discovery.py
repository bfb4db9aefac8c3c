"""Edge TPU discovery without pycoral: USB ids in sysfs and /dev/apex_* nodes (a fake tree here)."""

from __future__ import annotations

from edgekit.edgetpu.discovery import from_system, list_edgetpus


def _usb(root, name, vendor, product):
    d = root / "bus" / "usb" / "devices" / name
    d.mkdir(parents=True)
    (d / "idVendor").write_text(vendor + "\n")
    (d / "idProduct").write_text(product + "\n")


def test_usb_ids_and_apex_nodes_are_found(tmp_path):
    sys_root, dev_root = tmp_path / "sys", tmp_path / "dev"
    _usb(sys_root, "1-1", "1a6e", "089a")  # Coral USB before its firmware is loaded
    _usb(sys_root, "1-2", "046d", "c52b")  # a mouse
    _usb(sys_root, "2-1", "18d1", "9302")  # Coral USB, initialised
    dev_root.mkdir()
    (dev_root / "apex_0").write_text("")
    (dev_root / "null").write_text("")
    found = from_system(str(sys_root), str(dev_root))
    assert [(d["type"], d["selector"], d.get("usb_id")) for d in found] == [
        ("usb", "usb:0", "1a6e:089a"),
        ("usb", "usb:1", "18d1:9302"),
        ("pci", "pci:0", None),
    ]
    assert "firmware" in found[0]["state"] and found[1]["state"] == "ready"
    assert found[2]["path"].endswith("apex_0")


def test_nothing_attached_is_an_empty_list(tmp_path):
    assert from_system(str(tmp_path / "sys"), str(tmp_path / "dev")) == []
    assert list_edgetpus(str(tmp_path / "sys"), str(tmp_path / "dev")) == []  # no real pycoral here
