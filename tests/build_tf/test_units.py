"""Fast checks of the framework-neutral build pieces (no TensorFlow): data, drift, spec, schema."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from PIL import Image

from edgekit.build import accuracy
from edgekit.build.calibration import DataSpec, Preprocess, load_data, split
from edgekit.errors import EdgekitError
from edgekit.build.manifest_schema import validate_manifest
from edgekit.sources import InputSpec, detect_kind
from edgekit.build.spec import from_dict, parse_input_shape, validate

X16 = [InputSpec("x", [1, 16])]
IMG = [InputSpec("img", [1, 4, 6, 3])]


# -- calibration -------------------------------------------------------------------------------
def test_npz_inputs_and_labels_and_split_is_disjoint(tmp_path):
    x = np.arange(100 * 16, dtype=np.float32).reshape(100, 16)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(100))
    data = load_data(DataSpec(path=str(tmp_path / "d.npz")), X16)
    assert len(data) == 100 and data.labels is not None
    cal, ev = split(data, count=30, eval_count=40, seed=0)
    assert len(cal) == 30 and len(ev) == 40
    assert not set(cal.indices) & set(ev.indices)
    # the labels travel with their samples
    assert all(ev.inputs[0][i][0] == ev.labels[i] * 16 for i in range(len(ev)))
    assert data.sha256() == load_data(DataSpec(path=str(tmp_path / "d.npz")), X16).sha256()


def test_split_of_small_data_still_holds_out(tmp_path):
    np.save(tmp_path / "d.npy", np.zeros((10, 16), np.float32))
    cal, ev = split(load_data(DataSpec(path=str(tmp_path / "d.npy")), X16), count=200, eval_count=200)
    assert len(ev) == 5 and len(cal) == 5 and not set(cal.indices) & set(ev.indices)


def test_samples_saved_with_batch_dimension_are_accepted(tmp_path):
    np.save(tmp_path / "d.npy", np.zeros((7, 1, 16), np.float32))
    assert load_data(DataSpec(path=str(tmp_path / "d.npy")), X16).inputs[0].shape == (7, 16)


@pytest.mark.parametrize(
    "arr,needle",
    [
        (np.full((5, 16), np.nan, np.float32), "NaN"),
        (np.zeros((5, 15), np.float32), "shape [5, 15]"),
    ],
)
def test_bad_arrays_are_one_error(tmp_path, arr, needle):
    np.save(tmp_path / "d.npy", arr)
    with pytest.raises(EdgekitError) as exc:
        load_data(DataSpec(path=str(tmp_path / "d.npy")), X16)
    assert needle in str(exc.value) and str(exc.value).startswith("edgekit: ")


def test_image_folder_with_class_subfolders_and_preprocessing(tmp_path):
    for cls, color in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new("RGB", (12, 8), color).save(tmp_path / cls / f"{i}.png")
    data = load_data(DataSpec(path=str(tmp_path), preprocess=Preprocess(scale="-1,1")), IMG)
    assert data.inputs[0].shape == (4, 4, 6, 3)
    assert list(data.labels) == [0, 0, 1, 1]
    assert np.allclose(data.inputs[0][0, 0, 0], [1.0, -1.0, -1.0])
    bgr = load_data(DataSpec(path=str(tmp_path), preprocess=Preprocess(channel_order="bgr", mean=[0.5] * 3, std=[0.5] * 3)), IMG)
    assert np.allclose(bgr.inputs[0][0, 0, 0], [-1.0, -1.0, 1.0])
    nchw = load_data(DataSpec(path=str(tmp_path)), [InputSpec("img", [1, 3, 4, 6])])
    assert nchw.inputs[0].shape == (4, 3, 4, 6)


def test_generator_and_random_are_flagged(tmp_path):
    data = load_data(DataSpec(generator="tests.build_tf.models:sample_generator"), X16)
    assert len(data) == 10 and list(data.labels[:4]) == [0, 1, 2, 0] and not data.random
    rnd = load_data(DataSpec(random=True, count=5, eval_count=5), X16)
    assert rnd.random and rnd.describe()["random"] is True and len(rnd) == 10


def test_missing_and_unreadable_data(tmp_path):
    with pytest.raises(EdgekitError, match="no such calibration data"):
        load_data(DataSpec(path=str(tmp_path / "none.npz")), X16)
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(EdgekitError, match="cannot read calibration data"):
        load_data(DataSpec(path=str(tmp_path / "x.csv")), X16)
    with pytest.raises(EdgekitError, match="cannot import"):
        load_data(DataSpec(generator="no_such_module_xyz:gen"), X16)


# -- accuracy ----------------------------------------------------------------------------------
def test_drift_metrics_have_known_values():
    ref = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], np.float32)
    same = accuracy.compare([ref], [ref.copy()], labels=np.array([0, 1]))
    assert same["cosine"] == pytest.approx(1.0) and same["max_abs_error"] == 0
    assert same["snr_db"] is None and same["snr_exact"] is True  # infinite SNR: strict JSON null plus a flag
    assert same["top1_agreement"] == 1.0 and same["accuracy"] == 100.0 and same["accuracy_drop"] == 0
    noisy = ref + np.array([[0.1, 0, 0], [0, 0, 0]], np.float32)  # signal 5, noise 0.01 -> 26.99 dB
    d = accuracy.compare([ref], [noisy])
    assert d["snr_db"] == pytest.approx(10 * np.log10(5 / 0.01), rel=1e-4)
    assert d["max_abs_error"] == pytest.approx(0.1)
    swapped = ref[:, [1, 0, 2]]
    assert accuracy.compare([ref], [swapped], labels=np.array([0, 1]))["accuracy"] == 0.0


def test_thresholds_report_every_miss_and_unavailable_metrics():
    d = {"cosine": 0.95, "snr_db": 30.0, "max_abs_error": 0.2}
    misses = accuracy.check_thresholds(d, {"min_cosine": 0.99, "min_snr_db": 20, "max_accuracy_drop": 1})
    assert any("cosine 0.95 < min_cosine 0.99" in m for m in misses)
    assert any("max_accuracy_drop set but accuracy_drop is not available" in m for m in misses)
    assert len(misses) == 2
    with pytest.raises(EdgekitError, match="unknown threshold"):
        accuracy.check_thresholds(d, {"min_cosinus": 1})


# -- spec --------------------------------------------------------------------------------------
def test_spec_round_trip_and_validation(tmp_path):
    spec = from_dict(
        {
            "source": "m.keras",
            "targets": ["tflite-fp32", "tflite-int8"],
            "inputs": [{"name": "x", "shape": [1, 16]}],
            "calibration": {"path": "d.npz", "count": 10, "preprocess": {"scale": "-1,1"}},
            "thresholds": {"min_cosine": 0.99},
            "options": {"tflite-int8": {"io_dtype": "uint8", "thresholds": {"max_accuracy_drop": 1}}},
        },
        base_dir=str(tmp_path),
    )
    validate(spec)
    assert spec.thresholds_for("tflite-int8") == {"min_cosine": 0.99, "max_accuracy_drop": 1.0}
    assert spec.options == {"tflite-int8": {"io_dtype": "uint8"}}
    assert spec.resolve("d.npz") == str(tmp_path / "d.npz")
    assert spec.to_dict()["calibration"]["preprocess"]["scale"] == "-1,1"


@pytest.mark.parametrize(
    "data,needle",
    [
        ({"source": "m.keras", "targets": ["tflite-fp32"], "bogus": 1}, "unknown key 'bogus'"),
        ({"source": "m.keras", "targets": ["tflite-fp32"], "calibration": {"count": "x"}}, "count must be int"),
        ({"source": "m.keras", "targets": ["tflite-fp32"], "inputs": [{"shape": [1, -3]}]}, "positive integers"),
        (
            {"source": "m.keras", "targets": ["tflite-fp32"], "calibration": {"preprocess": {"scale": "0,2"}}},
            "unknown image scaling",
        ),
    ],
)
def test_spec_errors_are_one_line(data, needle):
    with pytest.raises(EdgekitError) as exc:
        from_dict(data)
    assert needle in str(exc.value)


def test_spec_cross_checks():
    with pytest.raises(EdgekitError, match="unknown target 'tflite-int4'"):
        validate(from_dict({"source": "m.keras", "targets": ["tflite-int4"]}))
    with pytest.raises(EdgekitError, match="options given for unknown target 'tflite-int9'"):
        validate(from_dict({"source": "m.keras", "targets": ["tflite-fp32"], "options": {"tflite-int9": {"io_dtype": "int8"}}}))
    validate(from_dict({"source": "m.keras", "targets": ["tflite-fp32"], "options": {"tflite-int8": {"io_dtype": "int8"}}}))
    assert parse_input_shape("img=1,224,224,3").shape == [1, 224, 224, 3]
    with pytest.raises(EdgekitError):
        parse_input_shape("img=1,a")


def test_source_kind_detection(tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"x")
    assert detect_kind(str(tmp_path / "sm")) == "saved_model"
    assert detect_kind("model.h5") == "keras"
    assert detect_kind("pkg.mod:make") == "factory"
    with pytest.raises(EdgekitError, match="no such model"):
        detect_kind(str(tmp_path / "nothing.bin"))


# -- manifest schema -----------------------------------------------------------------------------
GOOD = {
    "schema": "edgekit.manifest",
    "schema_version": 1,
    "updated": "2026-01-01T00:00:00+00:00",
    "source": {"ref": "m.keras"},
    "artifacts": [
        {
            "target": "tflite-fp32",
            "status": "built",
            "format": "tflite",
            "file": "m.tflite",
            "sha256": "a" * 64,
            "size_bytes": 10,
            "quantization": {},
            "tool_versions": {},
            "calibration": None,
            "inputs": [{"name": "x", "shape": [1, 16], "dtype": "float32", "scale": None, "zero_point": None}],
            "outputs": [{"name": "y", "shape": [1, 4], "dtype": "float32"}],
            "accuracy": {
                "samples": 4,
                "outputs": [{"name": "y", "cosine": 1.0, "max_abs_error": 0.0, "snr_db": 90.0}],
                "cosine": 1.0,
                "max_abs_error": 0.0,
                "snr_db": 90.0,
            },
            "error": None,
            "warnings": [],
        },
        {
            "target": "tflite-int8",
            "status": "failed",
            "format": "tflite",
            "quantization": {},
            "tool_versions": {},
            "inputs": [],
            "outputs": [],
            "error": {"message": "why", "hint": "what"},
        },
    ],
}


def test_manifest_schema_accepts_good_and_names_each_problem():
    assert validate_manifest(GOOD) == []
    bad = copy.deepcopy(GOOD)
    bad["artifacts"][0]["status"] = "done"
    bad["artifacts"][0]["size_bytes"] = "10"
    del bad["artifacts"][1]["error"]
    bad["schema_version"] = 2
    problems = validate_manifest(bad)
    assert any("$.artifacts[0].status" in p for p in problems)
    assert any("$.artifacts[0].size_bytes: expected integer/null" in p for p in problems)
    assert any("$.artifacts[1]: missing 'error'" in p for p in problems)
    assert any("$.schema_version" in p for p in problems)
    built_without_file = copy.deepcopy(GOOD)
    built_without_file["artifacts"][0]["file"] = None
    assert any("needs file" in p for p in validate_manifest(built_without_file))
