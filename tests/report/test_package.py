"""edgekit package: Android and iOS layouts, sidecar contents and the sha256 of every copied file."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from edgekit.build.artifacts import ArtifactEntry, Manifest
from tests.conftest import assert_one_line_error, run_cli

CPU = "mobilenet_v1_0.25_128_quant"
LSTM = "keras_lstm_mnist_ptq"


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_android_from_files(coral, coral_models, tmp_path):
    app = tmp_path / "MyApp"
    (app / "app").mkdir(parents=True)
    cpu, tpu = coral_models / f"{CPU}.tflite", coral_models / f"{CPU}_edgetpu.tflite"
    labels = coral / "labels" / "imagenet_labels.txt"
    proc = run_cli("package", cpu, tpu, "--android", app, "--labels", labels, "--normalize=-1,1")
    assert proc.returncode == 0, proc.stderr
    assets = app / "app" / "src" / "main" / "assets"
    assert sorted(p.name for p in assets.iterdir()) == sorted(
        [
            f"{CPU}.tflite",
            f"{CPU}.json",
            f"{CPU}_edgetpu.tflite",
            f"{CPU}_edgetpu.json",
            "imagenet_labels.txt",
            "edgekit-models.json",
        ]
    )
    # Copies are byte-identical, and the index records their sha256.
    index = json.loads((assets / "edgekit-models.json").read_text())
    for src in (cpu, tpu):
        assert sha(assets / src.name) == sha(src)
        (m,) = [m for m in index["models"] if m["model"] == src.name]
        assert m["sha256"] == sha(src) and m["sidecar"] == src.stem + ".json"
    assert index["platform"] == "android" and index["no_compress"] == ["tflite"]
    # Sidecar: tensors read from the flatbuffer, normalization, labels.
    side = json.loads((assets / f"{CPU}.json").read_text())
    assert side["schema"] == "edgekit.model-sidecar" and side["format"] == "tflite" and side["sha256"] == sha(cpu)
    (inp,) = side["inputs"]
    assert inp["name"] == "input" and inp["shape"] == [1, 128, 128, 3] and inp["dtype"] == "uint8"
    assert inp["quantization"] == {"scale": 0.0078125, "zero_point": 128}
    assert inp["normalization"]["mean"] == [127.5] and inp["normalization"]["std"] == [127.5]
    assert inp["normalization"]["raw_pixels_ok"] is True  # Coral's uint8 classifiers take camera bytes as they are
    (out,) = side["outputs"]
    assert out["shape"] == [1, 1001] and out["dtype"] == "uint8" and out["quantization"]["zero_point"] == 0
    assert side["labels"] == {"file": "imagenet_labels.txt", "count": 1001}
    assert (assets / "imagenet_labels.txt").read_text().splitlines()[2].startswith("goldfish")
    assert json.loads((assets / f"{CPU}_edgetpu.json").read_text())["format"] == "edgetpu"
    # Gradle snippet: printed and written beside the app module.
    gradle = (app / "app" / "edgekit-noCompress.gradle.kts").read_text()
    assert 'noCompress += listOf("tflite")' in gradle and 'noCompress += listOf("tflite")' in proc.stdout
    assert "Edge TPU" in proc.stdout  # the note that phones have no Edge TPU
    # Packaging again is idempotent; a different file under the same name needs --force.
    assert run_cli("package", cpu, "--android", app).returncode == 0
    (assets / f"{CPU}.tflite").write_bytes(b"x")
    assert_one_line_error(run_cli("package", cpu, "--android", app), "exists with different content", "--force")
    assert run_cli("package", cpu, "--android", app, "--force").returncode == 0
    assert sha(assets / f"{CPU}.tflite") == sha(cpu)


@pytest.fixture
def build_dir(coral_models, tmp_path):
    """A build output directory: real models and the manifest 'edgekit build' writes beside them."""
    out = tmp_path / "out"
    out.mkdir()
    m = Manifest(
        str(out),
        source={
            "spec": {
                "calibration": {
                    "path": "images/",
                    "preprocess": {
                        "scale": "0,1",
                        "channel_order": "rgb",
                        "mean": [0.485, 0.456, 0.406],
                        "std": [0.229, 0.224, 0.225],
                    },
                }
            }
        },
    )
    for target, model in (("tflite-int8", CPU), ("lstm-int8", LSTM)):
        shutil.copyfile(coral_models / f"{model}.tflite", out / f"{model}.tflite")
        from edgekit.ship.package import _tflite_specs

        ins, outs = _tflite_specs(str(out / f"{model}.tflite"))
        m.put(
            ArtifactEntry(
                target=target,
                status="built",
                format="tflite",
                file=f"{model}.tflite",
                sha256=sha(out / f"{model}.tflite"),
                quantization={"mode": "int8", "io": "uint8"},
                inputs=ins,
                outputs=outs,
                accuracy={"cosine": 0.998, "top1_agreement": 0.99},
            )
        )
    m.put(ArtifactEntry(target="tflite-int16x8", status="failed", error={"message": "no"}))
    return out


def test_ios_from_build_dir(build_dir, tmp_path):
    dest = tmp_path / "ios" / "Models"
    proc = run_cli("package", build_dir, "--ios", dest, "--json")
    assert proc.returncode == 0, proc.stderr
    index = json.loads(proc.stdout)
    assert index["platform"] == "ios" and {m["target"] for m in index["models"]} == {"tflite-int8", "lstm-int8"}
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [f"{CPU}.tflite", f"{CPU}.json", f"{LSTM}.tflite", f"{LSTM}.json", "edgekit-models.json", "README.txt"]
    )
    for m in index["models"]:
        assert sha(dest / m["model"]) == sha(build_dir / m["model"]) == m["sha256"]
    side = json.loads((dest / f"{CPU}.json").read_text())
    assert side["target"] == "tflite-int8" and side["quantization"] == {"mode": "int8", "io": "uint8"}
    assert side["accuracy"]["cosine"] == 0.998
    norm = side["inputs"][0]["normalization"]  # from the build spec's image preprocessing, in pixel units
    assert norm["source"].startswith("build spec") and norm["mean"][0] == pytest.approx(123.675)
    assert norm["std"][2] == pytest.approx(57.375) and norm["raw_pixels_ok"] is False
    lstm = json.loads((dest / f"{LSTM}.json").read_text())
    assert lstm["inputs"][0]["shape"] == [1, 28, 28] and lstm["inputs"][0]["dtype"] == "uint8"  # what the runtime reports too
    assert "folder reference" in (dest / "README.txt").read_text()
    # --target picks entries.
    only = json.loads(run_cli("package", build_dir, "--ios", tmp_path / "one", "--target", "lstm-int8", "--json").stdout)
    assert [m["target"] for m in only["models"]] == ["lstm-int8"]


def test_package_errors_are_one_line(build_dir, coral_models, tmp_path):
    cpu = coral_models / f"{CPU}.tflite"
    assert_one_line_error(run_cli("package", tmp_path / "nope.tflite", "--ios", tmp_path / "x"), "no such file")
    assert_one_line_error(run_cli("package", tmp_path, "--ios", tmp_path / "x"), "without manifest.json")
    assert_one_line_error(
        run_cli("package", build_dir, "--ios", tmp_path / "x", "--target", "nope"), "no target 'nope'", "tflite-int8"
    )
    assert_one_line_error(run_cli("package", cpu, "--ios", tmp_path / "x", "--normalize", "weird"), "unknown normalization")
    assert_one_line_error(run_cli("package", cpu, "--ios", tmp_path / "x", "--mean", "1"), "--mean and --std")
    assert_one_line_error(run_cli("package", cpu, "--android", tmp_path / "no-app"), "no such directory")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    assert_one_line_error(run_cli("package", junk, "--ios", tmp_path / "x"), "not a TFLite model")
    assert_one_line_error(run_cli("package", cpu), "--android", "--ios")


@pytest.mark.slow
@pytest.mark.torch
def test_android_pte_note_and_gradle(tmp_path):
    """A real ExecuTorch program: specs come from its runtime, and the files-dir note is printed."""
    pytest.importorskip("executorch")
    import subprocess
    import sys

    pte = tmp_path / "tiny.pte"
    code = (
        "import torch,sys\n"
        "from executorch.exir import to_edge_transform_and_lower\n"
        "from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner\n"
        "torch.manual_seed(0)\n"
        "m=torch.nn.Sequential(torch.nn.Linear(8,4),torch.nn.ReLU()).eval()\n"
        "ep=torch.export.export(m,(torch.randn(1,8),))\n"
        "open(sys.argv[1],'wb').write(to_edge_transform_and_lower(ep,partitioner=[XnnpackPartitioner()]).to_executorch().buffer)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(pte)], check=True, capture_output=True, timeout=300)
    app = tmp_path / "app"
    app.mkdir()
    proc = run_cli("package", pte, "--android", app, "--assets-dir", app / "assets")
    assert proc.returncode == 0, proc.stderr
    assert "getFilesDir" in proc.stdout and 'listOf("pte")' in proc.stdout
    side = json.loads((app / "assets" / "tiny.json").read_text())
    assert side["inputs"][0]["shape"] == [1, 8] and side["outputs"][0]["shape"] == [1, 4]
    assert side["inputs"][0]["dtype"] == "float32" and sha(app / "assets" / "tiny.pte") == sha(pte)
    assert (app / "edgekit-noCompress.gradle.kts").exists()
