"""Command-line entry point: argument parsing and printing only.

Each subcommand lives in its own module under ``edgekit/commands/`` and exposes
``register(subparsers)``; the CLI discovers them, so a new command never edits this file.
Command modules must import heavy frameworks only inside their handlers.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import sys
import traceback
from typing import Sequence

from edgekit import __version__
from edgekit.errors import EXIT_INTERNAL, EXIT_USAGE, EdgekitError, os_error, user_os_errno


class EdgekitParser(argparse.ArgumentParser):
    """Usage errors read like every other edgekit error: one line saying what to do."""

    def error(self, message: str):  # type: ignore[override]
        print(f"edgekit: {message}; see '{self.prog} --help'", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = EdgekitParser(
        prog="edgekit",
        description="Build, measure and ship models for phones, Raspberry Pis and Coral Edge TPUs.",
    )
    parser.add_argument("--version", action="version", version=f"edgekit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks (also EDGEKIT_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import edgekit.commands as commands_pkg

    for info in sorted(pkgutil.iter_modules(commands_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"edgekit.commands.{info.name}")
        module.register(sub)
    mirror_global_flags(parser)
    return parser


# A token that is a value, not an option, although it starts with '-': a negative number or a
# list of numbers ("-1,1", "-0.5", "-.5", "-3", "-1e-3"). argparse treats only plain negative
# numbers as values, so `--scale -1,1` ended in "expected one argument".
_VALUE_LIKE = re.compile(r"^-(\.?\d)")
_ZERO_ARG = (
    argparse._StoreTrueAction,
    argparse._StoreFalseAction,
    argparse._StoreConstAction,
    argparse._AppendConstAction,
    argparse._CountAction,
    argparse._HelpAction,
    argparse._VersionAction,
)


def _takes_one_value(action: argparse.Action) -> bool:
    return bool(action.option_strings) and not isinstance(action, _ZERO_ARG) and action.nargs in (None, "?", 1)


def _option(parser: argparse.ArgumentParser, token: str) -> argparse.Action | None:
    """The action ``token`` names in ``parser``, resolving unique abbreviations as argparse does."""
    actions = parser._option_string_actions
    if token in actions:
        return actions[token]
    if token.startswith("--") and parser.allow_abbrev:
        found = {id(a): a for s, a in actions.items() if s.startswith(token)}
        if len(found) == 1:
            return next(iter(found.values()))
    return None


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def attach_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """Join an option and a following value that starts with '-' (``--scale -1,1`` ->
    ``--scale=-1,1``), driven by the parser's own actions: only options that take a value, in
    the (sub)parser the token belongs to, and only values that look like numbers, so a missing
    value (``--labels --top-k 3``) is still reported by argparse."""
    out: list[str] = []
    current = parser
    i = 0
    argv = list(argv)
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out += argv[i:]
            break
        if token.startswith("-") and "=" not in token and len(token) > 1:
            action = _option(current, token)
            if action is not None and _takes_one_value(action) and i + 1 < len(argv):
                value = argv[i + 1]
                if _VALUE_LIKE.match(value) and _option(current, value) is None:
                    out.append(f"{token}={value}" if token.startswith("--") else token + value)
                    i += 2
                    continue
                if not value.startswith("-"):  # the option's value: never a subcommand name
                    out += [token, value]
                    i += 2
                    continue
        elif not token.startswith("-"):
            sub = _subparsers(current)
            if sub is not None and token in sub.choices:
                current = sub.choices[token]
        out.append(token)
        i += 1
    return out


def mirror_global_flags(parser: argparse.ArgumentParser, flags: Sequence[argparse.Action] | None = None) -> None:
    """Accept the top-level flags (``--debug``) after a subcommand too (``edgekit bench --debug``).

    The copies default to SUPPRESS, so a flag given before the subcommand is not reset by the
    subparser's default. Only on/off flags are global; nested subcommands get them as well."""
    if flags is None:
        flags = [a for a in parser._actions if isinstance(a, argparse._StoreTrueAction)]
    sub = _subparsers(parser)
    for child in sub.choices.values() if sub is not None else ():
        for flag in flags:
            if not any(s in child._option_string_actions for s in flag.option_strings):
                child.add_argument(
                    *flag.option_strings, dest=flag.dest, action="store_true", default=argparse.SUPPRESS, help=flag.help
                )
        mirror_global_flags(child, flags)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(attach_values(parser, sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse already printed its usage message
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    debug = getattr(args, "debug", False) or os.environ.get("EDGEKIT_DEBUG") == "1"
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except EdgekitError as exc:
        if debug:
            traceback.print_exc()
            print_details(exc.details)
        from edgekit.console import safe

        # Error lines quote paths and model strings: show their control characters as escapes.
        print(safe(exc.line(), markup=False), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgekit: interrupted; what was still running was not written (finished results were)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # A path the user gave (an output under a file, a directory as -o, no permission, a
        # read-only or full disk) that a command did not map itself: still one line, exit 2/3.
        if not user_os_errno(exc):
            return _internal(exc, debug)
        if debug:
            traceback.print_exc()
        err = os_error(exc, exc.filename, doing="access")
        print(err.line(), file=sys.stderr)
        return err.exit_code
    except Exception as exc:  # a bug in edgekit, not a user error: still one line unless --debug
        return _internal(exc, debug)


def _internal(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(
        f"edgekit: internal error: {type(exc).__name__}: {exc}; rerun with --debug and report the traceback",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def print_details(details: dict) -> None:
    """With --debug: what an error kept apart from its one line (the runtime's log tail, the
    worker's traceback, the signal), on stderr before that line."""
    for key in ("log_tail", "traceback"):
        text = details.get(key)
        if text:
            if isinstance(text, list):
                text = "\n".join(text)
            print(f"--- {key.replace('_', ' ')} ---", file=sys.stderr)
            print(str(text).rstrip(), file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
