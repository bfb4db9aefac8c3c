"""What ``edgekit compare`` compares: result files and history runs paired into (baseline,
candidate) by series or by name, the stored baseline of a candidate, and the repeated baseline
runs that measure run-to-run noise. Plain parameters; the CLI and the Python API both call this."""

from __future__ import annotations

import os
import re
from typing import Sequence

from edgekit.errors import EdgekitError


def load_ref(ref: str, history_path: str | None) -> tuple[list[dict], str]:
    """The results a reference names (a result file, or a run id in the history) and its label."""
    from edgekit.results.schema import SchemaError, load_many

    if os.path.exists(ref):
        try:
            return load_many(ref), ref
        except OSError as exc:
            raise EdgekitError(f"cannot read {ref} ({exc.strerror})", "check the result file path") from None
        except (ValueError, SchemaError) as exc:
            raise EdgekitError(f"{ref}: {exc}", "pass a file written by 'edgekit bench -o'") from None
    m = re.fullmatch(r"#?(\d+)", ref)
    if m:
        from edgekit.results.history import History

        with History(history_path, create=False) as h:
            return [h.result(int(m.group(1)))], f"run {m.group(1)}"
    raise EdgekitError(
        f"{ref} is neither a result file nor a run id",
        "pass a JSON file from 'edgekit bench -o' or a run number from 'edgekit history'",
    )


def pairs(
    refs: Sequence[str], *, use_baseline: bool = False, history: str | None = None, pair_by: str = "series"
) -> list[tuple[dict, dict, str, str]]:
    """(baseline, candidate, baseline ref, candidate ref) to compare: two results (files or run
    ids) paired by series or name, or with ``use_baseline`` each candidate (``refs``, or the latest
    run of every series that has a baseline) with its stored baseline."""
    from edgekit.results.compare import pair_results
    from edgekit.results.history import History

    if not use_baseline:
        if len(refs) != 2:
            raise EdgekitError(
                "compare needs BASELINE and CANDIDATE", "e.g. 'edgekit compare base.json new.json', or use --baseline"
            )
        (base, bref), (cand, cref) = (load_ref(r, history) for r in refs)
        return [(b, c, bref, cref) for b, c in pair_results(base, cand, pair_by)]

    out = []
    with History(history, create=False) as h:
        if refs:
            candidates = []
            for arg in refs:
                results, ref = load_ref(arg, history)
                candidates += [(r, ref) for r in results]
        else:
            candidates = []
            for b in h.baselines():
                latest = h.latest(b.series, b.device_key, b.setup_key)
                if latest is not None and latest.id != b.id:
                    candidates.append((h.result(latest.id), f"run {latest.id}"))
            candidates += _unpaired_latest(h, pair_by == "name")
            if not candidates:
                raise EdgekitError(
                    f"no run newer than a baseline in {h.path}",
                    "set one with 'edgekit history --set-baseline RUN', then benchmark again",
                )
        for cand, cref in candidates:
            bid = _baseline_id(h, cand, pair_by)
            out.append((h.result(bid), cand, f"run {bid}", cref))
    return out


def _unpaired_latest(h, pair: bool) -> list[tuple[dict, str]]:
    """Latest runs of series without a baseline whose name has one on the same device (the same file
    with other settings, or a same-named file elsewhere): compared with --pair-by name, else named
    in a warning, so a slow run in a neighbouring series is never passed over in silence."""
    from edgekit.console import warn
    from edgekit.results.series import display_name

    bases = h.baselines()
    keyed = {(b.series, b.device_key, b.setup_key) for b in bases}
    names = {(display_name(h.result(b.id)), b.device_key) for b in bases}
    out, seen = [], set()
    for r in h.runs(status="ok"):
        key = (r.series, r.device_key, r.setup_key)
        if key in keyed or key in seen:
            continue
        seen.add(key)
        doc = h.result(r.id)
        if (display_name(doc), r.device_key) not in names:
            continue
        if pair:
            out.append((doc, f"run {r.id}"))
        else:
            warn(
                f"run {r.id} ({r.artifact_path or r.series}, {r.setup}) has no baseline of its own and was not compared; "
                "set one, or pass --pair-by name to compare it with the baseline of the same name"
            )
    return out


def _baseline_id(h, cand: dict, pair_by: str) -> int:
    """The stored baseline of the candidate's series; with --pair-by name, of its name on its device."""
    from edgekit.results.series import device_key, display_name, identity, series_key, setup_key, setup_text

    bid = h.baseline_for(series_key(cand), device_key(cand), setup_key(cand))
    if bid is not None:
        return bid
    same_name = [
        b for b in h.baselines() if b.device_key == device_key(cand) and display_name(h.result(b.id)) == display_name(cand)
    ]
    if pair_by == "name" and len(same_name) == 1:
        return same_name[0].id
    if pair_by == "name" and same_name:
        raise EdgekitError(
            f"{len(same_name)} baselines are named {display_name(cand)} on this device (runs "
            f"{', '.join(str(b.id) for b in same_name)})",
            "compare with one of them by run id: 'edgekit compare RUN FILE'",
        )
    others = "; ".join(f"run {b.id}: {identity(h.result(b.id))}, {b.setup}" for b in same_name)
    raise EdgekitError(
        f"no baseline for {identity(cand)} with {setup_text(cand)} on this device ({device_key(cand)[:6]})"
        + (f"; baselines of the same name differ in path or settings ({others})" if others else ""),
        "set one with 'edgekit history --set-baseline RUN'"
        + (", or pass --pair-by name to compare with it anyway" if same_name else " (see 'edgekit history')"),
    )


def repeated_runs(history_path: str | None, baseline: dict, limit: int = 20) -> list[dict]:
    """Recent runs of the baseline's artifact (sha256) with its settings on its device, from the
    history when there is one; compare_results keeps those recorded before the candidate."""
    from edgekit.results.compare import device_key, setup_key
    from edgekit.results.history import History, default_path

    sha = (baseline.get("artifact") or {}).get("sha256")
    if not sha or not os.path.exists(history_path or default_path()):
        return []
    with History(history_path, create=False) as h:
        rows = h.runs(sha256=sha, device=device_key(baseline), status="ok", setup=setup_key(baseline), limit=limit * 3)
        return [h.result(r.id) for r in rows]
