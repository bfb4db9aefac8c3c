"""Plots as inline SVG strings, hand-written: no plotting library, no scripts, no network.

The report is opened on air-gapped lab machines, so every plot is plain SVG inside the HTML.
Each data point is an element with class ``datum`` and data-* attributes (the values it shows), so
a browser test can count what rendered and a reader can hover it for a tooltip (``<title>``).
Latencies spanning more than a decade use a log axis; otherwise linear from zero-ish.
"""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:11px"


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


class Scale:
    """Maps data values to pixels on [lo_px, hi_px]; log10 when the data span a wide range."""

    def __init__(self, values: Sequence[float], lo_px: float, hi_px: float, log: bool | None = None, zero: bool = False):
        vals = [v for v in values if v is not None and v == v and math.isfinite(v)]
        vmin, vmax = (min(vals), max(vals)) if vals else (0.0, 1.0)
        if log is None:
            log = vmin > 0 and vmax / vmin > 10
        self.log = log and vmin > 0
        if self.log:
            lo, hi = math.log10(vmin), math.log10(vmax)
            pad = (hi - lo) * 0.07  # so the extreme points are not drawn on the axes
            self.lo, self.hi = lo - pad, hi + pad
        else:
            lo = 0.0 if zero and vmin >= 0 else vmin
            pad = (vmax - lo) * 0.08 or abs(vmax) * 0.1 or 1.0
            self.lo, self.hi = (lo if zero and vmin >= 0 else lo - pad), vmax + pad
        if self.hi <= self.lo:
            self.hi = self.lo + 1
        self.lo_px, self.hi_px = lo_px, hi_px

    def __call__(self, v: float) -> float:
        x = math.log10(v) if self.log else v
        return self.lo_px + (x - self.lo) / (self.hi - self.lo) * (self.hi_px - self.lo_px)

    def ticks(self, count: int = 5) -> list[float]:
        if self.log:
            out = []
            for e in range(math.floor(self.lo), math.ceil(self.hi) + 1):
                for m in (1, 2, 5):
                    v = m * 10.0**e
                    if self.lo <= math.log10(v) <= self.hi:
                        out.append(v)
            return out
        step = _nice((self.hi - self.lo) / count)
        start = math.ceil(self.lo / step) * step
        out, v = [], start
        while v <= self.hi + 1e-12:
            out.append(round(v, 12))
            v += step
        return out


def _nice(x: float) -> float:
    e = math.floor(math.log10(x))
    f = x / 10**e
    return (1 if f < 1.5 else 2 if f < 3.5 else 5 if f < 7.5 else 10) * 10**e


def fmt_num(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.3g}"
    return f"{v:.2g}"


def _frame(name: str, title: str, width: int, height: int, body: list[str], n: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="{name}" data-points="{n}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" style="{FONT}">'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>'
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="600">{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _x_axis(sx: Scale, y: float, label: str, top: float) -> list[str]:
    out = [f'<line x1="{sx.lo_px}" y1="{y}" x2="{sx.hi_px}" y2="{y}" stroke="#333"/>']
    for t in sx.ticks():
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{y}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{y + 14}" text-anchor="middle" fill="#333">{fmt_num(t)}</text>')
    out.append(
        f'<text x="{(sx.lo_px + sx.hi_px) / 2}" y="{y + 30}" text-anchor="middle" fill="#111">{escape(label)}{" (log scale)" if sx.log else ""}</text>'
    )
    return out


def _y_axis(sy: Scale, x: float, label: str, right: float) -> list[str]:
    out = [f'<line x1="{x}" y1="{sy.lo_px}" x2="{x}" y2="{sy.hi_px}" stroke="#333"/>']
    for t in sy.ticks():
        y = sy(t)
        out.append(f'<line x1="{x}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x - 5}" y="{y + 4:.1f}" text-anchor="end" fill="#333">{fmt_num(t)}</text>')
    mid = (sy.lo_px + sy.hi_px) / 2
    out.append(
        f'<text x="14" y="{mid}" text-anchor="middle" transform="rotate(-90 14 {mid})" fill="#111">'
        f"{escape(label)}{' (log)' if sy.log else ''}</text>"
    )
    return out


def _quantiles(samples: Sequence[float], k: int) -> list[float]:
    """k evenly spaced order statistics: the distribution's shape in a bounded number of points."""
    s = sorted(samples)
    if len(s) <= k:
        return s
    return [s[round(i * (len(s) - 1) / (k - 1))] for i in range(k)]


def latency_distribution(series: Sequence[tuple[str, Sequence[float]]], width: int = 860) -> str | None:
    """Per artifact: every run's latency as a strip of dots (up to 200 quantiles), a box from p25
    to p75, whiskers to p1/p99 and a bold p50 tick. Answers "how spread, how many outliers"."""
    series = [(label, s) for label, s in series if s]
    if not series:
        return None
    row_h, left, right, top = 34, 250, width - 20, 30
    height = top + row_h * len(series) + 50
    allv = [v for _, s in series for v in s if v > 0]
    sx = Scale(allv, left, right, zero=True)
    bottom = top + row_h * len(series)
    body = _x_axis(sx, bottom, "latency per run (ms)", top)
    n = 0
    for i, (label, samples) in enumerate(series):
        cy = top + row_h * i + row_h / 2
        c = color(i)
        qs = _quantiles(samples, 200)
        s = sorted(samples)

        def pct(q: float) -> float:
            pos = (len(s) - 1) * q
            lo = math.floor(pos)
            hi = min(lo + 1, len(s) - 1)
            return s[lo] + (s[hi] - s[lo]) * (pos - lo)

        p1, p25, p50, p75, p99 = (pct(q) for q in (0.01, 0.25, 0.5, 0.75, 0.99))
        body.append(f'<text x="{left - 8}" y="{cy + 4:.1f}" text-anchor="end" fill="#111">{escape(_short(label, 40))}</text>')
        body.append(f'<line x1="{sx(p1):.1f}" y1="{cy}" x2="{sx(p99):.1f}" y2="{cy}" stroke="{c}" stroke-width="1"/>')
        body.append(
            f'<rect x="{sx(p25):.1f}" y="{cy - 9}" width="{max(1.0, sx(p75) - sx(p25)):.1f}" height="18" '
            f'fill="{c}" fill-opacity="0.18" stroke="{c}"/>'
        )
        for j, v in enumerate(qs):
            jitter = ((j * 7919) % 13 - 6) * 0.9  # deterministic jitter so overlapping dots show
            body.append(
                f'<circle class="datum" cx="{sx(max(v, 1e-9)):.1f}" cy="{cy + jitter:.1f}" r="1.6" fill="{c}" '
                f'fill-opacity="0.55" data-series="{escape(label)}" data-x="{v:.6g}"/>'
            )
            n += 1
        body.append(
            f'<line class="median" x1="{sx(p50):.1f}" y1="{cy - 11}" x2="{sx(p50):.1f}" y2="{cy + 11}" stroke="#000" stroke-width="2.5">'
            f"<title>{escape(label)}: p50 {p50:.4g} ms, p99 {p99:.4g} ms, {len(s)} runs</title></line>"
        )
    return _frame("latency-distribution", "Latency distribution per artifact", width, height, body, n)


def scatter(
    name: str,
    title: str,
    points: Sequence[tuple[str, float, float]],
    x_label: str,
    y_label: str,
    width: int = 560,
    height: int = 380,
    y_zero: bool = False,
) -> str | None:
    """Labelled scatter of (label, x, y); one colour per point, labels beside the dots."""
    points = [(l, x, y) for l, x, y in points if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    if not points:
        return None
    left, right, top, bottom = 64, width - 24, 30, height - 48
    sx = Scale([p[1] for p in points], left, right, zero=True)
    sy = Scale([p[2] for p in points], bottom, top, zero=y_zero)
    body = _x_axis(sx, bottom, x_label, top) + _y_axis(sy, left, y_label, right)
    for i, (label, x, y) in enumerate(points):
        px, py = sx(x), sy(y)
        anchor = "end" if px > (left + right) / 2 else "start"
        dx = -8 if anchor == "end" else 8
        body.append(
            f'<circle class="datum" cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{color(i)}" stroke="#000" stroke-width="0.6" '
            f'data-series="{escape(label)}" data-x="{x:.6g}" data-y="{y:.6g}"><title>{escape(label)}: {x:.4g}, {y:.4g}</title></circle>'
        )
        body.append(
            f'<text x="{px + dx:.1f}" y="{py - 7:.1f}" text-anchor="{anchor}" fill="{color(i)}">{escape(_short(label, 34))}</text>'
        )
    return _frame(name, title, width, height, body, len(points))


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def error_by_depth(
    series: Sequence[tuple[str, Sequence[tuple[float, float, str]]]], width: int = 860, height: int = 340
) -> str | None:
    """Per-layer quantization SNR (dB, higher is better) against layer depth, one line per artifact;
    each dot names its layer, so the layer where the error enters is readable off the plot."""
    series = [(label, [(float(d), float(v), str(n)) for d, v, n in pts if math.isfinite(float(v))]) for label, pts in series]
    series = [(label, pts) for label, pts in series if pts]
    if not series:
        return None
    left, right, top, bottom = 64, width - 24, 30, height - 48
    sx = Scale([p[0] for _, pts in series for p in pts], left, right, log=False, zero=True)
    sy = Scale([p[1] for _, pts in series for p in pts], bottom, top, log=False, zero=True)
    body = _x_axis(sx, bottom, "layer depth (execution order)", top) + _y_axis(
        sy, left, "SNR dB (worst of tensor, per channel)", right
    )
    for i, (label, pts) in enumerate(series):
        pts = sorted(pts)
        path = " ".join(f"{sx(d):.1f},{sy(v):.1f}" for d, v, _ in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color(i)}" stroke-width="1.5"/>')
        for d, v, name in pts:
            body.append(
                f'<circle class="datum" cx="{sx(d):.1f}" cy="{sy(v):.1f}" r="3.5" fill="{color(i)}" '
                f'data-series="{escape(label)}" data-x="{d:.6g}" data-y="{v:.6g}">'
                f"<title>{escape(label)}: {escape(name)} (depth {d:g}): {v:.1f} dB</title></circle>"
            )
    return _frame("error-by-depth", "Quantization error by layer depth", width, height, body, len(series))
