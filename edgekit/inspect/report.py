"""Render ``edgekit.inspect.describe()`` output as rich tables for people (``--json`` skips this)."""

from __future__ import annotations

from typing import Any

from edgekit.console import console, human_bytes


def _shape(shape: Any) -> str:
    if shape is None:
        return "-"
    return "[" + ",".join(str(d) for d in shape) + "]"


def _quant(q: dict | None) -> str:
    if not q:
        return "-"
    if q["per_channel"]:
        s = q["scales"]
        return f"per-channel ({len(s)} scales, dim {q['quantized_dimension']}, {min(s):.3g}..{max(s):.3g})"
    return f"scale {q['scales'][0]:.6g}, zp {q['zero_points'][0] if q['zero_points'] else 0}"


def _macs(n: int | None) -> str:
    if not n:
        return "-"
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n:,}"


def render(info: dict, *, tensors: bool = False, out=None) -> None:
    from rich.table import Table

    out = out or console()
    out.print(f"[bold]{info['path']}[/bold]")
    rows = [
        ("file size", human_bytes(info["file_bytes"])),
        ("schema version", str(info["schema_version"])),
        ("description", info["description"] or "-"),
        ("min runtime version", info["min_runtime_version"] or "- (not recorded)"),
        ("subgraphs", str(len(info["subgraphs"]))),
        ("operators", str(info["ops"])),
        ("parameters", f"{info['params']:,} ({human_bytes(info['param_bytes'])})"),
        ("per-channel quantized tensors", str(info["per_channel_tensors"])),
        ("custom ops", ", ".join(info["custom_ops"]) or "none"),
    ]
    md = info["macs_detail"]
    mac_text = _macs(info["macs"]) + " MACs"
    mac_text += f" (counted: {', '.join(md['counted_types'])})"
    if md["not_counted"]:
        mac_text += "; not counted: " + ", ".join(f"{k} x{v}" for k, v in sorted(md["not_counted"].items()))
    rows.append(("estimated MACs", mac_text))
    summary = Table(show_header=False, box=None, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    for k, v in rows:
        summary.add_row(k, v)
    out.print(summary)
    if md["heavy_not_counted"]:
        out.print(f"[yellow]MACs are a lower bound: {', '.join(md['heavy_not_counted'])} not counted[/yellow]")

    tpu = info["edgetpu"]
    if tpu["compiled"]:
        cpu = tpu["cpu_op_counts"]
        text = ", ".join(f"{k} x{v}" for k, v in cpu.items()) if cpu else "none (everything runs on the Edge TPU)"
        out.print(
            f"[bold cyan]Edge TPU compiled model[/bold cyan]: {tpu['tpu_segments']} edgetpu-custom-op segment(s), "
            f"{human_bytes(tpu['tpu_executable_bytes'])} compiled; ops left on the CPU: {text}"
        )

    for sg in info["subgraphs"]:
        title = f"subgraph {sg['index']}" + (f" ({sg['name']})" if sg["name"] else "")
        io = Table(title=f"{title}: inputs and outputs", title_justify="left")
        for col in ("", "name", "shape", "signature", "dtype", "quantization"):
            io.add_column(col)
        for kind, items in (("in", sg["inputs"]), ("out", sg["outputs"])):
            for t in items:
                io.add_row(kind, t["name"], _shape(t["shape"]), _shape(t["shape_signature"]), t["dtype"], _quant(t["quantization"]))
        out.print(io)
        ops = Table(title=f"{title}: operators", title_justify="left")
        for col, just in (("#", "right"), ("op", "left"), ("ver", "right"), ("inputs", "left"), ("outputs", "left"), ("MACs", "right")):
            ops.add_column(col, justify=just)
        for op in sg["operators"]:
            name = op["name"] + (" [custom]" if op["custom"] else "")
            ins = " ".join(_shape(s) for s in op["input_shapes"])
            outs = " ".join(_shape(s) for s in op["output_shapes"])
            ops.add_row(str(op["index"]), name, str(op["version"]), ins, outs, _macs(op["macs"]))
        out.print(ops)
        if tensors:
            tt = Table(title=f"{title}: tensors", title_justify="left")
            for col in ("#", "name", "shape", "signature", "dtype", "const", "quantization"):
                tt.add_column(col)
            for t in sg["tensors"]:
                tt.add_row(
                    str(t["index"]), t["name"], _shape(t["shape"]), _shape(t["shape_signature"]), t["dtype"],
                    human_bytes(t["data_bytes"]) if t["constant"] else "", _quant(t["quantization"]),
                )
            out.print(tt)
    for sig in info["signatures"]:
        out.print(f"signature [bold]{sig['key']}[/bold] (subgraph {sig['subgraph_index']}): "
                  f"inputs {', '.join(sig['inputs'])}; outputs {', '.join(sig['outputs'])}")
    if info["metadata"]:
        out.print("metadata: " + ", ".join(
            f"{m['name']} ({human_bytes(m['size_bytes'])}{': ' + m['value'] if m['value'] else ''})" for m in info["metadata"]
        ))
