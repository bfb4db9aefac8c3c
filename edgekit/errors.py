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

    def __init__(self, message: str, hint: str = "", *, exit_code: int | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message.rstrip(". ")
        self.hint = hint.rstrip(". ")
        if exit_code is not None:
            self.exit_code = exit_code
        # Facts for --debug and the result JSON that do not belong in the one line: the signal,
        # the exit status, the runtime's own log tail. Kept through to_dict/error_from_dict.
        self.details: dict = dict(details or {})

    def line(self) -> str:
        text = f"edgekit: {self.message}"
        if self.hint:
            text += f"; {self.hint}"
        return text

    def to_dict(self) -> dict:
        return {
            **self.details,
            "type": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "exit_code": self.exit_code,
        }

    def __str__(self) -> str:  # so logs and pytest show the whole line
        return self.line()


class EnvironmentMissing(EdgekitError):
    """A runtime, tool or device that the command needs is not available here."""

    exit_code = EXIT_ENV


class CheckFailed(EdgekitError):
    """The command ran to the end but what it checks did not pass."""

    exit_code = EXIT_FAILED


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (converters raise pages), or its type name.

    The TorchScript interpreter is the exception: its first line only says "The following
    operation failed in the TorchScript interpreter." and the real error ("RuntimeError: slice
    step must be positive") is the traceback's last line, so that line (and where it happened)
    is returned instead.
    """
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    real = torchscript_error(text)
    return (real or text.splitlines()[0])[:limit]


_TS_MARKERS = ("Traceback of TorchScript", "The following operation failed in the TorchScript interpreter")


def torchscript_error(text: str) -> str | None:
    """``"RuntimeError: slice step must be positive (TorchScript: model.py line 6, in forward)"`` from
    a TorchScript interpreter traceback, or None when ``text`` is not one."""
    import re

    if not any(m in text for m in _TS_MARKERS):
        return None
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    error = None
    for i in range(len(lines) - 1, -1, -1):
        m = re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt)):\s*(.*)$", lines[i])
        if m:
            error = (i, f"{m.group(1)}: {m.group(2)}" if m.group(2) else m.group(1))
            break
    if error is None:
        return None
    where = None
    for line in reversed(lines[: error[0]]):
        m = re.match(r'^File "([^"]+)", line (\d+), in (\S+)', line)
        if m:
            where = f"{m.group(1).replace(chr(92), '/').rsplit('/', 1)[-1]} line {m.group(2)}, in {m.group(3)}"
            break
    return f"{error[1]} (TorchScript: {where})" if where else error[1]


def require_model_file(path: str, kinds: str | None = None) -> str:
    """The checks every command makes before handing a path to a reader or runtime. ``kinds``
    ends the hints ("pass a .tflite file"); default: every format edgekit runs, from the records."""
    import os

    def what() -> str:
        if kinds is not None:
            return kinds
        from edgekit.runtimes.formats import model_kinds

        return model_kinds()

    if not os.path.exists(path):
        raise EdgekitError(f"no such file: {path}", "check the model path")
    if os.path.isdir(path):
        raise EdgekitError(f"{path} is a directory, not a model file", f"pass {what()}")
    if not os.path.isfile(path):  # a FIFO or device would block or stream forever in open()/read()
        raise EdgekitError(f"{path} is not a regular file", f"pass {what()}")
    try:
        with open(path, "rb") as f:
            empty = not f.read(1)
    except OSError as exc:  # unreadable (permissions), a FIFO that errors, a failing disk
        raise os_error(exc, path, doing="read") from None
    if empty:
        raise EdgekitError(f"{path} is empty", "rebuild or re-download the model")
    return path


def error_from_dict(data: dict) -> EdgekitError:
    """Rebuild an error reported by a worker process (host or remote) as the same class, with
    its details (signal, log tail, traceback) and exit code."""
    classes = {c.__name__: c for c in (EdgekitError, EnvironmentMissing, CheckFailed)}
    cls = classes.get(data.get("type", ""), EdgekitError)
    details = {k: v for k, v in data.items() if k not in ("type", "message", "hint", "exit_code")}
    code = data.get("exit_code")
    return cls(
        data.get("message", "unknown error"),
        data.get("hint", ""),
        exit_code=code if isinstance(code, int) else None,
        details=details,
    )


# --- OSError -> one line -------------------------------------------------------------------------
# What a user can cause with a path, and who fixes it. Exit 2: a different path (or fixing this
# one's permissions) fixes it. Exit 3: the machine itself is short of something (space, file
# handles, a working disk), so any path on it would fail the same way.
_PATH_ERRNOS = {
    "ENOENT",
    "ENOTDIR",
    "EEXIST",
    "EISDIR",
    "EACCES",
    "EPERM",
    "EROFS",
    "ENAMETOOLONG",
    "ELOOP",
    "ETXTBSY",
    "EXDEV",
    "EFBIG",
}
_ENV_ERRNOS = {"ENOSPC", "EDQUOT", "EIO", "EMFILE", "ENFILE", "ENOMEM"}


def user_os_errno(exc: BaseException) -> bool:
    """Is ``exc`` an OSError a user can cause with a path or a full disk (mapped by os_error)?"""
    import errno

    if not isinstance(exc, OSError) or exc.errno is None:
        return False
    name = errno.errorcode.get(exc.errno, "")
    return name in _ENV_ERRNOS or (name in _PATH_ERRNOS and (exc.filename is not None))


def _blocking_file(path: str) -> str | None:
    """The first component of ``path`` that exists but is not a directory (``a_file`` in
    ``a_file/r.json``), so the message names the real obstacle."""
    import os

    parent = os.path.dirname(os.path.abspath(path))
    while parent and parent != os.path.dirname(parent):
        if os.path.lexists(parent):
            return parent if not os.path.isdir(parent) else None
        parent = os.path.dirname(parent)
    return None


def os_error(exc: OSError, path: str | None = None, *, doing: str = "write") -> EdgekitError:
    """One ``edgekit:`` line for an OSError at a read/write boundary.

    ``path`` is the user's path (not a temporary name beside it); ``doing`` is "write", "read", or
    "access" when the caller cannot tell (a stray OSError reaching cli.main).
    Every command that touches a user's file goes through here (atomic_write_*, require_model_file,
    and cli.main for a stray OSError that carries a file name), so one table decides the wording
    and the exit status.
    """
    import errno
    import os

    path = path or exc.filename or ""
    name = errno.errorcode.get(exc.errno or 0, "")
    reason = exc.strerror or type(exc).__name__
    read = doing != "write"
    code = EXIT_ENV if name in _ENV_ERRNOS or name not in _PATH_ERRNOS else EXIT_USAGE
    if name in ("ENOTDIR", "EEXIST") or (name == "ENOENT" and not read and _blocking_file(path)):
        blocker = _blocking_file(path)
        if not blocker and name == "EEXIST" and os.path.lexists(path) and not os.path.isdir(path):
            blocker = path  # makedirs(a_file): the file itself is in the way
        if blocker:
            msg, hint = (
                f"cannot {doing} {path}: {blocker} is a file, not a directory",
                "choose another path, or move that file away",
            )
        elif name == "EEXIST":
            msg, hint = f"cannot {doing} {path}: it already exists", "remove it or choose another path"
        else:
            msg, hint = f"cannot {doing} {path}: a part of the path is not a directory", "check the path"
    elif name == "ENOENT":
        msg = f"no such file: {path}" if read else f"cannot {doing} {path}: a directory on the way does not exist"
        hint = "check the path" if read else "create the directory or choose another path"
    elif name == "EISDIR":
        msg = f"{path} is a directory"
        hint = "pass a file" if read else f"give a file name, e.g. {os.path.join(path, 'results.json')}"
    elif name in ("EACCES", "EPERM"):
        msg = f"permission denied: cannot {doing} {path}"
        hint = {
            "read": "make it readable (chmod u+r) or run as a user who can read it",
            "write": "choose a location you can write, or fix its permissions",
        }.get(doing, f"check its permissions (ls -l {path})")
    elif name == "EROFS":
        msg, hint = (
            f"cannot {doing} {path}: the file system is read-only",
            "write to a writable location (for example under $HOME or /tmp)",
        )
    elif name in ("ENOSPC", "EDQUOT"):
        where = os.path.dirname(os.path.abspath(path)) if path else "."
        msg = f"cannot {doing} {path or 'a file'}: no space left on the device ({'quota exceeded' if name == 'EDQUOT' else 'disk full'})"
        hint = f"free some space (df -h {where}) or write somewhere else"
    elif name == "ENAMETOOLONG":
        msg, hint = f"cannot {doing} {path[:120]}...: the name is too long", "use a shorter path"
    elif name == "ELOOP":
        msg, hint = f"cannot {doing} {path}: too many levels of symbolic links", "fix the symlink loop"
    elif name == "EFBIG":
        msg, hint = (
            f"cannot {doing} {path}: the file is larger than allowed here",
            "check ulimit -f or the file system's size limit",
        )
    elif name in ("EMFILE", "ENFILE"):
        msg, hint = (
            f"cannot {doing} {path or 'a file'}: too many open files",
            "raise the limit (ulimit -n) or close other programs",
        )
    elif name == "EIO":
        msg, hint = (
            f"cannot {doing} {path or 'a file'}: input/output error",
            "the disk or mount may be failing; check dmesg and the mount",
        )
    else:
        msg, hint = f"cannot {doing} {path}: {reason}", "check the path, its permissions and the disk"
    return EdgekitError(msg, hint, exit_code=code, details={"errno": name or exc.errno})
