"""Tables for people: the preflight prediction and the compiler's report (``--json`` skips these)."""

from __future__ import annotations

from edgekit.console import console, human_bytes


def render_preflight(pre, out=None) -> None:
    from rich.table import Table

    out = out or console()
    table = Table(title=f"Edge TPU preflight: {pre.path}", title_justify="left")
    for col, just in (("#", "right"), ("op", "left"), ("ver", "right"), ("where", "left"), ("rule", "left"), ("reason", "left")):
        table.add_column(col, justify=just)
    for o in pre.ops:
        where = "[green]Edge TPU[/green]" if o.placement == "tpu" else "[yellow]CPU[/yellow]"
        table.add_row(str(o.index), o.name, str(o.version), where, o.rule or "", o.reason)
    out.print(table)
    out.print(pre.summary())
    out.print(f"parameters on the Edge TPU: {human_bytes(pre.param_bytes_tpu)} of ~8 MiB on-chip"
              + (" [yellow](exceeds it: the rest streams from host memory)[/yellow]" if pre.off_chip_predicted else ""))
    if pre.first_blocking is not None:
        out.print(f"fix: {pre.first_blocking.hint}")
    for p in pre.problems:
        out.print(f"[yellow]{p['rule'] or 'note'}[/yellow]: {p['message']}; {p['hint']}")
    verdict = "[bold green]Edge TPU ready[/bold green]" if pre.ready else "[bold red]not Edge TPU ready[/bold red]"
    out.print(f"{verdict} (all compute ops mapped: {'yes' if pre.ready else 'no'})")


def render_compile(doc: dict, show_ops: bool = False, out=None) -> None:
    from rich.table import Table

    out = out or console()
    rep = doc["compiler"]
    out.print(f"[bold]edgetpu_compiler {rep.get('compiler_version') or '?'}[/bold]: {doc['model']}")
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
                t.add_row(row["op"], str(row["count"]), row["status"])
            out.print(t)
    ag = doc.get("prediction_agreement") or {}
    if ag.get("compared"):
        out.print(f"  preflight prediction {'agrees' if ag['agree'] else 'DIFFERS'}: predicted CPU ops {ag['predicted_cpu']}, "
                  f"actual {ag['actual_cpu']}")
    out.print(f"  outputs: {', '.join(doc['outputs'])}; report: {doc['report_file']}")
