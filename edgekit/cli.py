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
import sys
import traceback

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
    parser.add_argument(
        "--debug", action="store_true", help="show Python tracebacks (also EDGEKIT_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import edgekit.commands as commands_pkg

    for info in sorted(pkgutil.iter_modules(commands_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"edgekit.commands.{info.name}")
        module.register(sub)
    return parser




def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its usage message
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    debug = args.debug or os.environ.get("EDGEKIT_DEBUG") == "1"
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except EdgekitError as exc:
        if debug:
            traceback.print_exc()
            print_details(exc.details)
        print(exc.line(), file=sys.stderr)
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
        f"edgekit: internal error: {type(exc).__name__}: {exc}; "
        "rerun with --debug and report the traceback",
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
