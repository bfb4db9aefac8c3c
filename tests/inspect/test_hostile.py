"""Hostile and absurd models through the inspector (issue 15 items 3-6, issue 13 item 5's inspect part).

Each model is built with exactly the defect under test; the assertions are on what a user sees: the
CLI's exit code and the printed text.
"""

from __future__ import annotations

import io
import json
import os
import re
import time

import pytest

from edgekit.console import console, safe
from edgekit.errors import EdgekitError
from edgekit.inspect import describe
from edgekit.inspect.report import ROW_LIMIT, render
from tests.conftest import assert_one_line_error, run_cli
from tests.inspect.modelgen import Graph, conv_model

RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _rendered(info: dict, tensors: bool = True) -> str:
    buf = io.StringIO()
    render(info, tensors=tensors, out=console(file=buf))
    return buf.getvalue()


def test_safe_escapes_markup_and_shows_control_characters():
    assert safe("\x1b[2J") == "\\x1b[2J"  # ESC visible ("[2J" is no rich tag: left as is)
    assert safe("\x1b[bold]") == "\\x1b\\[bold]"
    assert safe("[/bold]") == "\\[/bold]"
    assert safe("a\nb\r\tc\x07\x9b\u202e", markup=False) == "a\\nb\\r\\tc\\x07\\x9b\\u202e"
    assert safe("x" * 500, limit=10) == "x" * 10 + "... (500 characters)"
    assert safe(None) == "" and safe(12) == "12"
    # through a real rich console the escaped text prints exactly as the name was written
    for name in ("[/bold]", "[bold red]x[/]", "x\\", "a\\[/b]", ":warning: sign", "[link=file:///etc]y[/link]"):
        buf = io.StringIO()
        console(file=buf).print(f"[bold]{safe(name)}[/bold] and more")
        assert buf.getvalue() == f"{name} and more\n", name


def test_markup_and_escape_sequences_in_names_print_literally(tmp_path):
    g = conv_model()
    g.tensors[0].name = "[/bold]\x1b[2J\x1b[Hgone\n[red]x"  # the input
    g.tensors[-1].name = "\x07[/]\u202eevil"  # the output
    (tmp_path / "[bold]").mkdir()
    path = g.save(tmp_path / "[bold]" / "x\x1b[31m[i].tflite")
    for extra in ([], ["--tensors"]):
        proc = run_cli("inspect", path, *extra)
        assert proc.returncode == 0, proc.stderr  # was exit 70: MarkupError on a valid model
        assert not RAW_CONTROL.search(proc.stdout), repr(proc.stdout[:300])
        assert "[/bold]\\x1b[2J\\x1b[Hgone\\n[red]x" in proc.stdout  # the input's name, exactly, visible
        assert "\\x07[/]\\u202eevil" in proc.stdout
        assert "[bold]/x\\x1b[31m[i].tflite" in proc.stdout  # the file name in the header line
    # JSON keeps the names byte-exact (escaped by JSON itself)
    info = json.loads(run_cli("inspect", path, "--json", check=True).stdout)
    assert info["subgraphs"][0]["inputs"][0]["name"] == "[/bold]\x1b[2J\x1b[Hgone\n[red]x"


def test_corrupt_file_error_line_has_no_raw_control_characters(tmp_path):
    path = tmp_path / "bad\x1b[2J.tflite"
    path.write_bytes(b"\0\0\0\0TFL3" + b"\xff" * 40)
    line = assert_one_line_error(run_cli("inspect", path), "corrupt")
    assert "\x1b" not in line and "bad\\x1b[2J.tflite" in line


def test_mac_counters_survive_ops_with_too_few_operands():
    g = Graph()
    x = g.tensor("x", [1, 8, 8, 3], "float32")
    w = g.const("w", [4, 3, 3, 3], "float32")
    y = g.tensor("y", [1, 8, 8, 4], "float32")
    g.op("CONV_2D", [x], [y])  # no filter: was IndexError in _conv2d, exit 70
    g.op("DEPTHWISE_CONV_2D", [x, w], [])  # no output: was IndexError in _depthwise
    g.op("FULLY_CONNECTED", [], [y])
    g.op("TRANSPOSE_CONV", [x], [y])
    g.op("BATCH_MATMUL", [], [])
    g.op("CONV_2D", [x, w], [y])  # a well-formed one is still counted
    g.inputs, g.outputs = [x], [y]
    from edgekit.inspect import macs
    from edgekit.inspect.tflite_model import parse_bytes

    est = macs.estimate(parse_bytes(g.to_bytes()))
    assert est.total == 8 * 8 * 4 * 27
    assert est.not_counted == {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1, "BATCH_MATMUL": 1}
    assert "CONV_2D" in est.heavy_not_counted  # so the total is reported as a lower bound


def test_negative_tensor_index_other_than_omitted_is_corrupt():
    from edgekit.inspect.tflite_model import parse_bytes

    g = conv_model()
    g.ops[0].inputs = [0, -7, 2]  # -1 means "omitted"; -7 would silently pick another tensor
    with pytest.raises(EdgekitError, match="corrupt"):
        parse_bytes(g.to_bytes())


def test_table_view_is_bounded_for_absurd_sizes(tmp_path):
    g = Graph()
    x = g.tensor("x" * 100_000, [1, 4], "float32")
    huge = g.tensor("huge", [2] * 50_000, "float32")  # a corrupt rank-50,000 shape
    y = g.tensor("y", [1, 4], "float32")
    for _ in range(8_000):
        g.op("RELU", [x], [y])
    g.op("CONV_2D", [huge, huge], [huge])
    g.inputs, g.outputs = [x, huge], [y]
    path = g.save(tmp_path / "absurd.tflite")
    t0 = time.perf_counter()
    info = describe(str(path))
    json_text = json.dumps(info)
    json_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    text = _rendered(info)
    table_s = time.perf_counter() - t0
    assert f"{8_001 - ROW_LIMIT:,} more operators" in text
    assert "x" * 81 not in text and "100,000 characters" in text
    assert "(50,000 dims)" in text
    assert info["macs_detail"]["not_counted"]["CONV_2D"] == 1  # rank 50,000 is no conv; no huge-integer work
    assert len(text) < len(json_text) / 4
    assert table_s < max(5.0, 3 * json_s), (table_s, json_s)


def test_dynamic_inputs_are_marked_and_macs_state_their_shape(tmp_path):
    g = Graph()
    x = g.tensor("audio", [1, 1], "float32", signature=[-1, -1])
    w = g.const("w", [16, 1], "float32")
    y = g.tensor("features", [1, 16], "float32", signature=[-1, 16])
    g.op("FULLY_CONNECTED", [x, w], [y], {"_type": "FullyConnectedOptions"})
    g.inputs, g.outputs = [x], [y]
    path = g.save(tmp_path / "dyn.tflite")
    info = describe(str(path))
    assert info["macs_detail"]["counted_at"] == [
        {"tensor": 0, "name": "audio", "shape": [1, 1], "shape_signature": [-1, -1], "dynamic_dims": [0, 1]}
    ]
    assert info["subgraphs"][0]["inputs"][0]["dynamic_dims"] == [0, 1]
    assert info["subgraphs"][0]["outputs"][0]["dynamic_dims"] == [0]
    text = run_cli("inspect", path, check=True).stdout
    assert "MACs counted at" in text and "audio [1*,1*] (signature [-1,-1])" in text
    assert "dynamic input dimensions" in text
    assert "[1*,16]" in text  # the output row marks its dynamic batch axis too
    static = describe(str(conv_model().save(tmp_path / "static.tflite")))
    assert static["macs_detail"]["counted_at"] == []
    assert "MACs counted at" not in _rendered(static)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_unreadable_model_is_one_line(tmp_path):
    path = conv_model().save(tmp_path / "locked.tflite")
    path.chmod(0)
    assert_one_line_error(run_cli("inspect", path), "permission denied")


def test_warnings_show_control_characters_as_escapes(capsys):
    from edgekit.console import warn

    warn("labels\x1b[2J.txt has 3 labels\nforged line")
    err = capsys.readouterr().err
    assert err == "edgekit: warning: labels\\x1b[2J.txt has 3 labels\\nforged line\n"
