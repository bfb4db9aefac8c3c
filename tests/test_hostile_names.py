"""File names are the user's text: bench's summary and every error line print them literally.

A name holding rich markup (``[/bold]``) or terminal control bytes (ESC ``[2J`` clears the screen)
must neither style, crash nor reach the terminal raw (issue 15, items 3 and 4).
"""

from __future__ import annotations

import shutil

from tests.conftest import assert_one_line_error, run_cli

HOSTILE = "[bold]x\x1b[2J[red]y"  # a file name cannot hold "/" ([/bold] is tested in inspect)


def test_bench_summary_prints_a_hostile_file_name_literally(coral_models, tmp_path):
    model = tmp_path / f"{HOSTILE}.tflite"
    shutil.copy(coral_models / "split_concat.tflite", model)
    proc = run_cli("bench", model, "--min-runs", "5", "--min-time", "0", "--warmup", "0")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr
    assert "[bold]x\\x1b[2J[red]y.tflite" in proc.stdout


def test_error_line_shows_control_characters_as_escapes(tmp_path):
    model = tmp_path / f"{HOSTILE}.tflite"
    model.write_bytes(b"not a model at all")
    proc = run_cli("bench", model, "--min-runs", "5", "--min-time", "0")
    line = assert_one_line_error(proc)
    assert "\x1b" not in proc.stderr and "\\x1b" in line
