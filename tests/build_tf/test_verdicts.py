"""Drift verdicts without thresholds, metrics per output kind, strict JSON, sample counts,
progress passes and the sweep of what killed builds left behind. numpy only: no framework."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from edgekit.build import accuracy
from edgekit.build.artifacts import ArtifactEntry, Manifest
from edgekit.build.cache import input_keys, sweep_outdir
from edgekit.harness.lifetime import sweep_stale
from edgekit.build.console import StepProgress
from edgekit.build.manifest_schema import validate_manifest

RNG = np.random.default_rng(0)
REF = RNG.normal(size=(60, 10)).astype(np.float32)  # values that vary per sample and element


def with_cosine(ref: np.ndarray, cos: float) -> np.ndarray:
    """ref plus, per sample, a component orthogonal to it: every sample's cosine is exactly ``cos``."""
    noise = RNG.normal(size=ref.shape)
    perp = noise - (np.sum(noise * ref, axis=1, keepdims=True) / np.sum(ref * ref, axis=1, keepdims=True)) * ref
    perp *= np.linalg.norm(ref, axis=1, keepdims=True) / np.linalg.norm(perp, axis=1, keepdims=True)
    return (ref + np.sqrt(1 / cos**2 - 1) * perp).astype(np.float32)


def _verdict(candidate, reference=REF, **kw):
    return accuracy.sanity(accuracy.compare([reference], [candidate]), **kw)


# -- sanity on injected broken outputs ----------------------------------------------------------
@pytest.mark.parametrize(
    "candidate,needle",
    [
        (np.zeros_like(REF), "all zeros"),
        (np.full_like(REF, 0.37), "same for every input"),
        (np.tile(REF[:1], (60, 1)), "same for every input"),  # one sample's output for every input
        (np.where(np.arange(10) == 3, np.nan, REF).astype(np.float32), "NaN/Inf"),
        (with_cosine(REF, 0.3), "cosine 0.3000 < 0.5 (sanity floor)"),
    ],
)
def test_broken_outputs_fail_without_any_threshold(candidate, needle):
    verdict, reasons = _verdict(candidate)
    assert verdict == "fail" and any(needle in r for r in reasons), reasons


def test_large_drift_warns_and_small_drift_passes():
    noisy = with_cosine(REF, 0.7)
    verdict, reasons = _verdict(noisy)
    assert verdict == "warn" and "cosine 0.7000 < 0.9: large drift" in reasons[0]
    assert _verdict(with_cosine(REF, 0.95)) == ("ok", [])
    # the floor and warning level are settings
    assert _verdict(noisy, fail_below=0.95, warn_below=0.99)[0] == "fail"


def test_a_constant_float_model_is_not_called_collapsed():
    ref = np.ones((10, 4), np.float32)
    assert _verdict(np.ones_like(ref), reference=ref) == ("ok", [])


# -- metrics per output kind --------------------------------------------------------------------
def test_class_scores_get_top_k_embeddings_nn_and_dense_maps_pixel_agreement():
    probs = np.exp(REF) / np.exp(REF).sum(axis=1, keepdims=True)
    d = accuracy.compare([probs], [probs], labels=np.argmax(probs, axis=1))
    assert d["outputs"][0]["kind"] == "classification" and d["top1_agreement"] == 1.0 and d["accuracy"] == 100.0

    emb = RNG.normal(size=(40, 64)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)  # L2-normalised rows: an embedding, whatever its name
    d = accuracy.compare([emb], [emb + 0.001 * RNG.normal(size=emb.shape).astype(np.float32)], output_names=["embedding"])
    assert d["outputs"][0]["kind"] == "embedding" and "top1_agreement" not in d and d["nn_agreement"] == 1.0
    shuffled = emb[RNG.permutation(40)]  # every sample's neighbour changes
    assert accuracy.compare([emb], [shuffled])["nn_agreement"] < 0.2

    seg = RNG.normal(size=(4, 8, 8, 5)).astype(np.float32)
    d = accuracy.compare([seg], [seg])
    assert d["outputs"][0]["kind"] == "dense" and d["pixel_agreement"] == 1.0 and "top1_agreement" not in d
    flipped = seg.copy()
    flipped[:, :4] = -flipped[:, :4]  # half the rows of each map get another argmax (almost surely)
    assert 0.4 < accuracy.compare([seg], [flipped])["pixel_agreement"] < 0.75
    # signed scores without a name or labels are logits: class scores
    assert accuracy.compare([REF], [REF], output_names=["output_0"])["outputs"][0]["kind"] == "classification"
    relu = np.abs(REF) * 3  # non-negative features above 1 (ReLU, pooling)
    assert accuracy.compare([relu], [relu], output_names=["output_0"])["outputs"][0]["kind"] == "embedding"
    # a declared kind wins over the guess
    assert accuracy.compare([emb], [emb], output_names=["e"], output_kinds={"e": "classification"})["top1_agreement"] == 1.0


def test_every_drift_record_is_strict_json():
    for cand in (REF.copy(), np.zeros_like(REF), np.full_like(REF, np.nan)):
        d = accuracy.compare([REF], [cand])
        json.dumps(d, allow_nan=False)  # raises on NaN/Infinity
    exact = accuracy.compare([REF], [REF.copy()])
    assert exact["snr_db"] is None and exact["snr_exact"] and accuracy.check_thresholds(exact, {"min_snr_db": 40}) == []
    nan = accuracy.compare([REF], [np.full_like(REF, np.nan)])
    assert nan["cosine"] is None and "NaN" in accuracy.check_thresholds(nan, {"min_cosine": 0.9})[0]


def test_manifest_is_written_as_strict_json_with_a_note(tmp_path):
    m = Manifest(str(tmp_path), {"x": float("inf")})
    m.put(ArtifactEntry(target="t", status="failed", error={"message": "m"}, build_time_s=float("nan")))
    text = (tmp_path / "manifest.json").read_text()
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in manifest.json"))
    assert doc["source"]["x"] is None and doc["artifacts"][0]["build_time_s"] is None
    assert any("$.source.x was inf" in n for n in doc["notes"])
    assert validate_manifest(doc) == []
    assert any("not strict JSON" in p for p in validate_manifest({**doc, "source": {"x": float("nan")}}))


# -- sample counts --------------------------------------------------------------------------------
def test_sample_warnings_name_the_counts():
    assert accuracy.sample_warnings(449, 300) == []
    w = accuracy.sample_warnings(2, 3)
    assert len(w) == 2 and "only 3 samples (< 100)" in w[0] and "only 2 held-out samples (< 50)" in w[1]
    assert accuracy.sample_warnings(49, None) and not accuracy.sample_warnings(50, None)


def test_judge_fails_a_collapsed_artifact_also_when_cached(tmp_path):
    from edgekit.build.orchestrator import Orchestrator
    from edgekit.build.spec import BuildSpec

    drift = accuracy.compare([REF], [np.zeros_like(REF)])
    old = ArtifactEntry(target="tflite-int8", status="built", calibration={"count": 3}, accuracy=drift)
    entry = Orchestrator(BuildSpec(base_dir=str(tmp_path)))._judge("tflite-int8", old, drift, fresh=False)
    assert entry.status == "failed" and entry.error["type"] == "DriftSanity" and "all zeros" in entry.error["message"]
    assert entry.accuracy["calibration_samples"] == 3 and entry.accuracy["samples"] == 60
    assert any("only 3 samples" in w for w in entry.warnings)


# -- progress ---------------------------------------------------------------------------------------
def test_a_second_pass_over_the_samples_is_counted_as_a_pass_not_as_6_of_3():
    out = io.StringIO()
    progress = StepProgress("lines", out)
    task = progress.task("calibration: tflite-int16x8 (3 samples)", 3)
    for _ in range(6):  # the converter walks an int16x8 representative dataset twice
        task.advance()
    assert (task.completed, task.passes) == (3, 2)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].endswith("(3 samples), pass 2")
    progress.note("t: built x\x1b[2J")
    assert "\x1b" not in out.getvalue()


# -- leftovers of killed builds -----------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sweep_removes_only_leftovers_of_dead_processes(tmp_path):
    dead = _dead_pid()
    (tmp_path / f".tmp-{dead}-abcmodel.tflite").write_bytes(b"x" * 100)
    (tmp_path / f".tmp-{os.getppid()}-livemodel.tflite").write_bytes(b"x")  # a live process (pytest's parent)
    legacy_old = tmp_path / ".tmp-k2j3model.tflite"
    legacy_old.write_bytes(b"x")
    os.utime(legacy_old, (time.time() - 7200,) * 2)
    (tmp_path / ".tmp-newlegacy.tflite").write_bytes(b"x")  # pid-less but recent: maybe a running old build
    (tmp_path / "model.tflite").write_bytes(b"x")
    removed = sweep_outdir(str(tmp_path))
    assert sorted(removed) == sorted([f".tmp-{dead}-abcmodel.tflite", ".tmp-k2j3model.tflite"])
    assert sorted(os.listdir(tmp_path)) == sorted(
        [f".tmp-{os.getppid()}-livemodel.tflite", ".tmp-newlegacy.tflite", "model.tflite"]
    )


def test_sweep_of_verify_dirs_keeps_live_owners_and_symlinks(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f"edgekit-verify-{dead}-x1"
    stale.mkdir()
    (stale / "inputs.npz").write_bytes(b"x")
    live = tmp_path / f"edgekit-verify-{os.getpid()}-x2"
    live.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / f"edgekit-verify-{dead}-link").symlink_to(target)
    assert [os.path.basename(p) for p in sweep_stale(str(tmp_path))] == [stale.name]
    assert live.exists() and target.exists()


def test_input_keys_hash_bytes_and_refuse_what_only_running_code_knows(tmp_path):
    from edgekit.build.calibration import DataSpec
    from edgekit.build.spec import BuildSpec

    (tmp_path / "m.keras").write_bytes(b"model")
    np.save(tmp_path / "cal.npy", np.zeros((4, 16), np.float32))
    spec = BuildSpec(
        source="m.keras", targets=["tflite-fp32", "tflite-int8"], calibration=DataSpec(path="cal.npy"), base_dir=str(tmp_path)
    )
    keys = input_keys(spec)
    assert set(keys) == {"tflite-fp32", "tflite-int8"} and keys["tflite-fp32"] != keys["tflite-int8"]
    np.save(tmp_path / "cal.npy", np.ones((4, 16), np.float32))
    assert input_keys(spec) != keys  # the calibration bytes changed
    assert input_keys(BuildSpec(source="pkg.mod:fn", targets=["tflite-fp32"], base_dir=str(tmp_path))) is None


def test_a_short_split_says_how_many_went_where(tmp_path):
    from types import SimpleNamespace

    from edgekit.build.orchestrator import load_data_sets
    from edgekit.build.console import StepProgress
    from edgekit.build.calibration import DataSpec
    from edgekit.sources import InputSpec
    from edgekit.build.spec import BuildSpec

    np.save(tmp_path / "five.npy", RNG.normal(size=(5, 16)).astype(np.float32))
    spec = BuildSpec(source="m.keras", calibration=DataSpec(path=str(tmp_path / "five.npy")), base_dir=str(tmp_path))
    source = SimpleNamespace(inputs=[InputSpec("x", [1, 16])])
    cal, ev, warnings = load_data_sets(spec, source, StepProgress())
    assert (len(cal), len(ev)) == (3, 2)
    assert any("has 5 samples" in w and "3 went to calibration, 2 were held out for evaluation" in w for w in warnings), warnings


def test_report_and_sidecar_carry_the_sample_counts_and_the_drift_warning():
    from edgekit.ship.package import _drift_summary
    from edgekit.report import row_for

    acc = accuracy.compare([REF[:2]], [with_cosine(REF[:2], 0.8)])
    acc.update(
        calibration_samples=3,
        sanity={"verdict": "warn", "reasons": ["output 'y' cosine 0.8000 < 0.9: large drift"]},
        sample_warnings=accuracy.sample_warnings(2, 3),
    )
    result = {
        "status": "ok",
        "artifact": {"name": "m.tflite"},
        "device": {"name": "host"},
        "runtime": {},
        "latency_ms": {"p50": 1.0},
        "accuracy": acc,
    }
    text = row_for(result).accuracy_text()
    assert "(n=2)" in text and "large drift" in text and "only 3 samples" in text
    side = _drift_summary(ArtifactEntry(target="t", status="built", accuracy=acc))
    assert side["evaluation_samples"] == 2 and side["calibration_samples"] == 3 and side["verdict"] == "warn"
    assert len(side["sample_warnings"]) == 2


def test_paths_and_counts_are_checked_before_anything_loads(tmp_path):
    from edgekit.build.calibration import DataSpec
    from edgekit.errors import EdgekitError
    from edgekit.build.spec import BuildSpec, validate_paths

    (tmp_path / "m.keras").write_bytes(b"m")
    (tmp_path / "afile").write_bytes(b"x")
    np.save(tmp_path / "one.npy", np.zeros((1, 16), np.float32))
    base = dict(source="m.keras", targets=["tflite-int8"], base_dir=str(tmp_path))
    cases = [
        (BuildSpec(**base), "needs calibration data"),
        (BuildSpec(**{**base, "source": "gone.keras"}), "no such model"),
        (BuildSpec(**base, calibration=DataSpec(path="no.npz")), "no such calibration data"),
        (BuildSpec(**base, calibration=DataSpec(path="afile")), "cannot read calibration data"),
        (BuildSpec(**base, calibration=DataSpec(path="one.npy")), "too few to split"),
        (BuildSpec(**{**base, "outdir": "afile/out"}, calibration=DataSpec(random=True)), "afile is a file, not a directory"),
        (BuildSpec(**{**base, "outdir": "afile"}, calibration=DataSpec(random=True)), "afile is a file, not a directory"),
        (BuildSpec(**base, calibration=DataSpec(random=True), options={"tflite-int8": {"bogus": 1}}), "no option 'bogus'"),
    ]
    for spec, needle in cases:
        with pytest.raises(EdgekitError, match=needle):
            validate_paths(spec)
    validate_paths(BuildSpec(**base, calibration=DataSpec(path="one.npy"), evaluation=DataSpec(path="one.npy")))
