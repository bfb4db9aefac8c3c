"""Seeded fuzz of the inspector: mutated real models end in a result or one EdgekitError, fast.

The mutation engine is benchmarks/fuzz.py's (the 10,000-case campaign in BENCHMARKS.md); here a few
hundred cases of every mutation kind run against the smaller real Coral models so the whole test
stays well under a minute. Only .tflite is fuzzed: the inspector reads no other format (a .pte is
refused at its header, tested below), and no .pte can be produced here without an export that
takes longer than this whole test.
"""

from __future__ import annotations

import os
import time

import pytest

from benchmarks.fuzz import Mutator, check_cli_output, inspect_bytes, run_cli_case, sources

CASES = 200
BOUND = 5.0  # seconds a case may take (the campaign's bound)


@pytest.fixture(scope="module")
def mutator(coral_models):
    small = sources(max_bytes=600_000)  # the 7 smaller real models (LSTM, MobileNet, SSD head, Edge TPU ones)
    assert len(small) >= 6 and any("edgetpu" in p.name for p in small)
    return Mutator(seed=15, paths=small, many=(300, 1_500))  # the 20,000-op sizes run in the campaign


def test_mutated_models_end_in_a_result_or_one_edgekit_error(mutator):
    t0 = time.perf_counter()
    seen: dict[str, set[str]] = {}
    failures = []
    for i in range(CASES):
        kind, src, data = mutator.case(i)
        res = inspect_bytes(data, f"case-{i}", BOUND)
        seen.setdefault(kind, set()).add(res.kind)
        if res.kind not in ("result", "EdgekitError"):
            failures.append(f"case {i} ({kind} of {src}): {res.kind} after {res.seconds:.1f} s {res.detail}")
    assert not failures, "\n".join(failures[:20])
    assert set(seen) == set(Mutator.BYTE_KINDS + Mutator.FIELD_KINDS)  # every mutation kind ran
    # the corpus exercises both endings: corrupt files are refused, hostile-but-valid ones described
    assert any("EdgekitError" in v for v in seen.values()) and any("result" in v for v in seen.values())
    assert time.perf_counter() - t0 < 60


def test_mutation_cases_are_reproducible(mutator):
    assert mutator.case(7) == mutator.case(7)
    assert mutator.case(7)[2] != mutator.case(8)[2]


def test_mutated_models_through_the_cli_table_view(mutator, tmp_path):
    """The user's view: `edgekit inspect FILE` never exits 70 and never writes raw control bytes."""
    picked = {}
    for i in range(CASES):  # one case of each mutation kind, the hostile names among them
        kind = mutator.case(i)[0]
        picked.setdefault(kind, i)
    for kind in ("name", "shape", "truncate"):
        i = picked[kind]
        path = tmp_path / f"case-{i}.tflite"
        path.write_bytes(mutator.case(i)[2])
        code, secs, rss, out, err = run_cli_case(str(path), ["inspect"])
        problem = check_cli_output(code, out, err)
        assert problem is None, f"case {i} ({kind}): {problem}"


def test_pte_and_other_formats_are_refused_in_one_line(tmp_path):
    from edgekit.errors import EdgekitError
    from edgekit.inspect import describe_bytes

    for head in (b"\0\0\0\0ET12" + os.urandom(64), b"PK\x03\x04" + os.urandom(64), os.urandom(3)):
        with pytest.raises(EdgekitError, match="not a TFLite model"):
            describe_bytes(head, "model.pte")
