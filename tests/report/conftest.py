"""Real benchmark results, measured once per session and shared by the report/history/gate tests."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

# Three CPU models of different size and speed: a report with a spread worth plotting.
REPORT_MODELS = ("mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant", "keras_lstm_mnist_ptq")
REPEATED_MODEL = "mobilenet_v1_0.25_128_quant"


@pytest.fixture(scope="session")
def history_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("history")


@pytest.fixture(scope="session")
def repeated_runs(coral_models, history_dir):
    """5 real `edgekit bench` runs of one unchanged model, each recorded in a fresh history.

    One thread: on a 2-core machine shared with other work, a single-threaded run is the least
    disturbed by what else runs, which is the condition CI gates run under too.
    """
    hist = history_dir / "repeated.sqlite"
    # One unrecorded run first: after heavy tests the machine settles during the first measurement
    # (seen here: first half of run 1 at 0.91 ms p50, second half at 0.73 ms), and a baseline with
    # drift inside it makes even an exact +10% statistically unclear, as the gate then rightly says.
    run_cli(
        "bench",
        coral_models / f"{REPEATED_MODEL}.tflite",
        "--min-time",
        "1",
        "--threads",
        "1",
        "--no-history",
        check=True,
    )
    paths = []
    for i in range(5):
        out = history_dir / f"run{i}.json"
        run_cli(
            "bench",
            coral_models / f"{REPEATED_MODEL}.tflite",
            "--min-time",
            "0.5",
            "--threads",
            "1",
            "--json",
            "-o",
            out,
            "--history",
            hist,
            check=True,
        )
        paths.append(out)
    return hist, paths


@pytest.fixture(scope="session")
def report_results(coral_models, history_dir):
    """One result file holding real runs of three artifacts (not recorded in any history)."""
    out = history_dir / "three.json"
    run_cli(
        "bench",
        *(coral_models / f"{m}.tflite" for m in REPORT_MODELS),
        "--min-time",
        "0.5",
        "--json",
        "-o",
        out,
        "--no-history",
        check=True,
    )
    assert len(json.loads(out.read_text())) == 3
    return out
