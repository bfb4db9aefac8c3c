"""Render ``edgekit.inspect.describe()`` output as rich tables for people (``--json`` skips this).

Everything shown comes from the file, so every string goes through ``console.safe`` (a tensor named
``[/bold]`` or ``\\x1b[2J`` prints as written) and every list is bounded: a corrupt or hostile file
can hold 60,000 operators, 100,000-character names or 200,000-dimension shapes, and laying those out
in rich tables would cost minutes and hundreds of MB where ``--json`` takes a fraction of a second.
The table view shows the first rows of each long list and says how many more ``--json`` has.
"""

from __future__ import annotations

from typing import Any, Iterable

from edgekit.console import console, human_bytes, safe

NAME_LIMIT = 80  # characters of a tensor/op/subgraph name in a table cell
TEXT_LIMIT = 200  # characters of a description or other free text
SHAPE_DIMS = 8  # dimensions of a shape written out before "... (N dims)"
LIST_LIMIT = 20  # items of a comma-separated list (custom ops, signatures' names, metadata)
ROW_LIMIT = 300  # rows of one operators/tensors table (rich lays out ~1 ms per row); --all lifts it
IO_LIMIT = 50  # rows of one inputs-and-outputs table
SUBGRAPH_LIMIT = 50  # subgraphs rendered in full


def _name(value: Any, limit: int = NAME_LIMIT) -> str:
    return safe(value, limit=limit)


def _shape(shape: Any, dynamic: Iterable[int] = ()) -> str:
    """``[1,224,224,3]``; dynamic axes carry a ``*`` (their size here is the stored placeholder)."""
    if shape is None:
        return "-"
    marked = set(dynamic)
    dims = [f"{d}*" if i in marked else str(d) for i, d in enumerate(shape[:SHAPE_DIMS])]
    more = f",... ({len(shape):,} dims)" if len(shape) > SHAPE_DIMS else ""
    return "[" + ",".join(dims) + more + "]"


def _quant(q: dict | None) -> str:
    if not q or not q["scales"]:
        return "-"
    if q["per_channel"]:
        s = q["scales"]
        return f"per-channel ({len(s)} scales, dim {q['quantized_dimension']}, {min(s):.3g}..{max(s):.3g})"
    return f"scale {q['scales'][0]:.6g}, zp {q['zero_points'][0] if q['zero_points'] else 0}"


def _macs(n: int | None) -> str:
    if not n:
        return "-"
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n:,}"


def _joined(items: Iterable[str], limit: int = LIST_LIMIT) -> str:
    items = list(items)
    text = ", ".join(items[:limit])
    return text + (f", ... ({len(items) - limit:,} more)" if len(items) > limit else "")


def _more(table, shown: int, total: int, what: str) -> None:
    if total > shown:
        table.add_row("", f"[dim]... {total - shown:,} more {what} (--all or --json lists all)[/dim]")


def print_summary(out, rows: list[tuple[str, str]]) -> None:
    """The key/value block at the top of every model view (.tflite and .onnx print it alike)."""
    from rich.table import Table

    summary = Table(show_header=False, box=None, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    for k, v in rows:
        summary.add_row(k, v)
    out.print(summary)


def render(info: dict, *, tensors: bool = False, out=None, all_rows: bool = False) -> None:
    """Print the summary and per-subgraph tables; ``all_rows`` shows every operator and tensor."""
    from rich.table import Table

    out = out or console()
    out.print(f"[bold]{_name(info['path'], TEXT_LIMIT)}[/bold]")
    rows = [
        ("file size", human_bytes(info["file_bytes"])),
        ("schema version", str(info["schema_version"])),
        ("description", _name(info["description"], TEXT_LIMIT) or "-"),
        ("min runtime version", _name(info["min_runtime_version"]) or "- (not recorded)"),
        ("subgraphs", str(len(info["subgraphs"]))),
        ("operators", str(info["ops"])),
        ("parameters", f"{info['params']:,} ({human_bytes(info['param_bytes'])})"),
        ("per-channel quantized tensors", str(info["per_channel_tensors"])),
        ("custom ops", _joined(_name(c) for c in info["custom_ops"]) or "none"),
    ]
    md = info["macs_detail"]
    mac_text = _macs(info["macs"]) + " MACs"
    mac_text += f" (counted: {', '.join(md['counted_types'])})"
    if md["not_counted"]:
        mac_text += "; not counted: " + _joined(f"{_name(k)} x{v}" for k, v in sorted(md["not_counted"].items()))
    rows.append(("estimated MACs", mac_text))
    if md.get("counted_at"):
        rows.append(
            (
                "MACs counted at",
                _joined(
                    f"{_name(t['name'])} {_shape(t['shape'], t['dynamic_dims'])} (signature {_shape(t['shape_signature'])})"
                    for t in md["counted_at"]
                )
                + "; * marks a dynamic dimension counted at its stored placeholder size",
            )
        )
    print_summary(out, rows)
    if md["heavy_not_counted"]:
        out.print(f"[yellow]MACs are a lower bound: {_joined(_name(n) for n in md['heavy_not_counted'])} not counted[/yellow]")
    if md.get("counted_at"):
        out.print(
            "[yellow]The model has dynamic input dimensions: the MACs above are for the stored "
            "placeholder shape, not for the sizes it will be run at.[/yellow]"
        )

    tpu = info["edgetpu"]
    if tpu["compiled"]:
        cpu = tpu["cpu_op_counts"]
        text = _joined(f"{_name(k)} x{v}" for k, v in cpu.items()) if cpu else "none (everything runs on the Edge TPU)"
        out.print(
            f"[bold cyan]Edge TPU compiled model[/bold cyan]: {tpu['tpu_segments']} edgetpu-custom-op segment(s), "
            f"{human_bytes(tpu['tpu_executable_bytes'])} compiled; ops left on the CPU: {text}"
        )

    for sg in info["subgraphs"][:SUBGRAPH_LIMIT]:
        _render_subgraph(out, sg, tensors, Table, None if all_rows else ROW_LIMIT)
    if len(info["subgraphs"]) > SUBGRAPH_LIMIT:
        out.print(f"... {len(info['subgraphs']) - SUBGRAPH_LIMIT:,} more subgraphs (edgekit inspect --json lists all)")
    for sig in info["signatures"][:LIST_LIMIT]:
        out.print(
            f"signature [bold]{_name(sig['key'])}[/bold] (subgraph {sig['subgraph_index']}): "
            f"inputs {_joined(_name(n) for n in sig['inputs'])}; outputs {_joined(_name(n) for n in sig['outputs'])}"
        )
    if len(info["signatures"]) > LIST_LIMIT:
        out.print(f"... {len(info['signatures']) - LIST_LIMIT:,} more signatures")
    if info["metadata"]:
        out.print(
            "metadata: "
            + _joined(
                f"{_name(m['name'])} ({human_bytes(m['size_bytes'])}{': ' + _name(m['value']) if m['value'] else ''})"
                for m in info["metadata"]
            )
        )


def _render_subgraph(out, sg: dict, tensors: bool, Table, row_limit: int | None) -> None:
    title = f"subgraph {sg['index']}" + (f" ({_name(sg['name'])})" if sg["name"] else "")
    io = Table(title=f"{title}: inputs and outputs", title_justify="left")
    for col in ("", "name", "shape", "signature", "dtype", "quantization"):
        io.add_column(col)
    items = [("in", t) for t in sg["inputs"]] + [("out", t) for t in sg["outputs"]]
    for kind, t in items[:IO_LIMIT]:
        io.add_row(
            kind,
            _name(t["name"]),
            _shape(t["shape"], t.get("dynamic_dims", ())),
            _shape(t["shape_signature"]),
            _name(t["dtype"]),
            _quant(t["quantization"]),
        )
    _more(io, min(len(items), IO_LIMIT), len(items), "inputs and outputs")
    out.print(io)
    if any(t.get("dynamic_dims") for _, t in items[:IO_LIMIT]):
        out.print("* dynamic dimension (-1 in the shape signature): the size shown is the stored placeholder")
    ops = Table(title=f"{title}: operators", title_justify="left")
    for col, just in (
        ("#", "right"),
        ("op", "left"),
        ("ver", "right"),
        ("inputs", "left"),
        ("outputs", "left"),
        ("MACs", "right"),
    ):
        ops.add_column(col, justify=just)
    for op in sg["operators"][:row_limit]:
        name = _name(op["name"]) + (" \\[custom]" if op["custom"] else "")
        ins = " ".join(_shape(s) for s in op["input_shapes"][:SHAPE_DIMS])
        if len(op["input_shapes"]) > SHAPE_DIMS:
            ins += f" ... ({len(op['input_shapes']):,} inputs)"
        outs = " ".join(_shape(s) for s in op["output_shapes"][:SHAPE_DIMS])
        if len(op["output_shapes"]) > SHAPE_DIMS:
            outs += f" ... ({len(op['output_shapes']):,} outputs)"
        ops.add_row(str(op["index"]), name, str(op["version"]), ins, outs, _macs(op["macs"]))
    _more(ops, len(sg["operators"][:row_limit]), len(sg["operators"]), "operators")
    out.print(ops)
    if tensors:
        tt = Table(title=f"{title}: tensors", title_justify="left")
        for col in ("#", "name", "shape", "signature", "dtype", "const", "quantization"):
            tt.add_column(col)
        for t in sg["tensors"][:row_limit]:
            tt.add_row(
                str(t["index"]),
                _name(t["name"]),
                _shape(t["shape"], t.get("dynamic_dims", ())),
                _shape(t["shape_signature"]),
                _name(t["dtype"]),
                human_bytes(t["data_bytes"]) if t["constant"] else "",
                _quant(t["quantization"]),
            )
        _more(tt, len(sg["tensors"][:row_limit]), len(sg["tensors"]), "tensors")
        out.print(tt)
