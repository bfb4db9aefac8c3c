"""One build of the BERT-style encoder example (static, dynamic and repaired int8) per session."""

from __future__ import annotations

import pytest

pytest.importorskip("executorch")

SPEC_EXTRA = """
[drift]
fail_below = 0.9    # a sentence embedding below cosine 0.9 against float is broken for retrieval
warn_below = 0.95
"""


@pytest.fixture(scope="session")
def encoder_build(tmp_path_factory):
    from edgekit import api
    from examples.torch_encoder.encoder import prepare

    work = tmp_path_factory.mktemp("torch_encoder")
    info = prepare(str(work))
    with open(info["spec"], "a", encoding="utf-8") as f:
        f.write(SPEC_EXTRA)
    with open(info["spec"], encoding="utf-8") as f:
        text = f.read().replace('"executorch-xnnpack", ', "")  # fp32 comes from the mixed target's cost line
    with open(info["spec"], "w", encoding="utf-8") as f:
        f.write(text)
    report = api.build(info["spec"])
    return work, report, {e.target: e for e in report.entries}
