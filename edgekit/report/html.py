"""The HTML report: one file, CSS and SVG inline, no external fetches (air-gapped lab machines).

A ten-line inline script runs after layout and marks each plot with how many of its data points the
browser actually laid out (``data-rendered``); the headless-browser test reads that from the DOM.
The report reads the same without scripts.
"""

from __future__ import annotations

from html import escape

from edgekit import __version__
from edgekit.console import human_bytes, human_ms
from edgekit.report import ACCURACY_METRICS, FORMATS, Row, plots

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#111;max-width:1400px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.meta{color:#555;font-size:13px}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:right;vertical-align:top;white-space:nowrap}
.tablewrap{overflow-x:auto}
th{background:#f3f4f6;position:sticky;top:0} td.l,th.l{text-align:left}
td.wrap{white-space:normal;min-width:100px;max-width:200px;text-align:left}
td.name{white-space:normal;min-width:230px;max-width:320px;overflow-wrap:anywhere} .sub{color:#666;font-size:11px}
td.status-error{max-width:none}
tr.error td{background:#fff3f3} .status-ok{color:#137333;font-weight:600} .status-error{color:#b3261e;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:18px} .plots figure{margin:0;border:1px solid #e5e7eb;border-radius:6px;padding:6px}
figcaption{font-size:12px;color:#555;max-width:840px;padding:4px}
.note{background:#fffbea;border-left:4px solid #f0c000;padding:8px 12px;font-size:13px;margin:8px 0}
code{font-size:12px;background:#f3f4f6;padding:1px 4px;border-radius:3px}
"""

SCRIPT = """
(function(){
  var plots = document.querySelectorAll('svg[data-plot]'), ok = 0;
  plots.forEach(function(svg){
    var shown = 0;
    svg.querySelectorAll('.datum').forEach(function(d){
      var r = d.getBoundingClientRect(); if (r.width > 0 && r.height > 0) shown++;
    });
    svg.setAttribute('data-rendered', shown);
    if (shown > 0 && shown == +svg.getAttribute('data-points')) ok++;
  });
  document.body.setAttribute('data-plots-ok', ok + '/' + plots.length);
})();
"""


def _cell(value, cls: str = "") -> str:
    return f'<td class="{cls}">{escape(str(value))}</td>' if cls else f"<td>{escape(str(value))}</td>"


def _two(main: str, sub: str) -> str:
    """A cell with a second, smaller line: keeps the table narrow enough to read without scrolling."""
    return f'{escape(main)}<br><span class="sub">{escape(sub)}</span>' if sub else escape(main)


def _table(rows: list[Row]) -> str:
    head = [
        ("Artifact", "l"),
        ("Device", "l"),
        ("Runtime", "l"),
        ("Size<br>gzip", ""),
        ("p50", ""),
        ("p90", ""),
        ("p99", ""),
        ("Init<br>first inference", ""),
        ("Peak memory", ""),
        ("Accuracy drift", "l"),
        ("Delegates (nodes)", "l"),
        ("Status", "l"),
    ]
    out = ['<div class="tablewrap"><table id="summary"><thead><tr>']
    out += [f'<th class="{c}">{h}</th>' for h, c in head]
    out.append("</tr></thead><tbody>")
    for r in rows:
        name = r.target or r.artifact
        sub = " ".join(
            x for x in (r.format, r.artifact if r.target else "", r.short_sha, f"in {r.where}" if r.where else "") if x
        )
        device = r.device + (" (emulated)" if r.emulated else "")
        cells = [
            f'<td class="l name">{_two(name, sub)}</td>',
            _cell(device, "l"),
            _cell(r.runtime, "wrap"),
            f"<td>{_two(human_bytes(r.size_bytes), human_bytes(r.gzip_bytes) if r.gzip_bytes else '')}</td>",
        ]
        if r.status == "ok":
            cells += [
                _cell(human_ms(r.p50)),
                _cell(human_ms(r.p90)),
                _cell(human_ms(r.p99)),
                f"<td>{_two(human_ms(r.init_ms), human_ms(r.first_ms))}</td>",
                _cell(human_bytes(r.peak_rss)),
                _cell(r.accuracy_text() or "not measured", "wrap"),
                _cell(r.delegates, "wrap"),
                '<td class="l status-ok">ok</td>',
            ]
        else:
            # The error spans the measurement columns, so the message is readable, not squeezed.
            cells.append(f'<td colspan="8" class="wrap status-error">error: {escape(r.error or "")}</td>')
        out.append(f'<tr class="{"ok" if r.status == "ok" else "error"}" data-status="{escape(r.status)}">{"".join(cells)}</tr>')
    out.append("</tbody></table></div>")
    return "".join(out)


def accuracy_metric(rows: list[Row]) -> tuple[str, str] | None:
    """The accuracy metric most rows share, preferring the ones users read first."""
    for key, label, _, _ in ACCURACY_METRICS:
        if key == "accuracy_drop":
            continue  # plot accuracy itself; the drop is in the table
        if sum(1 for r in rows if key in r.accuracy) >= 1:
            return key, label
    return None


def plot_figures(rows: list[Row]) -> tuple[list[str], list[str]]:
    """(figures, notes): every plot that has data, and a sentence for each that has none."""
    ok = [r for r in rows if r.status == "ok"]
    figs, notes = [], []
    dist = plots.latency_distribution([(r.label, r.samples) for r in ok])
    if dist:
        figs.append(
            f"<figure>{dist}<figcaption>Each dot is one timed run (up to 200 evenly spaced quantiles per artifact); "
            "box p25-p75, whiskers p1-p99, black tick the median.</figcaption></figure>"
        )
    size = plots.scatter(
        "latency-vs-size",
        "Latency (p50) against file size",
        [(r.label, (r.size_bytes or 0) / 2**20 or None, r.p50) for r in ok],
        "file size (MiB)",
        "p50 latency (ms)",
    )
    if size:
        figs.append(f"<figure>{size}<figcaption>Lower left is smaller and faster.</figcaption></figure>")
    depth = plots.error_by_depth([(r.label, r.quant_by_depth) for r in ok if r.quant_by_depth])
    if depth:
        figs.append(
            f"<figure>{depth}<figcaption>Each dot is one quantized layer from <code>edgekit build --explain</code>: "
            "the SNR of its output against the float op on the same inputs (the error it adds); a dip marks "
            "the layer to keep at higher precision (<code>tflite-int8-mixed</code>).</figcaption></figure>"
        )
    metric = accuracy_metric(ok)
    if metric:
        key, label = metric
        pts = [(r.label, r.p50, r.accuracy[key]) for r in ok if key in r.accuracy]
        acc = plots.scatter("accuracy-vs-latency", f"{label.capitalize()} against latency (p50)", pts, "p50 latency (ms)", label)
        figs.append(
            f"<figure>{acc}<figcaption>{label.capitalize()} from the build manifest's drift check against the float model; "
            f"{len(pts)} of {len(ok)} results have it.</figcaption></figure>"
        )
    elif ok:
        notes.append(
            "No accuracy plot: none of these results carries an accuracy block. Accuracy drift comes from "
            "<code>edgekit build</code> (its manifest entry is attached when the benchmarked file sits in the build's "
            "output directory); models edgekit did not build have none."
        )
    return figs, notes


def render(results: list[dict], rows: list[Row], title: str) -> str:
    figs, notes = plot_figures(rows)
    devices = sorted({r.device for r in rows})
    errors = sum(1 for r in rows if r.status != "ok")
    created = sorted(str(r.get("created", "")) for r in results)
    for r in rows:
        if r.emulated:
            notes.append(
                f"{escape(r.label)} ran on an emulated device: its timings show that it runs, not how fast real hardware is."
            )
        if r.status == "ok" and not r.samples:
            notes.append(
                f"{escape(r.label)}: aggregates only (its runner keeps no per-run samples), so it is not in the distribution plot."
            )
        if r.cv and r.cv > 0.10:
            notes.append(f"{escape(r.label)}: the spread is wide (CV {r.cv:.0%}); the machine may have been busy.")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{len(rows)} result{"s" if len(rows) != 1 else ""} ({errors} failed) on '
        f"{escape(', '.join(devices))}; measured {escape(created[0][:19])} to {escape(created[-1][:19])}; "
        f"report by edgekit {escape(__version__)}.</p>",
        "<h2>Summary</h2>",
        _table(rows),
        "<h2>Plots</h2>",
        f'<div class="plots">{"".join(figs)}</div>' if figs else '<p class="note">No successful results to plot.</p>',
    ]
    if notes:
        parts.append("<h2>Notes</h2>" + "".join(f'<p class="note">{n}</p>' for n in notes))
    parts.append(f"<script>{SCRIPT}</script></body></html>\n")
    return "\n".join(parts)


FORMATS.register("html", render)
