"""Where compiler 16 puts each op: a CPU prefix, one Edge TPU segment, a CPU tail, by data flow.

The placement model (edgetpu-ops.md R6, checked op by op against the 12 real compiled pairs):

1. Each op either can map on its own merits or not (``classify``: rules.py R1..R5, R7).
2. An op that cannot map and does not depend on any Edge TPU op stays on the CPU *in front of* the
   segment ("input-side"; seen: a CAST and a QUANTIZE converting a uint8 input). It does not end
   the segment.
3. An op that can map, and does not depend on an op that ended the segment, is in the segment.
4. An op that cannot map and depends on the segment ends it ("ends-segment"), and every op that
   depends on it, directly or through other ops, runs on the CPU ("after-segment"), supported or not.

Dependencies, not execution order, decide 2-4: a side branch or an input-side op does not move ops
that do not depend on it. The real pairs cannot tell data flow from execution order (every op after
their first blocking op depends on it), so the same graph is also placed by execution order
(Coral's "the first unsupported op and everything after it", plus the input-side conversions that
were seen); an op the two readings place differently is marked uncertain, and so is every op whose
placement hangs on a rule no real pair confirms (``uncertain_why``).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.edgetpu import rules
from edgekit.inspect.tflite_model import OperatorInfo, SubgraphInfo

INPUT_SIDE = "input-side"  # CPU, in front of the segment
SEGMENT = "segment"  # Edge TPU
ENDS_SEGMENT = "ends-segment"  # CPU: cannot map and depends on the segment
AFTER_SEGMENT = "after-segment"  # CPU: depends on an op that ended the segment


@dataclass
class Placed:
    """One op's placement before the wording: role, own refusal, who blocked it, certainty."""

    role: str
    refusal: tuple[str, str, str] | None  # (rule, reason, hint key) when it cannot map on its own
    blocked_by: int | None = None
    uncertain_why: str = ""  # the unconfirmed rule this placement rests on ('' when confirmed)

    @property
    def on_tpu(self) -> bool:
        return self.role == SEGMENT


def upstream(sg: SubgraphInfo) -> list[list[int]]:
    """For every op, the earlier ops whose outputs it reads (constants and graph inputs have none)."""
    producer: dict[int, int] = {}
    for op in sg.operators:
        for t in op.outputs:
            producer.setdefault(t, op.index)
    return [sorted({producer[t] for t in op.inputs if t in producer and producer[t] < op.index}) for op in sg.operators]


def by_data_flow(sg: SubgraphInfo, refusals: list) -> list[Placed]:
    ups = upstream(sg)
    placed: list[Placed] = []
    feeds_from_tpu = [False] * len(sg.operators)  # the op depends on an Edge TPU op
    for op in sg.operators:
        i, up = op.index, ups[op.index]
        blockers = [placed[u].blocked_by for u in up if placed[u].blocked_by is not None]
        depends_on_tpu = any(placed[u].on_tpu or feeds_from_tpu[u] for u in up)
        if blockers:
            p = Placed(AFTER_SEGMENT, refusals[i], blocked_by=min(blockers))
        elif refusals[i] is None:
            p = Placed(SEGMENT, None)
        elif depends_on_tpu:
            p = Placed(ENDS_SEGMENT, refusals[i], blocked_by=i)
        else:
            p = Placed(INPUT_SIDE, refusals[i])
        feeds_from_tpu[i] = depends_on_tpu
        placed.append(p)
    return placed


def by_execution_order(sg: SubgraphInfo, refusals: list) -> list[tuple[bool, int | None]]:
    """(on the Edge TPU, the op that ended the segment) per op, reading Coral's rule literally."""
    out: list[tuple[bool, int | None]] = []
    started, ended = False, None
    for op in sg.operators:
        i = op.index
        if ended is not None:
            out.append((False, ended))
        elif refusals[i] is None:
            started = True
            out.append((True, None))
        elif not started and op.name in rules.INPUT_CONVERSIONS:
            out.append((False, None))
        else:
            ended = i
            out.append((False, i))
    return out


def own_doubt(sg: SubgraphInfo, op: OperatorInfo, refusal: tuple[str, str, str] | None) -> str:
    """Why the op's own verdict (maps / cannot map) is not confirmed by a real pair, else ''."""
    if refusal is None:
        basis, note = rules.map_basis(op.name)
        if basis == "unverified":
            return f"{op.name} {note}"
        if op.name.startswith("RESIZE"):
            factor = rules.resize_factor(sg, op)
            if factor is not None and factor > 2:
                return (
                    f"x{factor:.0f} upsampling is under the heuristic limit x{rules.MAX_RESIZE_FACTOR}; "
                    "the compiler's real limit is undocumented"
                )
        return ""
    rule = refusal[0]
    if op.name in rules.STATE_AND_CONTROL_OPS:
        return ""  # they work on resource handles and subgraphs, never 8-bit tensors
    if rule == "R5" and not op.custom and op.name not in rules.SUPPORTED and op.name not in rules.SEEN_ON_CPU:
        return (
            f"{op.name} is not in Coral's op table and was never seen in a compiled model; compiler 16 maps "
            "TILE, which is not in the table either"
        )
    if rule == "R7" and op.name not in rules.R7_CONFIRMED:
        return f"the version limit for {op.name} is dated from TFLite's history, not seen in a real compile"
    if rule == "R5" and op.name.startswith("RESIZE"):
        src = sg.tensors[op.inputs[0]].shape
        if not (len(src) == 4 and src[1] == 1 and src[2] == 1):  # the real pairs' case: 1x1 broadcast
            return (
                f"refused by the heuristic upsampling limit x{rules.MAX_RESIZE_FACTOR}; only a 1x1 -> 33x33 "
                "resize was seen refused"
            )
    return ""


def place(sg: SubgraphInfo, refusals: list, model_doubt: str = "") -> list[Placed]:
    """Data-flow placement with per-op certainty (see the module docstring)."""
    placed = by_data_flow(sg, refusals)
    order = by_execution_order(sg, refusals)
    ups = upstream(sg)
    for op in sg.operators:
        i, p = op.index, placed[op.index]
        own = own_doubt(sg, op, refusals[i])
        if p.role == AFTER_SEGMENT:
            # on the CPU for sure when what ended the segment is sure, or when it cannot map itself
            if placed[p.blocked_by].uncertain_why and (refusals[i] is None or own):
                b = sg.operators[p.blocked_by]
                p.uncertain_why = own or f"if #{b.index} {b.name} maps after all, this op maps too"
        elif own:
            p.uncertain_why = own
        elif p.on_tpu and order[i][0] is False and order[i][1] is not None:
            k = sg.operators[order[i][1]]
            if placed[k.index].role == INPUT_SIDE:
                p.uncertain_why = (
                    f"#{k.index} {k.name} cannot map and runs before the segment; predicted to stay "
                    f"on the CPU in front of it, as input-side conversions were seen to, but no real "
                    f"pair shows it for {k.name} here"
                )
            else:
                p.uncertain_why = (
                    f"it runs after #{k.index} {k.name}, which ends the segment, but does not depend "
                    "on it: placed by data flow; no real pair shows how a segment ends with parallel "
                    "branches"
                )
        elif p.on_tpu:
            doubtful = [u for u in ups[i] if placed[u].on_tpu and placed[u].uncertain_why]
            if doubtful:
                u = sg.operators[doubtful[0]]
                p.uncertain_why = f"depends on #{u.index} {u.name}, whose mapping is uncertain"
        if model_doubt and p.on_tpu and not p.uncertain_why:  # what cannot map stays on the CPU anyway
            p.uncertain_why = model_doubt
    return placed
