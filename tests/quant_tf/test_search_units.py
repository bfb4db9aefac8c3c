"""The shared quantization pieces on inputs of known answer: metrics, ranking, the repair search."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.quant.metrics import EXACT_SNR_DB, compare, rank_layers
from edgekit.quant.repair import greedy_repair
from edgekit.quant.budget import budget_for
from edgekit.errors import EdgekitError


def test_compare_known_values():
    f = np.array([3.0, 4.0])
    m = compare(f, f * 1.1)  # noise = 10% of the signal's amplitude: SNR 20 dB
    assert m["snr_db"] == pytest.approx(20.0)
    assert m["cosine"] == pytest.approx(1.0)
    assert m["rel_error"] == pytest.approx(0.1)
    assert m["max_abs"] == pytest.approx(0.4)
    assert compare(f, f)["snr_db"] == EXACT_SNR_DB
    assert compare(np.zeros(3), np.zeros(3))["cosine"] == 1.0
    assert compare(f, np.zeros(2))["cosine"] == 0.0  # a dead output is not NaN


def test_carried_ranking_blames_the_layer_that_adds_the_error():
    # a -> b -> c: b drops 30 dB, c only inherits it (and loses 1 dB more)
    layers = [
        {"name": "a", "depth": 0, "snr_db": 50.0, "inputs": []},
        {"name": "b", "depth": 1, "snr_db": 20.0, "inputs": ["a"]},
        {"name": "c", "depth": 2, "snr_db": 19.0, "inputs": ["b"]},
    ]
    ranked = rank_layers(layers)
    assert [l["name"] for l in ranked][0] == "b"
    # b adds noise 1e-2 - 1e-5 of the signal power: ~20 dB; c adds 10^-1.9 - 10^-2: ~25.9 dB
    assert ranked[0]["added_db"] == pytest.approx(20.0, abs=0.01)
    assert ranked[1]["name"] == "c" and ranked[1]["added_db"] == pytest.approx(25.87, abs=0.05)


def test_local_ranking_uses_the_per_channel_snr():
    layers = [
        {"name": "wide", "depth": 0, "measure": "local", "snr_db": 50.0, "channel_snr_db": 3.0},
        {"name": "ok", "depth": 1, "measure": "local", "snr_db": 30.0, "channel_snr_db": 29.0},
    ]
    assert [l["name"] for l in rank_layers(layers)] == ["wide", "ok"]


def _model(weights: dict):
    """A whole-model score that is a known function of the kept set (sensitivities add up)."""
    return lambda kept: 0.5 + sum(weights[k] for k in kept)


def test_search_finds_the_smallest_set_and_prunes():
    w = {"a": 0.3, "b": 0.25, "c": 0.0, "d": 0.01}
    # ranked badly on purpose: c (useless) before b
    r = greedy_repair(["a", "c", "b", "d"], _model(w), 1.0)
    assert r.met and set(r.kept) == {"a", "b"}  # c pruned, d not needed
    assert r.score == pytest.approx(1.05)
    assert r.baseline_score == 0.5
    assert r.summary()["kept_layers"] == list(r.kept)


def test_a_miss_reports_the_best_reached_and_what_did_not_help():
    w = {"a": 0.2, "b": 0.0, "c": 0.1}
    r = greedy_repair(["a", "b", "c"], _model(w), 2.0, check_ceiling=False)
    assert not r.met and r.stopped == "exhausted"
    assert r.score == pytest.approx(0.8)
    assert "b" in r.unhelpful and "a" not in r.unhelpful


def test_the_time_budget_stops_the_search():
    t = iter(range(1000))
    r = greedy_repair(
        list("abcdefgh"),
        _model(dict.fromkeys("abcdefgh", 0.0)),
        1.0,
        time_budget_s=2.5,
        clock=lambda: float(next(t)),
        check_ceiling=False,
    )
    assert not r.met and r.stopped == "time budget"


def test_nothing_to_repair_keeps_nothing():
    r = greedy_repair(["a"], lambda kept: 0.999, 0.99)
    assert r.met and r.kept == () and len(r.attempts) == 1


class _Spec:
    def __init__(self, thresholds):
        self._t = thresholds

    def thresholds_for(self, target):
        return self._t


class _Ctx:
    def __init__(self, thresholds, options=None):
        self.spec, self.options, self.target = _Spec(thresholds), options or {}, "tflite-int8-mixed"


def test_budget_is_the_targets_thresholds():
    assert budget_for(_Ctx({})).min_cosine == 0.99
    b = budget_for(_Ctx({"min_cosine": 0.995, "max_accuracy_drop": 1.0}, {"time_budget_s": 30}))
    assert (b.min_cosine, b.max_accuracy_drop, b.time_budget_s) == (0.995, 1.0, 30.0)
    assert b.thresholds() == {"min_cosine": 0.995, "max_accuracy_drop": 1.0}
    only_acc = budget_for(_Ctx({"max_accuracy_drop": 0.5}))
    assert only_acc.thresholds() == {"max_accuracy_drop": 0.5}  # no cosine demand invented
    with pytest.raises(EdgekitError):
        budget_for(_Ctx({"min_cosine": "high"}))


def test_a_ceiling_below_the_budget_stops_at_once():
    calls = []

    def score(kept):
        calls.append(kept)
        return 0.5 + 0.01 * len(kept)  # even all four layers reach only 0.54

    r = greedy_repair(list("abcd"), score, 0.9)
    assert not r.met and r.stopped == "ceiling" and r.ceiling_score == pytest.approx(0.54)
    assert len(calls) == 2  # the plain model and the all-kept model: no search


def test_the_repair_hint_only_points_where_the_repair_applies():
    from types import SimpleNamespace

    from edgekit.build.orchestrator import _repair_hint

    def entry(framework):
        return SimpleNamespace(extra={"converter": {"framework": framework}})

    assert "-t tflite-int8-mixed" in _repair_hint("tflite-int8", entry("tf"))
    assert _repair_hint("tflite-int8", entry("torch")) == ""  # the mixed target takes Keras/TF sources only
    assert _repair_hint("tflite-fp32", entry("tf")) == ""  # nothing to repair in a float artifact


def test_the_split_holds_the_search_samples_apart_and_spreads_them():
    from edgekit.quant.repair import split_samples

    s = split_samples(64)
    assert len(s.search) == 32 and set(s.search).isdisjoint(s.calibrate)
    assert sorted(s.search + s.calibrate) == list(range(64))
    assert s.search[:3] == (1, 3, 5)  # interleaved: a class-sorted file is split evenly, not head/tail
    capped = split_samples(200, max_search=32)
    assert len(capped.search) == 32 and len(capped.calibrate) == 168
    assert capped.search[0] < 10 and capped.search[-1] > 190  # spread over the whole file
    assert split_samples(2).search == (1,) and split_samples(2).calibrate == (0,)
    with pytest.raises(EdgekitError):
        split_samples(1)  # nothing left to score on that was not calibrated on


def _split_model(weights: dict, optimism: float):
    """A backend whose search split reads ``optimism`` higher than held out: returns the search's
    evaluate and the held-out score of a kept set."""
    held = _model(weights)
    return (lambda kept: held(kept) + optimism), held


def test_the_margin_makes_the_search_aim_above_the_budget():
    w = {"a": 0.3, "b": 0.2, "c": 0.01}
    search, held = _split_model(w, optimism=0.004)  # the search split flatters every set by 0.004
    # Without a margin the search stops at {a, b}: 1.004 on its split, 1.000 held out: a miss of 1.001.
    plain = greedy_repair(["a", "b", "c"], search, 1.001)
    assert plain.met and set(plain.kept) == {"a", "b"} and held(plain.kept) < 1.001
    # With a margin of 0.005 it keeps c too: 1.014 on its split, 1.010 held out: meets 1.001.
    r = greedy_repair(["a", "b", "c"], search, 1.001, margin=0.005)
    assert r.met and set(r.kept) == {"a", "b", "c"} and held(r.kept) >= 1.001
    assert r.summary()["search_target"] == pytest.approx(1.006) and r.margin == pytest.approx(0.005)


def test_a_ceiling_between_budget_and_margin_drops_the_margin():
    r = greedy_repair(["a", "b"], _model({"a": 0.3, "b": 0.2}), 1.0, margin=0.01)  # all kept: exactly 1.0
    assert r.met and r.margin == 0.0 and r.summary()["search_target"] == 1.0


def test_held_out_decides_and_a_search_split_success_is_reported_as_not_met():
    from edgekit.quant.repair import judge_held_out

    w = {"a": 0.3, "b": 0.2}
    search, held = _split_model(w, optimism=0.02)
    r = greedy_repair(["a", "b"], search, 0.99, margin=0.003)  # {a, b}: 1.02 on the split
    assert r.met
    record = {
        **r.summary(),
        "search_samples": 32,
        "cost": {"size_bytes": {"int8": 1_000_000, "mixed": 1_500_000, "fp32": 4_000_000}},
    }
    assert record["met"] and record["held_out"] is None  # provisional until the build's gate
    note = judge_held_out(record, {"samples": 16, "cosine": 0.975}, passed=False)
    assert record["met"] is False and record["search_met"] is True
    assert record["held_out"] == {"samples": 16, "cosine": 0.975, "accuracy_drop": None, "met": False}
    assert note and "NOT met" in note and "0.9750" in note and "1.50 MB" in note and "2 layer(s)" in note
    # judged again (a cached artifact that now passes): the search's verdict is kept apart
    assert judge_held_out(record, {"samples": 16, "cosine": 0.995}, passed=True) is None and record["met"] is True
    # a search that missed never turns into success held out
    missed = {**r.summary(), "met": False, "search_met": False}
    assert judge_held_out(missed, {"samples": 16, "cosine": 0.999}, passed=True) is None and missed["met"] is False


def test_a_margin_scored_record_states_its_aim_in_cosine():
    from edgekit.quant.repair import judge_held_out

    record = {  # tflite-int8-mixed scores the margin to the budget: search_target 0.003 means cosine 0.993
        "met": True,
        "search_met": True,
        "search_target": 0.003,
        "margin": 0.003,
        "search_cosine": 0.9942,
        "search_samples": 16,
        "budget": {"min_cosine": 0.99, "max_accuracy_drop": None},
        "kept_layers": [{"layer": "x"}],
    }
    note = judge_held_out(record, {"samples": 16, "cosine": 0.9843}, passed=False)
    assert "reached 0.9942" in note and "aim 0.9930" in note and "cosine 0.9843" in note and not record["met"]
