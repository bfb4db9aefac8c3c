"""One error type for every failure a user can cause.

The CLI turns an EdgekitError into exactly one line, ``edgekit: <what happened>; <what to do>``,
and a non-zero exit status. Code deep inside converters and runtimes raises whatever it likes;
the layer that calls it translates into an EdgekitError with a hint, so users never read a
converter's traceback. Standard library only: the on-device runner imports this module.
"""

from __future__ import annotations

# Exit codes, stable so scripts and CI can branch on them.
EXIT_OK = 0
EXIT_FAILED = 1  # the command ran, but a check failed (threshold, regression, not ready)
EXIT_USAGE = 2  # the user's input is wrong (path, flag, model)
EXIT_ENV = 3  # something missing from the environment (runtime, tool, device)
EXIT_INTERNAL = 70


class EdgekitError(Exception):
    """A failure with a message for the user and a hint saying what to do next."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str = "", *, exit_code: int | None = None):
        super().__init__(message)
        self.message = message.rstrip(". ")
        self.hint = hint.rstrip(". ")
        if exit_code is not None:
            self.exit_code = exit_code

    def line(self) -> str:
        text = f"edgekit: {self.message}"
        if self.hint:
            text += f"; {self.hint}"
        return text

    def to_dict(self) -> dict:
        return {"type": type(self).__name__, "message": self.message, "hint": self.hint}

    def __str__(self) -> str:  # so logs and pytest show the whole line
        return self.line()


class EnvironmentMissing(EdgekitError):
    """A runtime, tool or device that the command needs is not available here."""

    exit_code = EXIT_ENV


class CheckFailed(EdgekitError):
    """The command ran to the end but what it checks did not pass."""

    exit_code = EXIT_FAILED


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (converters raise pages), or its type name."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def require_model_file(path: str, kinds: str = "a .tflite, .pte or .ptl file") -> str:
    """The checks every command makes before handing a path to a reader or runtime."""
    import os

    if not os.path.exists(path):
        raise EdgekitError(f"no such file: {path}", "check the model path")
    if os.path.isdir(path):
        raise EdgekitError(f"{path} is a directory, not a model file", f"pass {kinds}")
    if os.path.getsize(path) == 0:
        raise EdgekitError(f"{path} is empty", "rebuild or re-download the model")
    return path


def error_from_dict(data: dict) -> EdgekitError:
    """Rebuild an error reported by a worker process (host or remote) as the same class."""
    classes = {c.__name__: c for c in (EdgekitError, EnvironmentMissing, CheckFailed)}
    cls = classes.get(data.get("type", ""), EdgekitError)
    return cls(data.get("message", "unknown error"), data.get("hint", ""))
