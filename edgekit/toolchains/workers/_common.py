"""What every toolchain worker shares: read the spec, write the result atomically, report progress.

Standard library only, and no edgekit import: a worker runs in a toolchain's own environment,
where edgekit is not installed. A worker does ``from _common import main, WorkerError, progress``
(its own directory is first on sys.path when it is run as a script).

    def convert(spec: dict) -> dict: ...
    if __name__ == "__main__":
        main(convert)

``raise WorkerError(what, hint)`` for a failure the worker understands: edgekit shows
``edgekit: <what>; <hint>``. Any other exception is reported with its type and first line and the
traceback goes to the log.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable

PROGRESS_PREFIX = "edgekit-progress: "


class WorkerError(Exception):
    def __init__(self, message: str, hint: str = "", **details):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details


def progress(text: str) -> None:
    """One progress line for the person waiting (edgekit passes it to its console)."""
    print(PROGRESS_PREFIX + " ".join(str(text).split()), flush=True)


def write_json(path: str, obj: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def first_line(exc: BaseException, limit: int = 400) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0][:limit] if text else "") or type(exc).__name__


def main(fn: Callable[[dict], dict]) -> None:
    if len(sys.argv) != 3:
        print(f"usage: {os.path.basename(sys.argv[0])} SPEC.json OUT.json", file=sys.stderr)
        raise SystemExit(2)
    spec_path, out_path = sys.argv[1], sys.argv[2]
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    try:
        result = fn(spec)
    except WorkerError as exc:
        write_json(out_path, {**exc.details, "error": exc.message, "hint": exc.hint})
        raise SystemExit(1)
    except Exception as exc:  # noqa: BLE001 - the worker's whole job is to report it as one line
        traceback.print_exc()
        write_json(
            out_path,
            {"error": f"{type(exc).__name__}: {first_line(exc)}", "hint": "", "traceback": traceback.format_exc()[-4000:]},
        )
        raise SystemExit(1)
    write_json(out_path, result if isinstance(result, dict) else {"result": result})
