"""The regression gate: synthetic sample sets with known effects, and real repeated runs."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from edgekit.harness.stats import summarize
from edgekit.results import compare as C
from tests.conftest import assert_one_line_error, run_cli


def latencies(n: int, p50_ms: float, seed: int, cv: float = 0.08) -> np.ndarray:
    """Benchmark-like samples: a log-normal body plus rare slow outliers (background load)."""
    rng = np.random.default_rng(seed)
    body = p50_ms * rng.lognormal(0.0, cv, n)
    outliers = (rng.random(n) < 0.03) * rng.exponential(p50_ms, n)
    return body + outliers


SEEDS = range(8)


@pytest.mark.parametrize("seed", SEEDS)
def test_same_distribution_is_not_flagged(seed):
    c = C.compare_samples(latencies(300, 2.0, seed), latencies(300, 2.0, 1000 + seed))
    assert c.verdict == C.UNCHANGED, c
    assert c.ci_low <= 1.0 <= c.ci_high or abs(c.ratio - 1) < 0.02


@pytest.mark.parametrize("seed", SEEDS)
def test_three_percent_shift_is_below_the_gate(seed):
    c = C.compare_samples(latencies(300, 2.0, seed), latencies(300, 2.06, 1000 + seed))
    assert not c.regressed, c
    assert 1.0 < c.ratio < 1.06


@pytest.mark.parametrize("seed", SEEDS)
def test_ten_percent_regression_is_flagged(seed):
    c = C.compare_samples(latencies(300, 2.0, seed), latencies(300, 2.2, 1000 + seed))
    assert c.regressed, c
    assert c.ci_low > 1.0 and c.mw_p_value < 1e-6
    assert c.ratio == pytest.approx(1.10, abs=0.03)


def test_improvement_and_p90():
    base = latencies(300, 2.0, 1)
    c = C.compare_samples(base, latencies(300, 1.6, 2), metric="p90")
    assert c.verdict == C.IMPROVED and c.metric == "p90"


def test_wide_noise_is_inconclusive_not_regressed_nor_unchanged():
    """With few, very noisy samples a +7% median cannot be resolved either way: inconclusive
    (not a regression, and not a pass a gate may rely on)."""
    base = latencies(12, 2.0, 3, cv=0.4)
    c = C.compare_samples(base, base * 1.07)
    assert c.verdict == C.INCONCLUSIVE and not c.regressed and c.ci_low < 1.0 < 1.05 < c.ci_high, c
    same = C.compare_samples(base, base)
    assert same.verdict == C.INCONCLUSIVE, same  # even no change: the interval reaches past +5%


@pytest.mark.parametrize(
    "point, lo, hi, expect",
    [
        (1.10, 1.02, 1.18, "regressed"),  # beyond the threshold, whole interval above 0%
        (1.10, 0.99, 1.21, "inconclusive"),  # beyond it, but 0% inside the interval
        (1.04, 1.02, 1.06, "inconclusive"),  # slower for sure; whether by more than 5% is open
        (1.00, 0.99, 1.01, "unchanged"),
        (1.03, 1.02, 1.04, "unchanged"),  # a small, certain slowdown below the threshold
        (0.80, 0.75, 0.85, "improved"),
        (0.80, 0.60, 1.02, "unchanged"),  # faster estimate, interval reaches 0% but not +5%
        (0.80, 0.60, 1.10, "inconclusive"),
    ],
)
def test_verdict_rule_matches_its_statement(point, lo, hi, expect):
    assert C._verdict(point, lo, hi, 0.05) == expect
    text = C.rule()
    assert all(v + " =" in text for v in C.VERDICTS) and "recorded before the candidate" in text


def _runs(k: int, p50: float, between_cv: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [latencies(300, p50 * rng.lognormal(0, between_cv), seed * 100 + i) for i in range(k)]


def test_run_to_run_noise_widens_the_interval():
    """Quiet machine: a 10% regression is flagged. Busy machine (15% between runs): the same
    change is inconclusive, with a note saying the noise is too large."""
    from edgekit.harness.stats import summarize

    def doc(samples, sha):
        return {
            "status": "ok",
            "samples_ms": list(samples),
            "latency_ms": summarize(list(samples)),
            "artifact": {"name": "m.tflite", "sha256": sha},
            "device": {"name": "host"},
            "runtime": {},
        }

    for between, expect in ((0.005, C.REGRESSED), (0.15, C.INCONCLUSIVE)):
        runs = _runs(5, 2.0, between, seed=7)
        base = doc(runs[0], "a")
        cand = doc(runs[1] * 1.10, "b")
        c = C.compare_results(base, cand, repeated=[doc(r, "a") for r in runs])
        assert c.noise_runs == 5 and c.run_noise == pytest.approx(C.run_noise(runs))
        assert c.verdict == expect, c
        if expect == C.INCONCLUSIVE:
            assert any("too much to resolve" in n for n in c.notes), c
    assert C.run_noise(runs[:2]) is None  # two runs are not enough to estimate a spread


def test_mann_whitney_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    a = np.round(latencies(200, 2.0, 5), 1)  # rounded: many ties
    b = np.round(latencies(150, 2.1, 6), 1)
    u, p = C.mann_whitney_greater(a, b)
    ref = stats.mannwhitneyu(b, a, alternative="greater", method="asymptotic")
    assert u == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue, rel=1e-9)


def test_bad_inputs_are_edgekit_errors():
    with pytest.raises(C.EdgekitError, match="too few"):
        C.compare_samples([1.0, 2.0], [1.0, 2.0, 3.0, 4.0, 5.0])
    with pytest.raises(C.EdgekitError, match="unknown metric"):
        C.compare_samples([1.0] * 10, [1.0] * 10, metric="p42")


def test_long_runs_stay_fast():
    import time

    t = time.process_time()
    C.compare_samples(latencies(50_000, 2.0, 1), latencies(50_000, 2.0, 2))
    assert time.process_time() - t < 20  # CPU time, so a busy machine does not fail it


# --- real runs -----------------------------------------------------------------------------------


def test_repeated_real_runs_are_not_flagged_against_each_other(repeated_runs):
    """5 `edgekit bench` runs of one unchanged model: no ordered pair may fail a confirmed gate.

    Separate runs alone can: this project's CI machine switches between two speed levels ~22% apart
    for seconds at a time, and three repeated runs that all fell on the fast level measure a noise
    of 0.3%, against which a fourth run on the slow level is "regressed +22%" (seen in CI,
    2026-12-01). Every pair the separate runs flag is therefore re-measured alternately (--confirm,
    edgekit.results.confirm), as a user is told to; the confirmed verdict must not be a regression.
    """
    from edgekit.results import confirm as K

    _, paths = repeated_runs
    results = [json.loads(p.read_text()) for p in paths]
    verdicts = []
    confirmed = None  # every pair is the same file with the same settings: one re-measurement serves all
    for i, j in itertools.permutations(range(len(results)), 2):
        # As `edgekit compare` does: the history's repeated runs of the baseline set the noise
        # floor, but only those recorded before the candidate (never the candidate itself).
        c = C.compare_results(results[i], results[j], repeated=results)
        verdicts.append((i, j, c.verdict, c.noise_runs, round(c.change_pct, 1), round((c.ci_low - 1) * 100, 1)))
        assert c.differences == [] and c.baseline_identity == c.candidate_identity
        earlier = [r for r in results if r["created"] < results[j]["created"]]
        assert c.noise_runs == (len(earlier) if len(earlier) >= C.MIN_NOISE_RUNS else 0)
        if not c.noise_runs:
            assert any("no run-to-run noise" in n for n in c.notes)
        if c.regressed:
            assert any("--confirm" in n for n in c.notes), c.notes
            if confirmed is None:
                a, b, order, _ = K.measure_rounds(results[i], results[j], rounds=K.DEFAULT_ROUNDS)
                confirmed = K.paired_verdict(a, b, threshold=c.threshold, confidence=c.confidence, order=order)
                print("confirmation of an unchanged model:", confirmed)
            assert confirmed.verdict != C.REGRESSED, (verdicts, confirmed)
    assert any(v[3] for v in verdicts)  # some pairs had the noise measured
    print("pairwise (i, j, verdict, noise runs, change %, CI low %):", verdicts)


def _resolvable(samples, factor: float = 1.10) -> bool:
    """Whether a run's own spread lets the gate call an exact ``factor`` slowdown significant.

    The bootstrap is scale-equivariant (same seed, same draws), so the interval of ``samples *
    factor`` against ``samples`` is ``factor`` times the interval of the run against itself. On a
    quiet machine it is narrow and +10% is "regressed"; on a loaded one (CI builds the emulated
    board beside the tests) a real run can shift speed inside itself, and then the honest verdict is
    "inconclusive". Tests on real runs check the gate follows this, whichever case the
    machine produced; the synthetic tests above pin the regressed case deterministically.
    """
    own = C.compare_samples(samples, samples)
    return own.ci_low * factor > 1.0


def _slower_copy(result_path, tmp_path, factor: float = 1.10, name: str = "slow.json"):
    slow = json.loads(result_path.read_text())
    slow["samples_ms"] = [x * factor for x in slow["samples_ms"]]
    slow["latency_ms"].update(summarize(slow["samples_ms"]))
    slow["artifact"]["sha256"] = "0" * 64
    out = tmp_path / name
    out.write_text(json.dumps(slow))
    return out


def test_gate_cli_passes_unchanged_and_fails_real_ten_percent_regression(repeated_runs, tmp_path):
    hist, paths = repeated_runs
    # Two unchanged runs, the noise from the 4 runs before the candidate. Usually unchanged or
    # inconclusive (exit 0 with two files); on a busy machine the 5th run can be an outlier beyond
    # the spread of the first four and is then called regressed (BENCHMARKS.md, gate power): the
    # exit status must follow the verdicts either way.
    ok = run_cli("compare", paths[0], paths[4], "--history", hist, "--metric", "p50,p90")
    data = json.loads(run_cli("compare", paths[0], paths[4], "--history", hist, "--metric", "p50,p90", "--json").stdout)
    assert all(c["noise_runs"] == 4 for c in data), data
    assert ok.returncode == (1 if any(c["regressed"] for c in data) else 0), ok.stdout + ok.stderr
    assert "run-to-run noise" in ok.stdout
    print("unchanged real pair:", [(c["metric"], c["verdict"], round(c["change_pct"], 1)) for c in data])

    # A real run's samples, 10% slower: the shape of the real distribution with a known effect.
    # (--no-run-noise: the effect is exact; only the run's own spread can hide it.) The steadiest
    # of the five runs, as a CI baseline would be chosen.
    steadiest = max(paths, key=lambda p: C.compare_samples(*[json.loads(p.read_text())["samples_ms"]] * 2).ci_low)
    samples = json.loads(steadiest.read_text())["samples_ms"]
    slow_path = _slower_copy(steadiest, tmp_path)
    bad = run_cli("compare", steadiest, slow_path, "--json", "--no-run-noise")
    data = json.loads(bad.stdout)
    own = C.compare_samples(samples, samples)
    assert data[0]["ratio"] == pytest.approx(1.10) and data[0]["mw_p_value"] < 1e-6, data
    assert data[0]["ci_low"] == pytest.approx(1.10 * own.ci_low, rel=1e-9), data
    if _resolvable(samples):
        line = assert_one_line_error(bad, "regressed beyond 5%")
        assert bad.returncode == 1 and data[0]["regressed"] and data[0]["ci_low"] > 1.0, line
    else:  # this run moved inside itself by more than 10%: two files report it, exit 0
        assert bad.returncode == 0 and data[0]["verdict"] == C.INCONCLUSIVE, data
        print(f"real run too unsteady to resolve +10% (own CI low {own.ci_low:.3f}): inconclusive")
    # A 15% threshold lets the same change through either way.
    assert run_cli("compare", steadiest, slow_path, "--threshold", "15%", "--no-run-noise").returncode == 0

    # The same document with steady samples: a 10% regression always fails the gate from the CLI.
    steady = json.loads(steadiest.read_text())
    steady["samples_ms"] = latencies(400, 0.7, seed=11).tolist()
    steady["latency_ms"].update(summarize(steady["samples_ms"]))
    steady_path = tmp_path / "steady.json"
    steady_path.write_text(json.dumps(steady))
    gate = run_cli("compare", steady_path, _slower_copy(steady_path, tmp_path, name="steady_slow.json"), "--no-run-noise")
    assert_one_line_error(gate, "regressed beyond 5%")
    assert gate.returncode == 1


def test_history_records_bench_runs_and_gates_against_baseline(repeated_runs, tmp_path):
    hist, paths = repeated_runs
    listed = json.loads(run_cli("history", "--history", hist, "--json", check=True).stdout)
    assert len(listed) == 5 and [r["id"] for r in listed] == [5, 4, 3, 2, 1]
    sha = json.loads(paths[0].read_text())["artifact"]["sha256"]
    assert {r["artifact_sha256"] for r in listed} == {sha}
    assert len({r["device_key"] for r in listed}) == 1
    # Filters
    assert len(json.loads(run_cli("history", "--history", hist, "--json", "--sha", sha[:10], "--limit", "2").stdout)) == 2
    assert json.loads(run_cli("history", "--history", hist, "--json", "--artifact", "no-such").stdout) == []
    # Stored baseline, latest run against it: unchanged (exit 0), or inconclusive when this
    # machine's run-to-run noise cannot resolve 5% (exit 1 in --baseline mode: a blind gate fails).
    run_cli("history", "--history", hist, "--set-baseline", "1", check=True)
    gate = run_cli("compare", "--baseline", "--history", hist, "--json")
    (c,) = json.loads(gate.stdout)
    assert (c["baseline_ref"], c["candidate_ref"]) == ("run 1", "run 5")
    assert c["noise_runs"] in (0, 3, 4)  # runs 1-4 at most: the candidate never measures the noise
    if c["verdict"] == "unchanged":
        assert gate.returncode == 0, gate.stderr
    else:
        assert c["verdict"] == "inconclusive", c
        assert_one_line_error(gate, "inconclusive at 5%")
        assert run_cli("compare", "--baseline", "--history", hist, "--on-inconclusive", "pass").returncode == 0
    # Run ids work as references too; an unknown id is one line.
    # (run 3 has only 2 earlier runs, too few for the noise, so a shift between real runs may
    # fail it: only the references are checked here)
    by_id = run_cli("compare", "2", "3", "--history", hist, "--json")
    assert by_id.returncode in (0, 1) and "Traceback" not in by_id.stderr, by_id.stderr
    (c,) = json.loads(by_id.stdout)
    assert (c["baseline_ref"], c["candidate_ref"]) == ("run 2", "run 3")
    assert_one_line_error(run_cli("compare", "1", "99", "--history", hist), "no run 99")
    # A 10% slower candidate file against the stored baseline fails the gate, whichever of
    # regressed / inconclusive the run's own spread allows: it never passes.
    slow = json.loads(paths[0].read_text())
    slow["samples_ms"] = [x * 1.10 for x in slow["samples_ms"]]
    (tmp_path / "slow.json").write_text(json.dumps(slow))
    gate = run_cli("compare", "--baseline", tmp_path / "slow.json", "--history", hist, "--no-run-noise")
    if _resolvable(json.loads(paths[0].read_text())["samples_ms"]):
        assert_one_line_error(gate, "regressed")
    else:
        assert_one_line_error(gate, "inconclusive")


def test_one_statement_of_the_rule_in_help_footer_and_docs(tmp_path):
    from tests.conftest import ROOT

    text = C.rule()
    docs = (ROOT / "docs" / "report.md").read_text()
    quoted = " ".join(l[2:].strip() for l in docs.splitlines() if l.startswith("> "))
    assert text in quoted
    help_text = " ".join(run_cli("compare", "--help", check=True).stdout.split())
    assert text in help_text
    r = {
        "status": "ok",
        "samples_ms": list(latencies(50, 1.0, 1)),
        "artifact": {"path": "/m.tflite", "sha256": "a"},
        "device": {},
        "runtime": {},
    }
    f = tmp_path / "r.json"
    from edgekit.harness.stats import summarize

    doc = {
        "schema": "edgekit.result",
        "schema_version": 1,
        "edgekit_version": "0",
        "created": "2026-01-01T00:00:00+00:00",
        "platform": {},
        "settings": {},
        "init_ms": 1.0,
        "first_inference_ms": 1.0,
        "memory": {},
        "delegates": [],
        "latency_ms": summarize(r["samples_ms"]),
        **r,
    }
    f.write_text(json.dumps(doc))
    footer = " ".join(run_cli("compare", f, f, check=True).stdout.split())
    assert text in footer
