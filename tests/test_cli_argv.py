"""Argument parsing: values that start with '-' and global flags after the subcommand (issue 13, item 9).

The options are enumerated from the parser itself, so an option added later is covered without
editing this file.
"""

from __future__ import annotations

import argparse

import pytest

from edgekit.cli import _ZERO_ARG, _subparsers, attach_values, build_parser, main
from tests.conftest import run_cli


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(argv prefix, subparser) for every (nested) subcommand."""
    sub = _subparsers(parser)
    for name, child in sub.choices.items() if sub is not None else ():
        yield prefix + (name,), child
        yield from _commands(child, prefix + (name,))


def _value_options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if action.option_strings and not isinstance(action, _ZERO_ARG) and action.nargs in (None, "?", 1):
            yield action


def _required_args(parser: argparse.ArgumentParser, skip: argparse.Action) -> list[str]:
    """The least argv this parser accepts: its positionals and required options, with 'x'."""
    argv: list[str] = []
    for action in parser._actions:
        if action is skip or isinstance(action, argparse._SubParsersAction):
            continue
        if not action.option_strings:
            if action.nargs in (None, "+", 1):
                argv.append(str(action.choices[0]) if action.choices else "x")
        elif action.required:
            argv += [action.option_strings[0], "x"]
    for group in parser._mutually_exclusive_groups:
        if group.required and skip not in group._group_actions:
            argv += [group._group_actions[0].option_strings[0], "x"]
    return argv


def _cases():
    parser = build_parser()
    for prefix, sub in _commands(parser):
        if _subparsers(sub) is not None:
            continue
        for action in _value_options(sub):
            yield pytest.param(prefix, action.option_strings[-1], id=" ".join(prefix) + " " + action.option_strings[-1])


CASES = list(_cases())


def test_the_enumeration_finds_the_options_the_issue_names():
    ids = {p.id for p in CASES}
    for needed in (
        "build --scale",
        "build --mean",
        "run --normalize",
        "bench --normalize",
        "run --top-k",
        "package --mean",
        "bench --timeout",
        "compare --threshold",
    ):
        assert needed in ids, sorted(ids)


@pytest.mark.parametrize("prefix,option", CASES)
def test_a_negative_first_value_parses(prefix, option, capsys):
    """Every option that takes a value (numbers or not: a file may be named '-1,1'): '-1,1' /
    '-3' / '-0.5' reach the option's own type check; never "expected one argument". A value the
    option refuses is refused for what it is."""
    parser = build_parser()
    sub = parser
    for name in prefix:
        sub = _subparsers(sub).choices[name]
    action = sub._option_string_actions[option]
    value = {int: "-3", float: "-0.5"}.get(action.type, "-1,1")
    argv = [*prefix, *_required_args(sub, action), option, value]
    try:
        ns = parser.parse_args(attach_values(parser, argv))
    except SystemExit:
        err = capsys.readouterr().err
        assert "expected one argument" not in err, err
        assert option in err or value in err, err  # refused by the option's own check
        return
    got = getattr(ns, action.dest)
    if isinstance(action, argparse._AppendAction):
        got = got[-1]
    expected = action.type(value) if action.type else value
    assert got == expected


@pytest.mark.parametrize(
    "argv,dest,value",
    [
        (["build", "--scale", "-1,1"], "scale", "-1,1"),
        (["build", "--mean", "-0.5"], "mean", "-0.5"),
        (["build", "--mean", "-.5,-0.25,1e-3"], "mean", "-.5,-0.25,1e-3"),
        (["bench", "m.tflite", "--normalize", "-1,1"], "normalize", "-1,1"),
        (["run", "m.tflite", "--image", "x.jpg", "--norm", "-1,1"], "normalize", "-1,1"),  # an abbreviation
    ],
)
def test_the_readme_forms(argv, dest, value):
    parser = build_parser()
    assert getattr(parser.parse_args(attach_values(parser, argv)), dest) == value


def test_a_missing_value_is_still_reported(capsys):
    """Only number-like values are attached: a forgotten value is argparse's error, not swallowed."""
    assert main(["run", "m.tflite", "--image", "x.jpg", "--labels", "--top-k", "3"]) == 2
    assert "expected one argument" in capsys.readouterr().err


def test_a_value_named_like_a_subcommand_stays_a_value():
    parser = build_parser()
    assert attach_values(parser, ["run", "--image", "bench", "m", "--top-k", "-3"]) == [
        "run",
        "--image",
        "bench",
        "m",
        "--top-k=-3",
    ]


def test_debug_after_the_subcommand(tmp_path):
    parser = build_parser()
    assert parser.parse_args(["bench", "--debug", "m"]).debug is True
    assert parser.parse_args(["--debug", "bench", "m"]).debug is True  # not reset by the subparser
    assert not getattr(parser.parse_args(["bench", "m"]), "debug", False)
    assert parser.parse_args(["edgetpu", "compile", "m.tflite", "--debug"]).debug is True
    proc = run_cli("inspect", tmp_path / "missing.tflite", "--debug")
    assert proc.returncode == 2 and "unrecognized arguments" not in proc.stderr, proc.stderr
    assert "Traceback" in proc.stderr  # --debug took effect
