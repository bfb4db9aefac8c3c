"""The Markdown report: the summary table and notes, for pull requests and CI job summaries
(e.g. ``edgekit report results.json --format md >> "$GITHUB_STEP_SUMMARY"``). Plots need the HTML
report; Markdown gets a per-artifact text line instead."""

from __future__ import annotations

import html
import re

from edgekit import __version__
from edgekit.console import human_bytes, human_ms
from edgekit.report import FORMATS, Row


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Characters with a meaning inside a line of (GitHub-flavoured) Markdown: emphasis, code, links,
# strike-through, and '|', which ends a table cell. (Line-start syntax like '#' or '-' cannot
# occur: every string goes into a table cell or after a fixed prefix.)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md(text) -> str:
    """A string from a file name, model or device as literal Markdown table text: HTML escaped
    (GitHub renders raw tags; a file named '<img src=x onerror=...>' must stay text), Markdown
    punctuation backslash-escaped, line breaks and control characters made visible."""
    s = _CONTROL.sub(lambda m: " " if m.group() in "\n\r\t" else f"\\x{ord(m.group()):02x}", str(text))
    s = html.escape(s, quote=False)  # & < > as entities first; escaping '&' below would break them
    return _MD_SPECIAL.sub(r"\\\1", s)


def render(results: list[dict], rows: list[Row], title: str) -> str:
    out = [f"## {_md(title)}", ""]
    errors = sum(1 for r in rows if r.status != "ok")
    out.append(f"{len(rows)} result{'s' if len(rows) != 1 else ''} ({errors} failed), edgekit {__version__}.")
    out.append("")
    out.append(
        "| Artifact | Format | Device | Size | gzip | p50 | p90 | p99 | Init | Peak memory | Accuracy drift | Delegates | Status |"
    )
    out.append("|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|---|")
    for r in rows:
        name = r.artifact if not r.target else f"{r.target} ({r.artifact})"
        ident = f" `{r.short_sha}`" if r.short_sha else ""
        where = f" in {_md(r.where)}" if r.where else ""
        device = r.device + (" (emulated)" if r.emulated else "")
        head = [
            _md(name) + ident + where,
            _md(r.format or "-"),
            _md(device),
            human_bytes(r.size_bytes),
            human_bytes(r.gzip_bytes),
        ]
        if r.status == "ok":
            tail = [
                human_ms(r.p50),
                human_ms(r.p90),
                human_ms(r.p99),
                human_ms(r.init_ms),
                human_bytes(r.peak_rss),
                _md(r.accuracy_text() or "not measured"),
                _md(r.delegates),
                "ok",
            ]
        else:
            tail = ["-"] * 7 + [f"**error**: {_md(r.error or '')}"]
        out.append("| " + " | ".join(head + tail) + " |")
    notes = []
    for r in rows:
        if r.status == "ok" and r.cv and r.cv > 0.10:
            notes.append(f"- {_md(r.label)}: wide spread (CV {r.cv:.0%}, {r.n} runs); the machine may have been busy.")
        if r.emulated:
            notes.append(f"- {_md(r.label)}: emulated device; timings show it runs, not how fast real hardware is.")
    if not any(r.accuracy for r in rows if r.status == "ok"):
        notes.append("- No accuracy in these results (accuracy drift comes from `edgekit build`'s manifest).")
    notes.append("- Plots: `edgekit report RESULTS -o report.html`.")
    out += ["", *notes, ""]
    return "\n".join(out)


FORMATS.register("md", render)
