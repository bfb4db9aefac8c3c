"""Reports from result documents: one self-contained HTML file for people, Markdown for PRs and CI.

Everything a report shows comes from the result documents (schema ``edgekit.result``) alone, so a
report can be made on any machine from result files copied off a lab bench. The row model here is
shared by every output format; formats register in FORMATS (html, md) so a new one is one module.
Results are keyed on their fields (format, device, target), never on particular target names, so
new targets and devices appear without changes here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from edgekit.errors import EdgekitError
from edgekit.registry import Registry

# Renderers by format name: fn(results, rows, title) -> str
FORMATS: Registry[Callable[..., str]] = Registry(
    "report format", {"html": "edgekit.report.html", "md": "edgekit.report.markdown"}
)
SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}

# Accuracy metrics in the order a one-number summary prefers them, with how to show them.
# (key, label, higher_is_better, formatter)
ACCURACY_METRICS = (
    ("accuracy_drop", "accuracy drop", False, lambda v: f"{v:+.2f} pt"),
    ("accuracy", "accuracy", True, lambda v: f"{v:.2f}%"),
    ("top1_agreement", "top-1 agreement", True, lambda v: f"{v:.1%}"),
    ("cosine", "cosine", True, lambda v: f"{v:.4f}"),
    ("snr_db", "SNR", True, lambda v: f"{v:.1f} dB"),
    ("max_abs_error", "max abs error", False, lambda v: f"{v:.3g}"),
)


@dataclass
class Row:
    """One line of the summary table: one result (artifact x device)."""

    artifact: str
    target: str | None
    path: str | None
    format: str | None
    sha256: str | None
    device: str
    emulated: bool
    runtime: str
    status: str
    error: str | None = None
    size_bytes: int | None = None
    gzip_bytes: int | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    cv: float | None = None
    n: int | None = None
    init_ms: float | None = None
    first_ms: float | None = None
    peak_rss: int | None = None
    delegates: str = ""
    delegate_share: float | None = None  # share of nodes taken by the delegates, 0..1
    accuracy: dict = field(default_factory=dict)  # metric key -> value (numbers only)
    accuracy_samples: int | None = None  # held-out samples the drift figures rest on
    accuracy_warning: str | None = None  # the build's drift warning (large drift, few samples)
    samples: list = field(default_factory=list)
    quant_by_depth: list = field(default_factory=list)  # [[depth, worst SNR dB, layer]] from build --explain
    where: str = ""  # set by disambiguate(): the directory, when another row has the same name

    @property
    def short_sha(self) -> str:
        return (self.sha256 or "")[:8]

    @property
    def label(self) -> str:
        base = self.target or self.artifact
        if self.where:
            base += f" [{self.short_sha or self.where}]"
        return base if self.device == "host" else f"{base} @ {self.device}"

    def accuracy_text(self) -> str:
        parts = []
        for key, label, _, fmt in ACCURACY_METRICS:
            if key in self.accuracy:
                parts.append(f"{label} {fmt(self.accuracy[key])}")
            if len(parts) == 2:
                break
        text = ", ".join(parts)
        if text and self.accuracy_samples is not None:
            text += f" (n={self.accuracy_samples})"
        if text and self.accuracy_warning:
            text += f"; warning: {self.accuracy_warning}"
        return text


def _delegates(result: dict) -> tuple[str, float | None]:
    parts, share = [], None
    for d in result.get("delegates") or []:
        nodes, total = d.get("nodes"), d.get("total_nodes")
        text = str(d.get("name", "?"))
        if isinstance(nodes, int) and isinstance(total, int) and total:
            text += f" {nodes}/{total}"
            share = max(share or 0.0, nodes / total)
        left = d.get("not_delegated") or {}
        if left:
            text += " (CPU: " + ", ".join(sorted(left)) + ")"
        parts.append(text)
    return "; ".join(parts) or "none", share


def _accuracy(result: dict) -> dict:
    acc = result.get("accuracy") or {}
    return {
        k: float(v)
        for k, _, _, _ in ACCURACY_METRICS
        if isinstance((v := acc.get(k)), (int, float)) and not isinstance(v, bool) and v == v
    }


def row_for(result: dict) -> Row:
    art, dev, rt = result.get("artifact") or {}, result.get("device") or {}, result.get("runtime") or {}
    runtime = " ".join(str(x) for x in (rt.get("name"), rt.get("version")) if x) or "-"
    if rt.get("threads"):
        runtime += f", {rt['threads']} threads"
    row = Row(
        artifact=art.get("name") or os.path.basename(str(art.get("path", "?"))),
        target=art.get("target"),
        path=art.get("path"),
        format=art.get("format"),
        sha256=art.get("sha256"),
        device=dev.get("name") or "?",
        emulated=bool(dev.get("emulated")),
        runtime=runtime,
        status=result.get("status", "?"),
        size_bytes=art.get("size_bytes"),
        gzip_bytes=art.get("gzip_bytes"),
    )
    if row.status != "ok":
        err = result.get("error") or {}
        row.error = "; ".join(x for x in (err.get("message"), err.get("hint")) if x) or "failed"
        return row
    lat = result.get("latency_ms") or {}
    row.p50, row.p90, row.p99, row.cv, row.n = lat.get("p50"), lat.get("p90"), lat.get("p99"), lat.get("cv"), lat.get("n")
    row.init_ms, row.first_ms = result.get("init_ms"), result.get("first_inference_ms")
    row.peak_rss = (result.get("memory") or {}).get("peak_rss_bytes")
    row.delegates, row.delegate_share = _delegates(result)
    row.accuracy = _accuracy(result)
    acc = result.get("accuracy") or {}
    if isinstance(acc.get("samples"), int) and row.accuracy:
        row.accuracy_samples = acc["samples"]
    sanity = acc.get("sanity") if isinstance(acc.get("sanity"), dict) else {}
    notes = (list(sanity.get("reasons") or []) if sanity.get("verdict") == "warn" else []) + list(
        acc.get("sample_warnings") or []
    )
    row.accuracy_warning = "; ".join(str(n) for n in notes) or None
    row.samples = list(result.get("samples_ms") or [])
    qr = result.get("quantization_report") if isinstance(result.get("quantization_report"), dict) else {}
    row.quant_by_depth = [p for p in (qr.get("by_depth") or []) if isinstance(p, list) and len(p) == 3]
    return row


def load_results(paths: list[str]) -> list[dict]:
    """Every result in the given files (a file may hold one result or a list)."""
    from edgekit.results.schema import SchemaError, load_many

    results = []
    for path in paths:
        if os.path.isdir(path):
            raise EdgekitError(f"{path} is a directory", "pass result JSON files written by 'edgekit bench -o'")
        try:
            results += load_many(path)
        except OSError as exc:
            raise EdgekitError(f"cannot read {path} ({exc.strerror})", "check the result file path") from None
        except (ValueError, SchemaError) as exc:
            raise EdgekitError(f"{path}: {exc}", "pass result JSON files written by 'edgekit bench -o'") from None
    if not results:
        raise EdgekitError("no results to report", "pass result JSON files written by 'edgekit bench -o'")
    return results


def disambiguate(rows: list[Row]) -> list[Row]:
    """Rows whose name another row shares, with another file or build behind it, get their
    directory (``where``) and a sha256 prefix in their label: two same-named models are never
    shown as one."""
    by_name: dict[str, set] = {}
    for r in rows:
        by_name.setdefault(r.target or r.artifact, set()).add((r.path, r.sha256))
    for r in rows:
        if len(by_name[r.target or r.artifact]) > 1:
            r.where = os.path.dirname(r.path or "") or "?"
    return rows


def render(results: list[dict], fmt: str = "html", title: str = "edgekit benchmark report") -> str:
    """The report as text in ``fmt`` (a FORMATS name)."""
    renderer = FORMATS.get(fmt)
    return renderer(results, disambiguate([row_for(r) for r in results]), title)


def format_for(output: str | None, fmt: str | None) -> str:
    """The format from --format, else from -o's suffix, else Markdown to stdout. A suffix that is
    no report format (``x.pdf``) is an error, not an HTML file under a misleading name; so is a
    --format that contradicts a known suffix."""
    suffix = os.path.splitext(output)[1].lower() if output else ""
    known = ", ".join(sorted(SUFFIX_FORMATS))
    if fmt:
        if suffix in SUFFIX_FORMATS and SUFFIX_FORMATS[suffix] != fmt:
            raise EdgekitError(
                f"-o {output} names a {SUFFIX_FORMATS[suffix]} file but --format is {fmt}",
                f"drop one of them, or name the file with a suffix of {fmt}",
            )
        return fmt
    if output:
        if suffix not in SUFFIX_FORMATS:
            raise EdgekitError(
                f"cannot tell the report format from {output!r} (edgekit writes html or md, not {suffix or 'a file without a suffix'})",
                f"name it with one of {known}, or pass --format html|md",
            )
        return SUFFIX_FORMATS[suffix]
    return "md"
