"""edgekit report: content of the HTML/Markdown reports from real runs, and rendering in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgekit.report import render
from tests.conftest import ROOT, assert_one_line_error, run_cli
from tests.report.conftest import REPORT_MODELS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
SCREENSHOT_DIR = ROOT / "out" / "test-artifacts"


@pytest.fixture(scope="session")
def error_result(coral_models, history_dir):
    """A real error result: the negative-test model with an unregistered custom op."""
    from edgekit import api

    r = api.bench(str(coral_models / "model_invoking_error.tflite"), raise_on_error=False, min_time_s=0.0, min_runs=1)
    assert r["status"] == "error"
    path = history_dir / "error.json"
    path.write_text(json.dumps(r))
    return path


@pytest.fixture(scope="session")
def with_accuracy(report_results, history_dir):
    """The real results with the accuracy block a build manifest would attach (edgekit.build.accuracy keys)."""
    results = json.loads(report_results.read_text())
    for r, (cos, top1) in zip(results, ((0.999, 1.0), (0.995, 0.98), (0.97, 0.91))):
        r["accuracy"] = {"cosine": cos, "top1_agreement": top1, "snr_db": 30.0, "max_abs_error": 0.01}
    path = history_dir / "with_accuracy.json"
    path.write_text(json.dumps(results))
    return path


def test_html_is_self_contained_with_table_and_plots(report_results, error_result, tmp_path):
    out = tmp_path / "report.html"
    proc = run_cli("report", report_results, error_result, "-o", out)
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    # Nothing the browser would fetch: no src/href/link/@import/url(), no http(s) except the SVG namespace.
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|\bhref=|@import|url\(", html)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}
    rows = re.findall(r'<tr class="(ok|error)"', html)
    assert rows == ["ok", "ok", "ok", "error"]
    for m in REPORT_MODELS:
        assert m in html
    assert "fake-op-double" in html and "status-error" in html
    assert 'data-plot="latency-distribution"' in html and 'data-plot="latency-vs-size"' in html
    assert 'data-plot="accuracy-vs-latency"' not in html and "No accuracy plot" in html
    for col in ("Size", "gzip", "p50", "p90", "p99", "Init", "Peak memory", "Accuracy drift", "Delegates", "Status"):
        assert col in html
    # Every real sample set is drawn (up to 200 quantiles each) and the size plot has 3 points.
    n_dots = sum(min(200, len(r["samples_ms"])) for r in json.loads(report_results.read_text()))
    assert f'data-plot="latency-distribution" data-points="{n_dots}"' in html
    assert 'data-plot="latency-vs-size" data-points="3"' in html


def test_markdown_report(report_results, error_result):
    proc = run_cli("report", report_results, error_result, "--format", "md")
    assert proc.returncode == 0, proc.stderr
    md = proc.stdout
    table = [l for l in md.splitlines() if l.startswith("| ")]
    assert len(table) == 1 + 4  # header + 4 results
    assert "XNNPACK" in md and "**error**" in md and "fake-op-double" in md
    assert "No accuracy in these results" in md


def test_accuracy_plot_when_results_carry_accuracy(with_accuracy):
    results = json.loads(with_accuracy.read_text())
    html = render(results, "html")
    assert 'data-plot="accuracy-vs-latency" data-points="3"' in html
    assert "cosine 0.9990" in html or "top-1 agreement 100.0%" in html
    md = render(results, "md")
    assert "top-1 agreement 91.0%" in md


def test_report_errors_are_one_line(tmp_path):
    assert_one_line_error(run_cli("report", tmp_path / "missing.json"), "cannot read")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "nope"}')
    assert_one_line_error(run_cli("report", bad), "not an edgekit result")
    assert_one_line_error(run_cli("report", tmp_path), "is a directory")
    text = tmp_path / "notes.txt"
    text.write_text("p50 was 3 ms\n")
    assert_one_line_error(run_cli("report", text), "notes.txt: not a JSON file (parse error at line 1, column 1)")


def _chromium(*args: str, user_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={user_dir}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium; .ci/run does)")
@pytest.mark.parametrize("variant", ["three-models-and-an-error", "with-accuracy"])
def test_report_renders_in_headless_chromium(variant, report_results, error_result, with_accuracy, tmp_path):
    from PIL import Image

    inputs = (report_results, error_result) if variant.startswith("three") else (with_accuracy,)
    expected_plots = 2 if variant.startswith("three") else 3
    html_path = tmp_path / "report.html"
    run_cli("report", *inputs, "-o", html_path, check=True)
    url = html_path.as_uri()

    dom = _chromium("--dump-dom", url, user_dir=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    # The inline script ran after layout: every plot laid out all of its data points.
    assert f'data-plots-ok="{expected_plots}/{expected_plots}"' in text, re.findall(r"data-plots-ok=\"[^\"]*\"", text)
    for points, rendered in re.findall(r'data-points="(\d+)"[^>]*data-rendered="(\d+)"', text):
        assert points == rendered and int(points) > 0
    assert len(re.findall(r'data-rendered="\d+"', text)) == expected_plots
    # The rendered table: one row per result, the real figures present.
    body = re.search(r"<tbody>(.*?)</tbody>", text, re.S).group(1)
    assert body.count("<tr") == (4 if variant.startswith("three") else 3)
    assert all(m in body for m in REPORT_MODELS)
    assert len(re.findall(r"[\d.]+ (?:µs|ms)", body)) >= 3 * 5  # p50/p90/p99/init/first per ok row

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / f"report-{variant}.png"
    proc = _chromium(f"--screenshot={shot}", "--window-size=1400,1400", url, user_dir=tmp_path / "profile")
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    img = Image.open(shot).convert("RGB")
    assert img.size == (1400, 1400)
    colors = img.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 100  # text, table and plots, not a blank page
    # The palette's blue (first series) is on the page: the plots were painted, not only laid out.
    assert any(abs(r - 0x1F) < 20 and abs(g - 0x77) < 20 and abs(b - 0xB4) < 20 for _, (r, g, b) in colors)


def test_report_format_comes_from_a_known_suffix_only(report_results, tmp_path):
    """`report -o x.pdf` used to write HTML into x.pdf; an unknown suffix is now one line naming
    the formats, and a --format that contradicts the suffix is refused."""
    pdf = tmp_path / "x.pdf"
    line = assert_one_line_error(run_cli("report", report_results, "-o", pdf), "cannot tell the report format", ".html", ".md")
    assert not pdf.exists(), line
    assert_one_line_error(run_cli("report", report_results, "-o", tmp_path / "report"), "without a suffix")
    assert_one_line_error(run_cli("report", report_results, "-o", tmp_path / "r.md", "--format", "html"), "--format is html")
    run_cli("report", report_results, "-o", tmp_path / "r.htm", check=True)
    assert (tmp_path / "r.htm").read_text().startswith("<!DOCTYPE html>")
    run_cli("report", report_results, "-o", tmp_path / "r.markdown", check=True)
    assert (tmp_path / "r.markdown").read_text().startswith("## ")
    run_cli("report", report_results, "-o", tmp_path / "r.txt", "--format", "md", check=True)  # asked for: honoured


HOSTILE = "<img src=x onerror=alert(1)>|`x`*[y](z)"


def test_hostile_file_name_is_text_in_markdown_and_html(coral_models, tmp_path):
    """A real benchmark of a real model saved under a name that is HTML and Markdown syntax."""
    model = tmp_path / f"{HOSTILE}.tflite"
    shutil.copyfile(coral_models / "mobilenet_v1_0.25_128_quant.tflite", model)
    out = tmp_path / "r.json"
    run_cli("bench", model, "--min-runs", "5", "--min-time", "0", "-o", out, check=True)
    assert json.loads(out.read_text())["artifact"]["name"] == model.name
    md = run_cli("report", out, "--title", "t <b>|", check=True).stdout
    assert "<img" not in md and "<b>" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    row = next(l for l in md.splitlines() if "onerror" in l)
    # The name's '|' is escaped, so the row keeps its 13 cells (14 unescaped separators).
    assert len(re.findall(r"(?<!\\)\|", row)) == 14, row
    assert "\\|\\`x\\`\\*\\[y\\](z)" in row
    html = render([json.loads(out.read_text())], "html")
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
