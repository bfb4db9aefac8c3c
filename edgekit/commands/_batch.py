"""The end of a multi-model ``edgekit bench``: one comparison table and hyperfine's ratios.

A batch measures every artifact it was given; an artifact that fails becomes a row with its
one-line reason instead of ending the batch. This module holds what is computed from the rows
(ratios, their spread, the exit status) and how they are shown, so bench.py keeps only the loop.

The ratio is p50 over the fastest p50 (the figure bench reports first). Its ± is the run-to-run
spread propagated as hyperfine does, ``r * sqrt((s1/m1)^2 + (s2/m2)^2)``, with a robust s per
artifact (1.4826 x the median absolute deviation of its samples, which equals the standard
deviation for normal data and ignores the rare long stalls that dominate a latency std); it says
how much single runs vary, not how certain the ratio is. Results without raw samples (native
device tools) fall back to their std.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from edgekit.errors import EXIT_ENV, EXIT_FAILED, EXIT_OK, EXIT_USAGE, EdgekitError


@dataclass
class Row:
    """One artifact of a batch: its result when it was measured, else the error that stopped it."""

    path: str
    result: dict | None = None
    error: EdgekitError | None = None
    label: str = field(default="")

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.get("status") == "ok"

    @property
    def p50(self) -> float | None:
        return ((self.result or {}).get("latency_ms") or {}).get("p50") if self.ok else None


def labels(paths: list[str]) -> list[str]:
    """Names to show: the file name, or more of the path where two files share a name (two
    different models called model.tflite must never read as one)."""
    names = [os.path.basename(p) for p in paths]
    out = []
    for p, n in zip(paths, names):
        if names.count(n) > 1:
            rel = os.path.relpath(p)
            out.append(rel if not rel.startswith(".." + os.sep + "..") else os.path.abspath(p))
        else:
            out.append(n)
    return out


def robust_sigma(result: dict) -> float | None:
    """1.4826 x MAD of the raw samples; the std when a result has no samples."""
    samples = result.get("samples_ms") or []
    if len(samples) >= 2:
        s = sorted(samples)
        med = _median(s)
        return 1.4826 * _median(sorted(abs(x - med) for x in s))
    return (result.get("latency_ms") or {}).get("std")


def _median(sorted_values: list[float]) -> float:
    n = len(sorted_values)
    mid = n // 2
    return sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2


def ratio(slow: dict, fast: dict) -> tuple[float, float | None]:
    """(p50 ratio slow/fast, its propagated spread or None when a spread is unknown)."""
    m1, m2 = slow["latency_ms"]["p50"], fast["latency_ms"]["p50"]
    if not m2:
        return math.inf, None
    r = m1 / m2
    s1, s2 = robust_sigma(slow), robust_sigma(fast)
    if s1 is None or s2 is None or not m1 or not m2:
        return r, None
    return r, r * math.sqrt((s1 / m1) ** 2 + (s2 / m2) ** 2)


def ordered(rows: list[Row]) -> list[Row]:
    """Measured rows by p50 (fastest first), then the failed ones in the order given."""
    good = sorted((r for r in rows if r.ok), key=lambda r: r.p50)
    return good + [r for r in rows if not r.ok]


def exit_status(rows: list[Row]) -> int:
    """0 when every artifact was measured; 1 when any failed. When every artifact failed for the
    same kind of reason, that reason's own status (2 bad input such as a file that is not a
    model, 3 a runtime missing here), so a one-model bench keeps the status of its error."""
    failed = [r for r in rows if not r.ok]
    if not failed:
        return EXIT_OK
    if len(failed) == len(rows):
        codes = {r.error.exit_code if r.error is not None else EXIT_FAILED for r in failed}
        if len(codes) == 1 and codes & {EXIT_USAGE, EXIT_ENV}:
            return codes.pop()
    return EXIT_FAILED


def summary_lines(rows: list[Row]) -> list[str]:
    """hyperfine's closing lines: 'b ran 1.84 ± 0.05 times faster than a', one per slower model."""
    good = [r for r in ordered(rows) if r.ok]
    if len(good) < 2:
        return []
    fast = good[0]
    lines = []
    for row in good[1:]:
        r, s = ratio(row.result, fast.result)
        spread = f" ± {s:.2f}" if s is not None else ""
        lines.append(f"{fast.label} ran {r:.2f}{spread} times faster than {row.label}")
    return lines


def print_table(rows: list[Row]) -> None:
    """One table for the batch, sorted by p50, failures last with their reason."""
    from rich.table import Table
    from rich.text import Text

    from edgekit.console import console, human_ms

    out = console()
    table = Table(title="Summary (sorted by p50)", title_justify="left")
    for col in ("model", "format", "p50", "p90", "runs", "vs fastest", "status"):
        table.add_column(col, justify="right" if col in ("p50", "p90", "runs", "vs fastest") else "left", overflow="fold")
    good = [r for r in rows if r.ok]
    fastest = min(good, key=lambda r: r.p50) if good else None
    for row in ordered(rows):
        fmt = ((row.result or {}).get("artifact") or {}).get("format") or "-"
        if row.ok:
            lat = row.result["latency_ms"]
            r, s = ratio(row.result, fastest.result)
            rel = "1.00" if row is fastest else (f"{r:.2f} ± {s:.2f}" if s is not None else f"{r:.2f}")
            table.add_row(
                Text(row.label),
                Text(fmt),
                human_ms(lat.get("p50")),
                human_ms(lat.get("p90")),
                str(lat.get("n", "-")),
                rel,
                Text("ok", style="green"),
            )
        else:
            # The message only: the whole line with its hint was printed when the model failed.
            reason = row.error.message if row.error else "failed"
            for spelled in (os.path.abspath(row.path), row.path):  # the row already names the file
                reason = reason.replace(spelled, row.label)
            table.add_row(Text(row.label), Text(fmt), "-", "-", "-", "-", Text(f"failed: {reason}", style="red"))
    out.print(table)
    for line in summary_lines(rows):
        out.print(Text("  " + line))
    failed = [r for r in rows if not r.ok]
    if failed:
        out.print(Text(f"  {len(failed)} of {len(rows)} failed: " + ", ".join(r.label for r in failed), style="red"))
