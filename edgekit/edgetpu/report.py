"""Tables for people: the preflight prediction and the compiler's report (``--json`` skips these)."""

from __future__ import annotations

from edgekit.console import console, human_bytes


def plain(text) -> str:
    """Model-provided text (op and tensor names) with control characters replaced: safe on any terminal."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def _safe(text) -> str:
    """Model-provided text for a rich console: no markup, no control characters."""
    from rich.markup import escape

    return escape(plain(text))


def _names(ops, limit: int = 4) -> str:
    shown = ", ".join(f"#{o.index} {o.name}" for o in ops[:limit])
    return shown + (f", ... ({len(ops)} in all)" if len(ops) > limit else "")


_WHERE = {"input-side": "CPU (before)", "segment": "Edge TPU", "ends-segment": "CPU (ends it)", "after-segment": "CPU (after)"}


def render_preflight(pre, show_ops: bool = False, out=None) -> None:
    """Summary first (counts, first blocking op, the fix); the per-op table only with ``show_ops``."""
    out = out or console()
    before = pre.role_ops("input-side")
    after = [o for o in pre.ops if o.placement == "cpu" and o.role != "input-side"]
    out.print(f"[bold]Edge TPU preflight[/bold] (edgetpu_compiler 16, predicted): {_safe(pre.path)}")
    if pre.already_compiled:
        out.print(
            f"  compiled file: {pre.tpu_ops} Edge TPU segment op(s), {pre.cpu_ops} op(s) left on the CPU"
            + (f" ({_safe(_names(after))})" if after else "")
        )
    elif pre.tpu_ops:
        line = f"  ops: {pre.tpu_ops} of {len(pre.ops)} map to the Edge TPU in one segment"
        parts = []
        if before:
            parts.append(f"{len(before)} before it ({_safe(_names(before))})")
        if after:
            parts.append(f"{len(after)} after it")
        out.print(line + (f"; on the CPU: {', '.join(parts)}" if parts else "; nothing on the CPU"))
    else:
        out.print(f"  ops: 0 of {len(pre.ops)} map to the Edge TPU; all run on the CPU")
    fb = pre.first_blocking
    if fb is not None and not pre.already_compiled:
        tail = " (at the end of the graph: fine)" if pre.tail_only else ""
        out.print(f"  first blocking op: #{fb.index} {_safe(fb.name)} ({fb.rule}: {_safe(fb.reason)}){tail}")
    out.print(f"  [bold]fix[/bold]: {_safe(pre.fix)}")
    for p in pre.problems:
        if p["hint"] == pre.fix and p.get("cause") != "already-compiled":
            out.print(f"  [yellow]{p['rule'] or 'note'}[/yellow]: {_safe(p['message'])}")
        elif p.get("cause") != "already-compiled":
            out.print(f"  [yellow]{p['rule'] or 'note'}[/yellow]: {_safe(p['message'])}; {_safe(p['hint'])}")
    unsure = pre.uncertain
    if unsure:
        first = unsure[0]
        out.print(
            f"  uncertain: {len(unsure)} of {len(pre.ops)} predictions rest on a rule no real compiled pair "
            f"confirms (marked ? with --ops); first #{first.index} {_safe(first.name)}: {_safe(first.uncertain_why)}"
        )
    if not pre.already_compiled:
        out.print(
            f"  parameters on the Edge TPU: {human_bytes(pre.param_bytes_tpu)} of ~8 MiB on-chip"
            + (" [yellow](exceeds it: the rest streams from host memory)[/yellow]" if pre.off_chip_predicted else "")
        )
    verdict = "[bold green]Edge TPU ready[/bold green]" if pre.ready else "[bold red]not Edge TPU ready[/bold red]"
    out.print(f"  {verdict} (all compute ops mapped: {'yes' if pre.ready else 'no'})")
    if show_ops:
        _op_table(pre, out)
    else:
        out.print("  per-op placement: add --ops (or --json for everything)")


def _op_table(pre, out) -> None:
    from rich.table import Table

    table = Table(title="per-op placement (? = uncertain: no real pair confirms the rule)", title_justify="left")
    for col, just in (
        ("#", "right"),
        ("op", "left"),
        ("ver", "right"),
        ("where", "left"),
        ("sure", "center"),
        ("rule", "left"),
        ("reason", "left"),
    ):
        table.add_column(col, justify=just)
    for o in pre.ops:
        where = _WHERE.get(o.role, o.placement) if pre.tpu_ops else "CPU"
        where = f"[green]{where}[/green]" if o.placement == "tpu" else f"[yellow]{where}[/yellow]"
        reason = "; ".join(t for t in (o.reason, o.uncertain_why and f"uncertain: {o.uncertain_why}") if t)
        table.add_row(str(o.index), _safe(o.name), str(o.version), where, "" if o.certain else "?", o.rule or "", _safe(reason))
    out.print(table)


def render_compile(doc: dict, show_ops: bool = False, out=None) -> None:
    from rich.table import Table

    out = out or console()
    rep = doc["compiler"]
    out.print(f"[bold]edgetpu_compiler {_safe(rep.get('compiler_version') or '?')}[/bold]: {_safe(doc['model'])}")
    for seg in rep["segments"]:
        out.print(
            f"  {seg.get('output_model')}: on-chip {human_bytes(seg.get('on_chip_used'))}, "
            f"off-chip {human_bytes(seg.get('off_chip_used'))}, {seg.get('subgraphs')} Edge TPU subgraph(s), "
            f"ops on Edge TPU {seg.get('ops_tpu')}, on CPU {seg.get('ops_cpu')}"
        )
        if show_ops and seg["ops"]:
            t = Table(box=None)
            for col in ("op", "count", "status"):
                t.add_column(col)
            for row in seg["ops"]:
                t.add_row(_safe(row["op"]), str(row["count"]), _safe(row["status"]))
            out.print(t)
    ag = doc.get("prediction_agreement") or {}
    if ag.get("compared"):
        out.print(
            f"  preflight prediction {'agrees' if ag['agree'] else 'DIFFERS'}: predicted CPU ops {ag['predicted_cpu']}, "
            f"actual {ag['actual_cpu']}"
        )
    out.print(f"  outputs: {', '.join(doc['outputs'])}; report: {doc['report_file']}")
