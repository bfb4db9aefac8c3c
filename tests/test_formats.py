"""Format records: every record complete, detection round-trips, and a format added by one module
shows up everywhere (detect_format, doctor, the probe, packaging, device profiles) with no other edit."""

from __future__ import annotations

import importlib
import json
import re
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from edgekit.devices.fixes import Problem
from edgekit.harness import probe
from edgekit.runtimes import detect_format
from edgekit.runtimes.base import Runtime
from edgekit.runtimes.formats import FORMATS, FormatRecord, remote_name_for, resolve


def _pte(tmp: Path) -> Path:  # the .pte identifier ("ET" + two version digits at bytes 4-8)
    p = tmp / "program.pte"
    p.write_bytes(b"\0\0\0\0ET12" + b"\0" * 64)
    return p


def _ptl(tmp: Path) -> Path:  # a TorchScript zip with mobile bytecode, as torch writes it
    p = tmp / "module.ptl"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("module/bytecode.pkl", b"\x80\x02).")
        z.writestr("module/data.pkl", b"\x80\x02).")
    return p


# A sample of every format, real where the shared test data has one, built where it is cheap. A new
# format adds its sample here (the conformance test fails until it does).
SAMPLES = {
    "tflite": lambda tmp, coral: coral / "models" / "mobilenet_v1_0.25_128_quant.tflite",
    "edgetpu": lambda tmp, coral: coral / "models" / "mobilenet_v1_0.25_128_quant_edgetpu.tflite",
    "pte": lambda tmp, coral: _pte(tmp),
    "ptl": lambda tmp, coral: _ptl(tmp),
    "onnx": lambda tmp, coral: coral.parent / "onnx" / "rapidocr" / "ch_ppocr_mobile_v2.0_cls_infer.onnx",
}
BUILTIN = ("tflite", "edgetpu", "pte", "ptl", "onnx")


@pytest.mark.parametrize("name", FORMATS.names())
def test_every_record_is_complete(name, tmp_path, coral):
    record = FORMATS.get(name)
    assert isinstance(record, FormatRecord) and record.name == name
    assert record.title and record.suffixes and all(s.startswith((".", "_")) for s in record.suffixes)
    assert record.remote_name() == "model" + record.suffixes[0]
    assert record.providers and len({p.name for p in record.providers}) == len(record.providers)
    for provider in record.providers:
        runtime = resolve(provider.runtime)
        assert isinstance(runtime, Runtime) and runtime.format == name, provider
        assert record.provider(provider.name) is provider
    assert record.provider(None) is record.providers[0]
    # probe loader: a function of probe.py, or of the file the record names
    if record.probe.file is None:
        assert callable(getattr(probe, record.probe.function))
    else:
        assert Path(record.probe.file).is_file()
    check = resolve(record.doctor_check)
    assert callable(check)
    assert record.blocking and all(isinstance(c, str) for c in record.blocking)
    assert record.hints.install
    assert record.packaging is not None and record.packaging.android and record.packaging.ios
    assert (record.android_runner is None) == (record.android_tool is None)
    if record.android_runner:
        assert callable(resolve(record.android_runner))
    if record.spec_reader:
        assert callable(resolve(record.spec_reader))
    # detection round-trips on a file of the format, and its name keeps its format on a device
    assert name in SAMPLES, f"add a sample {name} file to SAMPLES"
    sample = SAMPLES[name](tmp_path, coral)
    assert detect_format(str(sample)) == name
    assert record.detect(str(sample), sample.read_bytes()[:64])
    assert remote_name_for(str(sample)) == record.remote_name()
    # inspector: a module with describe(path, input_shapes) and render(info), and inspect picks it
    from edgekit.inspect.formats import choose

    if record.inspector:
        module = importlib.import_module(record.inspector)
        assert callable(module.describe) and callable(module.render)
        assert choose(str(sample)) == ("inspector", record.inspector)
    else:
        how, what = choose(str(sample))
        assert how == "tflite" or (how == "refuse" and record.title in str(what)), (how, what)


def test_builtin_formats_and_providers():
    assert FORMATS.names()[: len(BUILTIN)] == list(BUILTIN)
    assert [p.name for p in FORMATS.get("tflite").providers] == [
        "ai_edge_litert",
        "tflite_runtime",
        "tensorflow",
        "litert-compiled",
    ]
    assert FORMATS.get("edgetpu").priority > FORMATS.get("tflite").priority


def test_listing_formats_imports_no_framework():
    code = (
        "import sys; from edgekit.runtimes.formats import FORMATS; FORMATS.records(); "
        "print(sorted(m for m in ('numpy', 'torch', 'tensorflow', 'executorch', 'ai_edge_litert') if m in sys.modules))"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- a format from one new module ---------------------------------------------------------------

TOY_MODULE = '''
"""A toy format: b"TOY1" files, run by a runtime that doubles its input."""
import json, os


def probe_load(path, provider=None, input_shapes=None):  # runs on the device, standard library only
    with open(path, "rb") as f:
        ok = f.read(4) == b"TOY1"
    return {"runtime": "toyrt", "ok": ok, **({} if ok else {"error": "not a toy"})}


def check(path, facts, python, provider=None):
    from edgekit.devices.fixes import Problem
    problems = [] if facts.get("packages", {}).get("numpy") else [Problem("no-toyrt", "no numpy")]
    problems.append(Problem("toy-note", "toys are toys", severity="warning"))
    return problems, {"runtime": {"name": "toyrt", "version": "1"}}


def specs(path):
    return [{"name": "x", "shape": [1, 2], "dtype": "float32"}], [{"name": "y", "shape": [1, 2], "dtype": "float32"}]


if __name__ != "edgekit_probe_loader":  # on a device the probe imports only probe_load
    from edgekit.runtimes.base import Runtime
    from edgekit.runtimes.formats import FormatRecord, Hints, Packaging, ProbeLoader, Provider, register_format

    class ToyRuntime(Runtime):
        format = "toy"

    RUNTIME = ToyRuntime()
    FORMAT = register_format(FormatRecord(
        name="toy", title="toy model", suffixes=(".toy",),
        detect=lambda path, head: head[:4] == b"TOY1", priority=5,
        providers=(Provider("toyrt", __name__ + ":RUNTIME"),),
        probe=ProbeLoader("probe_load", file=__file__),
        doctor_check=__name__ + ":check", blocking=frozenset({"no-toyrt"}),
        hints=Hints(install="pip install toyrt"),
        packaging=Packaging("toy", True, "Android: ToyLoader.load(asset)", "iOS: Toy(path:)"),
        spec_reader=__name__ + ":specs",
    ))
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "edgekit_toy_format.py").write_text(textwrap.dedent(TOY_MODULE))
    monkeypatch.syspath_prepend(str(mod_dir))
    module = importlib.import_module("edgekit_toy_format")
    model = tmp_path / "m.toy"
    model.write_bytes(b"TOY1" + b"\0" * 16)
    yield model
    FORMATS.unregister("toy")
    sys.modules.pop("edgekit_toy_format", None)
    del module


def test_a_toy_format_shows_up_everywhere(toy, tmp_path, monkeypatch):
    from edgekit.devices import doctor
    from edgekit.ship import package

    assert detect_format(str(toy)) == "toy"
    assert remote_name_for(str(toy)) == "model.toy"
    # the probe loads it with the record's loader (the file pushed beside probe.py)
    out = probe.load(str(toy), "toy", loader=f"{toy.parent / 'mods' / 'edgekit_toy_format.py'}:probe_load")
    assert out == {"runtime": "toyrt", "ok": True}
    # doctor: the record's check and its probe loader, on this machine
    report = doctor.doctor(None, [str(toy)])
    art = report["artifacts"][0]
    assert art["format"] == "toy" and art["runtime"] == {"name": "toyrt", "version": "1"}
    assert [p["code"] for p in art["problems"]] == ["toy-note"]
    assert art["load"] == {"runtime": "toyrt", "ok": True} and art["ok"] is True
    # packaging: the record's rules and spec reader
    items = package.collect([str(toy)])
    index = package.package(items, str(tmp_path / "app"), "android")
    assert index["models"][0]["model"] == "m.toy" and index["no_compress"] == ["toy"]
    assert index["notes"] == ["Android: ToyLoader.load(asset)"]
    sidecar = json.loads((tmp_path / "app" / "m.json").read_text())
    assert sidecar["inputs"][0]["name"] == "x"
    # a device profile may name it as a runtime, and `edgekit devices` lists that profile
    devdir = tmp_path / "devices"
    devdir.mkdir()
    (devdir / "toybox.toml").write_text('transport = "host"\nruntimes = ["tflite", "toy"]\n')
    from edgekit import api

    listed = {d["name"]: d for d in api.devices([str(devdir)], probe=False)["configured"]}
    assert listed["toybox"]["state"] == "not probed"
    # and the lists in messages name it
    from edgekit.runtimes.formats import model_kinds, runnable_files

    assert runnable_files().endswith("and .toy") and model_kinds() == "a .tflite, .pte, .ptl, .onnx or .toy file"


def test_a_toy_format_blocks_its_load_check(toy, monkeypatch):
    from edgekit.devices import doctor
    from edgekit.devices.session import Device

    real = Device.facts

    def no_numpy(self):
        facts = json.loads(json.dumps(real(self)))
        facts["packages"]["numpy"] = None
        return facts

    monkeypatch.setattr(Device, "facts", no_numpy)
    art = doctor.doctor(None, [str(toy)])["artifacts"][0]
    assert {p["code"] for p in art["problems"]} == {"no-toyrt", "toy-note"}
    assert art["load"] is None and art["ok"] is False


def test_without_the_module_the_toy_is_unknown(tmp_path):
    model = tmp_path / "m.toy"
    model.write_bytes(b"TOY1" + b"\0" * 16)
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError, match="cannot tell the format") as exc:
        detect_format(str(model))
    assert exc.value.hint == "edgekit runs .tflite, _edgetpu.tflite, .pte, .ptl and .onnx files"


# --- no format names compared outside the records ------------------------------------------------

_NAMES = "tflite|pte|ptl|edgetpu|onnx"
_COMPARISON = re.compile(
    rf"""(==|!=)\s*["']({_NAMES})["']|["']({_NAMES})["']\s*(==|!=)|\bin\s*[\(\[{{][^)\]}}]*["']({_NAMES})["']"""
)


# Comparisons that look like format names but are not: target names (the ptl build target).
NOT_FORMATS = {"torchkit/export.py"}


def test_no_format_name_comparisons_outside_the_records():
    root = Path(__file__).resolve().parent.parent / "edgekit"
    hits = []
    for path in sorted(root.rglob("*.py")):
        if str(path.relative_to(root)) in NOT_FORMATS:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if _COMPARISON.search(code) and ".accelerator" not in code:  # accelerator names are not formats
                hits.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert hits == [], "route these through the format records:\n" + "\n".join(hits)


def test_problem_codes_are_the_records_blocking_codes():
    """Every blocking code a record names is one its check can produce (a typo would never block)."""
    import inspect as pyinspect

    for record in FORMATS.records():
        source = pyinspect.getsource(sys.modules[resolve(record.doctor_check).__module__])
        for code in record.blocking:
            assert f'"{code}"' in source, (record.name, code)
    assert Problem("x", "y").severity == "error"


def test_the_probes_own_tables_agree_with_the_records():
    """probe.py cannot import edgekit (it runs on a bare device Python), so it keeps the TFLite
    Interpreter packages and the distributions it reports itself: they must match the records."""
    tflite = FORMATS.get("tflite")
    interpreters = [p for p in tflite.providers if p.runtime == tflite.providers[0].runtime]
    assert [(n, d) for n, _m, d in probe.TFLITE_PROVIDERS] == [(p.name, p.distributions[0]) for p in interpreters]
    from edgekit.runtimes.litert import PROVIDERS

    assert [(n, m) for n, m, _d in probe.TFLITE_PROVIDERS] == list(PROVIDERS.items())
    for record in FORMATS.records():
        for provider in record.providers:
            assert set(provider.distributions) <= set(probe.PACKAGES), (record.name, provider.name)
