"""How optimistic is the repair search? Search-split score vs held-out score of every kept set (issue 19).

    PYTHONPATH=. python benchmarks/repair_split_gap.py {calibration,split} [--margin 0.0]

examples/torch_encoder (64 calibration sentences, 32 held-out ones), eager PT2E simulation,
worst-sentence cosine against float, budget 0.99. ``calibration``: calibrate on all 64 and score the
search on the same 64 (the search before issue 19); ``split``: calibrate on one half and score on
the other (``edgekit.quant.repair.split_samples``). Every kept set the search visits is also scored
on the held-out sentences, so the gap between what the search sees and what the gate will see is
measured set by set. Prints one JSON document (the rows) and a summary line on stderr; ~6 min on
2 cores. docs/quantization.md ("Why the search holds samples apart") quotes its numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("calibration", "split"))
    ap.add_argument("--margin", type=float, default=0.0)
    args = ap.parse_args()
    import numpy as np
    import torch

    from edgekit.quant import pt2e as qp
    from edgekit.quant.repair import greedy_repair, split_samples
    from edgekit.sources import load_source
    from edgekit.torchkit.export import fresh_program
    from examples.torch_encoder.encoder import token_ids

    src = load_source("examples.torch_encoder.encoder:encoder")
    data = [(torch.from_numpy(row[None]),) for row in token_ids(64, seed=1)]  # as prepare() writes them
    held = [(torch.from_numpy(row[None]),) for row in token_ids(32, seed=2)]
    if args.mode == "calibration":
        cal = search = data
    else:
        split = split_samples(len(data))
        cal, search = [data[i] for i in split.calibrate], [data[i] for i in split.search]

    def reference(batches):
        return np.concatenate([np.asarray(src.predict([t.numpy() for t in b])[0]).reshape(1, -1) for b in batches])

    def per_sentence(ref, got):
        g = np.concatenate([np.asarray(x[0]).reshape(1, -1) for x in got])
        return np.sum(ref * g, 1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(g, axis=1))

    t0 = time.time()
    sim = qp.Simulation(fresh_program(src), cal)
    ref_s, ref_h = reference(search), reference(held)
    order = qp.repair_order(sim.layer_errors(search[: qp.REPORT_SAMPLES]), sim.quantized_layers)
    rows = []

    def score(kept):
        s, h = per_sentence(ref_s, sim.outputs(kept, search)), per_sentence(ref_h, sim.outputs(kept, held))
        rows.append({"kept": len(kept), "search": float(s.min()), "held_out": float(h.min()), "search_std": float(s.std())})
        return float(s.min())

    r = greedy_repair(order, score, 0.99, margin=args.margin, time_budget_s=3600)
    final = float(per_sentence(ref_h, sim.outputs(r.kept, held)).min())
    accepted = [x for x in rows if x["search"] >= 0.99 and x["kept"] < len(order)]
    gaps = sorted(x["search"] - x["held_out"] for x in accepted)
    summary = {
        "mode": args.mode,
        "margin": args.margin,
        "calibrated_on": len(cal),
        "scored_on": len(search),
        "kept": list(r.kept),
        "search_score": r.score,
        "held_out": final,
        "evaluations": len(r.attempts),
        "seconds": round(time.time() - t0, 1),
        "gap_median": statistics.median(gaps) if gaps else None,
        "gap_p75": gaps[int(0.75 * len(gaps))] if gaps else None,
        "gap_max": max(gaps) if gaps else None,
        "met_search_missed_held_out": f"{sum(1 for x in accepted if x['held_out'] < 0.99)} of {len(accepted)}",
    }
    print(json.dumps({**summary, "rows": rows}, indent=1))
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
