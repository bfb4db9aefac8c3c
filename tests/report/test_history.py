"""The results history: storage, filters, baselines, paths and the bench hook's failure modes."""

from __future__ import annotations

import copy
import json

import pytest

from edgekit.errors import EdgekitError
from edgekit.results import history as H
from tests.conftest import assert_one_line_error, run_cli


def fake_result(name="m.tflite", sha="ab" * 32, p50=2.0, status="ok", host="hostA", created="2026-01-01T00:00:00+00:00"):
    """A schema-valid result document (for storage tests; the gate tests use real runs)."""
    samples = [p50 * (1 + 0.01 * (i % 7)) for i in range(20)]
    r = {
        "schema": "edgekit.result",
        "schema_version": 1,
        "edgekit_version": "0.1.0",
        "status": status,
        "created": created,
        "artifact": {"name": name, "path": f"/x/{name}", "format": "tflite", "sha256": sha, "size_bytes": 10, "gzip_bytes": 5},
        "device": {"name": "host", "transport": "host", "emulated": False, "fingerprint": {"hostname": host, "cpu_count": 2}},
        "platform": {},
        "runtime": {"name": "ai_edge_litert", "version": "2.3.0", "threads": 1, "xnnpack": True},
        "settings": {},
    }
    if status == "ok":
        from edgekit.harness.stats import summarize

        r.update(
            init_ms=1.0,
            first_inference_ms=2.0,
            latency_ms=summarize(samples),
            samples_ms=samples,
            memory={"peak_rss_bytes": 1},
            delegates=[],
        )
    else:
        r["error"] = {"type": "EdgekitError", "message": "boom", "hint": "fix it"}
    return r


def test_append_filter_and_roundtrip(tmp_path):
    with H.History(str(tmp_path / "h.sqlite")) as h:
        a = h.append(fake_result())
        b = h.append(fake_result(name="n.tflite", sha="cd" * 32, host="hostB", created="2026-02-01T00:00:00+00:00"))
        e = h.append(fake_result(status="error"))
        assert [r.id for r in h.runs()] == [e, b, a]
        assert [r.id for r in h.runs(sha256="CDCD")] == [b]
        assert [r.id for r in h.runs(artifact="n.tfl")] == [b]
        assert [r.id for r in h.runs(status="error")] == [e]
        assert [r.id for r in h.runs(since="2026-01-15")] == [b]
        assert h.runs(device=h.run(b).device_key[:6])[0].id == b
        assert h.run(a).device_key != h.run(b).device_key  # keyed by the device fingerprint
        assert h.result(a) == fake_result()  # the whole document, raw samples included
        with pytest.raises(EdgekitError, match="error result"):
            h.set_baseline(e)
        h.set_baseline(a)
        ra = h.run(a)
        assert ra.series == "/x/m.tflite" and ra.artifact_path == "/x/m.tflite"
        assert ra.setup == "ai_edge_litert, 1 thread, XNNPACK"
        assert h.baseline_for("/x/m.tflite", ra.device_key, ra.setup_key) == a
        assert [r.id for r in h.baselines()] == [a] and h.run(a).baseline


def test_series_prefers_build_target(tmp_path):
    r = fake_result()
    r2 = copy.deepcopy(r)
    r2["artifact"]["target"] = "tflite-int8"
    with H.History(str(tmp_path / "h.sqlite")) as h:
        assert h.run(h.append(r)).series == "/x/m.tflite"
        assert h.run(h.append(r2)).series == "tflite-int8 in /x"


def test_invalid_result_is_rejected(tmp_path):
    bad = fake_result()
    del bad["samples_ms"]
    with H.History(str(tmp_path / "h.sqlite")) as h, pytest.raises(ValueError):
        h.append(bad)


def test_default_path_is_under_the_project(tmp_path, monkeypatch):
    monkeypatch.delenv(H.ENV_VAR, raising=False)
    (tmp_path / "proj" / "sub").mkdir(parents=True)
    (tmp_path / "proj" / "edgekit.toml").write_text("")
    assert H.default_path(str(tmp_path / "proj" / "sub")) == str(tmp_path / "proj" / ".edgekit" / "history.sqlite")
    monkeypatch.setenv(H.ENV_VAR, str(tmp_path / "x.sqlite"))
    assert H.default_path() == str(tmp_path / "x.sqlite")


def test_broken_history_is_one_line(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    assert_one_line_error(run_cli("history", "--history", junk), "cannot open the results history")
    assert_one_line_error(run_cli("history", "--history", tmp_path / "none.sqlite"), "no results history")
    assert_one_line_error(run_cli("history", "--history", tmp_path), "is a directory")
    f = tmp_path / "r.json"
    f.write_text(json.dumps({"schema": "something else"}))
    assert_one_line_error(run_cli("history", "--history", tmp_path / "h.sqlite", "--add", f), "not an edgekit result")
    assert_one_line_error(run_cli("compare", f), "BASELINE and CANDIDATE")
    assert_one_line_error(run_cli("compare", "nope", f), "neither a result file nor a run id")
    assert_one_line_error(run_cli("compare", f, f), "not an edgekit result")


def test_history_add_and_compare_error_result(tmp_path):
    good, err = tmp_path / "good.json", tmp_path / "err.json"
    good.write_text(json.dumps(fake_result()))
    err.write_text(json.dumps(fake_result(status="error")))
    hist = tmp_path / "h.sqlite"
    proc = run_cli("history", "--history", hist, "--add", good, err, check=True)
    assert "added runs 1, 2" in proc.stdout
    assert_one_line_error(run_cli("compare", good, err), "error result")
    assert_one_line_error(run_cli("compare", "--baseline", good, "--history", hist), "no baseline")


def test_bench_records_by_default_and_not_with_no_history(coral_models, tmp_path):
    model = coral_models / "mobilenet_v1_0.25_128_quant.tflite"
    env_hist = tmp_path / "env.sqlite"
    fast = ("--min-time", "0", "--min-runs", "5", "--warmup", "1")
    run_cli("bench", model, *fast, check=True, env={H.ENV_VAR: str(env_hist)})
    with H.History(str(env_hist)) as h:
        (run,) = h.runs()
        assert run.status == "ok" and run.n == 5 and run.artifact_format == "tflite"
    run_cli("bench", model, *fast, "--no-history", check=True, env={H.ENV_VAR: str(env_hist)})
    with H.History(str(env_hist)) as h:
        assert len(h.runs()) == 1
    # A broken history path warns but never loses the measurement.
    out = tmp_path / "r.json"
    proc = run_cli("bench", model, *fast, "-o", out, "--history", tmp_path, check=True)
    assert out.exists() and "not recorded in the history" in proc.stderr and "Traceback" not in proc.stderr


def test_aggregate_only_results_report_and_are_stored(tmp_path):
    """Phones' benchmark_model gives aggregates only: reported as rows (the gate: test_gate_aggregates.py)."""
    from edgekit.report import render

    agg = fake_result(name="phone.tflite")
    agg["samples_ms"] = []
    agg["latency_ms"] = {**agg["latency_ms"], "aggregate_only": True, "p90": None, "p99": None}
    html = render([fake_result(), agg], "html")
    assert html.count('<tr class="ok"') == 2 and "aggregates only" in html
    assert 'data-plot="latency-distribution" data-points="20"' in html  # only the result with samples
    f = tmp_path / "agg.json"
    f.write_text(json.dumps(agg))
    with H.History(str(tmp_path / "h.sqlite")) as h:
        assert h.run(h.append(agg)).p90_ms is None


def test_since_accepts_dates_and_ages_and_rejects_the_rest(tmp_path):
    hist = tmp_path / "h.sqlite"
    with H.History(str(hist)) as h:
        h.append(fake_result(created="2026-01-01T00:00:00+00:00"))
        h.append(fake_result(name="n.tflite", created="2026-02-01T12:00:00+01:00"))
    line = assert_one_line_error(run_cli("history", "--history", hist, "--since", "yesterday-ish"), "yesterday-ish")
    assert "2026-05-01" in line and "7d" in line and "today" in line
    assert run_cli("history", "--history", hist, "--since", "yesterday-ish").returncode == 2

    def ids(since):
        return [r["id"] for r in json.loads(run_cli("history", "--history", hist, "--json", "--since", since, check=True).stdout)]

    assert ids("2026-01-15") == [2] and ids("2026-02-01T11:00+00:00") == [2] and ids("2026-02-01T11:30+00:00") == []
    assert ids("2025-12-31") == [2, 1] and ids("7d") == [] and ids("today") == []
    assert H.parse_since("2026-02-01T12:00+01:00") == "2026-02-01T11:00:00+00:00"  # stored and compared in UTC


V1_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, recorded TEXT NOT NULL,
    status TEXT NOT NULL, series TEXT NOT NULL, artifact_name TEXT, artifact_sha256 TEXT, artifact_format TEXT,
    device_name TEXT, device_key TEXT NOT NULL, transport TEXT, runtime TEXT, p50_ms REAL, p90_ms REAL, n INTEGER,
    source TEXT, result BLOB NOT NULL);
CREATE INDEX runs_sha ON runs (artifact_sha256);
CREATE INDEX runs_series ON runs (series, device_key, created);
CREATE TABLE baselines (series TEXT NOT NULL, device_key TEXT NOT NULL, run_id INTEGER NOT NULL REFERENCES runs (id),
    set_at TEXT NOT NULL, PRIMARY KEY (series, device_key));
INSERT INTO meta VALUES ('schema_version', '1');
"""


def test_a_version_1_history_is_migrated_with_its_baselines(tmp_path):
    """Version 1 keyed series by file name; opening it recomputes every key from the stored results."""
    import sqlite3
    import zlib

    from edgekit.results.series import device_key

    path = tmp_path / "v1.sqlite"
    docs = [fake_result(), fake_result(sha="cd" * 32)]
    docs[1]["artifact"]["path"] = "/elsewhere/m.tflite"  # same name, another file: one v1 series
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_DDL)
        for d in docs:
            conn.execute(
                "INSERT INTO runs (created, recorded, status, series, artifact_name, artifact_sha256, device_key, result)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (
                    d["created"],
                    d["created"],
                    "ok",
                    "m.tflite",
                    "m.tflite",
                    d["artifact"]["sha256"],
                    device_key(d),
                    zlib.compress(json.dumps(d).encode()),
                ),
            )
        conn.execute("INSERT INTO baselines VALUES ('m.tflite', ?, 1, 'then')", (device_key(docs[0]),))
    with H.History(str(path), create=False) as h:
        a, b = h.run(1), h.run(2)
        assert (a.series, b.series) == ("/x/m.tflite", "/elsewhere/m.tflite")
        assert a.baseline and not b.baseline and h.baseline_for(a.series, a.device_key, a.setup_key) == 1
        assert h.baseline_for(b.series, b.device_key, b.setup_key) is None
        assert h.run(h.append(fake_result())).series == "/x/m.tflite"
    with H.History(str(path), create=False) as h:  # opening again is a no-op
        assert len(h.runs()) == 3


def test_hostile_names_are_text_in_history_and_compare(tmp_path):
    """Names parsed as rich markup used to crash or vanish; control bytes reached the terminal."""
    name = "[/bold]x\x1b[2J.tflite"
    f = tmp_path / "r.json"
    r = fake_result(name=name)
    f.write_text(json.dumps(r))
    hist = tmp_path / "h.sqlite"
    run_cli("history", "--history", hist, "--add", f, check=True)
    out = run_cli("history", "--history", hist, check=True).stdout
    assert "\x1b" not in out and "[/bold]x\\x1b[2J.tflite" in out
    cmp = run_cli("compare", f, f)
    assert cmp.returncode == 0 and "\x1b" not in cmp.stdout and "[/bold]x\\x1b[2J.tflite" in cmp.stdout, cmp.stderr
