"""The results history: every benchmark result, appended to one SQLite file in the user's project.

SQLite because it is one embedded file, needs no server, survives concurrent appends from parallel
benchmark processes (its own file locking), and ships with Python. Each row keeps the searchable
keys (artifact sha256, device fingerprint, time, series, p50/p90) next to the whole result
document (compressed JSON), so ``edgekit compare`` can run its statistical test on the raw samples
of any past run. A baseline is a run chosen per series (artifact path or build target, device,
runtime settings: ``edgekit.results.series``): later runs of the same series are compared with it,
also when the artifact's sha256 changed (a new build). Writing the history never loses a
measurement: a locked database or a full disk is a warning after the results were written.

Path: ``--history PATH``, else ``$EDGEKIT_HISTORY``, else ``.edgekit/history.sqlite`` in the
project root (the nearest directory above the current one holding edgekit.toml or .git; the
current directory when there is none).
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from dataclasses import dataclass
from typing import Iterable

from edgekit.errors import EdgekitError, EnvironmentMissing
from edgekit.results.series import artifact_path, device_key, series_key, setup_key, setup_text

ENV_VAR = "EDGEKIT_HISTORY"
TIMEOUT_ENV_VAR = "EDGEKIT_HISTORY_TIMEOUT"  # seconds to wait for another process's write (default 30)
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RELATIVE = os.path.join(".edgekit", "history.sqlite")
PROJECT_MARKERS = ("edgekit.toml", ".git")
# 2: a series is the artifact's path (or build target in its directory) on one device with one
# runtime setup; version 1 keyed it by file name, which paired different same-named models.
HISTORY_SCHEMA_VERSION = 2

_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,          -- when the measurement was made (the result's own time, UTC)
    recorded TEXT NOT NULL,         -- when it was appended here
    status TEXT NOT NULL,
    series TEXT NOT NULL,           -- artifact path, or 'target in DIR': what stays the same across rebuilds
    artifact_name TEXT,
    artifact_sha256 TEXT,
    artifact_format TEXT,
    device_name TEXT,
    device_key TEXT NOT NULL,       -- hash of the device fingerprint
    transport TEXT,
    runtime TEXT,
    p50_ms REAL,
    p90_ms REAL,
    n INTEGER,
    source TEXT,                    -- where the result came from (command, file)
    result BLOB NOT NULL,           -- zlib-compressed result JSON, raw samples included
    artifact_path TEXT,
    setup_key TEXT NOT NULL DEFAULT '',  -- hash of the runtime and settings (edgekit.results.series.setup)
    setup TEXT                      -- the same in words
)""",
    """CREATE TABLE IF NOT EXISTS baselines (
    series TEXT NOT NULL,
    device_key TEXT NOT NULL,
    setup_key TEXT NOT NULL DEFAULT '',
    run_id INTEGER NOT NULL REFERENCES runs (id),
    set_at TEXT NOT NULL,
    PRIMARY KEY (series, device_key, setup_key)
)""",
)
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS runs_sha ON runs (artifact_sha256)",
    "CREATE INDEX IF NOT EXISTS runs_series2 ON runs (series, device_key, setup_key, created)",
)
_COLUMNS = (
    "id, created, status, series, artifact_name, artifact_sha256, artifact_format, device_name, device_key,"
    " transport, runtime, p50_ms, p90_ms, n, artifact_path, setup_key, setup"
)


@dataclass
class Run:
    """One row of the history, without the (large) result document."""

    id: int
    created: str
    status: str
    series: str
    artifact_name: str | None
    artifact_sha256: str | None
    artifact_format: str | None
    device_name: str | None
    device_key: str
    transport: str | None
    runtime: str | None
    p50_ms: float | None
    p90_ms: float | None
    n: int | None
    artifact_path: str | None = None
    setup_key: str = ""
    setup: str | None = None
    baseline: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def project_root(start: str | None = None) -> str:
    here = os.path.abspath(start or os.getcwd())
    d = here
    while True:
        if any(os.path.exists(os.path.join(d, m)) for m in PROJECT_MARKERS):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return here
        d = parent


def default_path(start: str | None = None) -> str:
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    return os.path.join(project_root(start), DEFAULT_RELATIVE)


def _now() -> str:
    from edgekit.build.artifacts import now_iso

    return now_iso()


SINCE_FORMATS = "an ISO date (2026-05-01), an ISO date and time (2026-05-01T14:30, optional +02:00), today, yesterday, or an age like 30m, 12h, 7d, 2w"


def parse_since(text: str) -> str:
    """``--since`` as a UTC ISO time string comparable with the stored ``created``; a value that is
    none of SINCE_FORMATS is an error (it used to match nothing and list 0 runs, exit 0)."""
    import datetime as dt
    import re

    t = text.strip().lower()
    now = dt.datetime.now(dt.timezone.utc)
    m = re.fullmatch(r"(\d+)\s*([mhdw])", t)
    when = None
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
        when = now - dt.timedelta(**{unit: int(m.group(1))})
    elif t in ("today", "yesterday"):
        local = dt.datetime.now().astimezone()
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        when = midnight - dt.timedelta(days=1 if t == "yesterday" else 0)
    else:
        try:
            when = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            when = None
        if when is not None and when.tzinfo is None:
            when = when.astimezone()  # a time without an offset is local time, as a person means it
    if when is None:
        raise EdgekitError(f"--since {text!r} is not a time edgekit reads", f"use {SINCE_FORMATS}")
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _utc(created: str | None) -> str:
    """A result's time in UTC ISO form, so the history's string comparisons order correctly."""
    import datetime as dt

    if not created:
        return _now()
    try:
        when = dt.datetime.fromisoformat(str(created))
    except ValueError:
        return str(created)
    if when.tzinfo is None:
        return when.isoformat(timespec="seconds")
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _timeout() -> float:
    try:
        return max(0.0, float(os.environ.get(TIMEOUT_ENV_VAR, DEFAULT_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def _write_error(path: str, exc: BaseException) -> EdgekitError:
    """A failed write (locked, full disk, read-only) as one line with what to do."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return EnvironmentMissing(
            f"the results history {path} is locked by another process (waited {_timeout():.0f} s)",
            f"let the other edgekit finish, or raise ${TIMEOUT_ENV_VAR}",
        )
    if "full" in text or getattr(exc, "errno", None) == 28:
        return EnvironmentMissing(
            f"no space left to write the results history {path}", "free disk space, or point --history elsewhere"
        )
    if "I/O" in text or "readonly" in text or "read-only" in text:
        return EnvironmentMissing(
            f"cannot write the results history {path} ({text}: a full disk, a file-size limit or a read-only file system)",
            "free disk space, or point --history at a writable file",
        )
    return EnvironmentMissing(
        f"cannot write the results history {path} ({text or type(exc).__name__})",
        "point --history at a writable file",
    )


class History:
    """Open (and create when asked) the history database at ``path``."""

    def __init__(self, path: str | None = None, create: bool = True):
        self.path = path or default_path()
        if os.path.isdir(self.path):
            raise EdgekitError(f"history path {self.path} is a directory", "give a file path, e.g. .edgekit/history.sqlite")
        existed = os.path.exists(self.path)
        if not create and not existed:
            raise EdgekitError(
                f"no results history at {self.path}",
                "run 'edgekit bench' first (it records every result), or pass --history PATH",
            )
        self.conn = None
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            # Autocommit mode: every write below opens its own transaction explicitly.
            self.conn = sqlite3.connect(self.path, timeout=_timeout(), isolation_level=None)
            self._init_schema()
        except EdgekitError:
            self._abandon(existed)
            raise
        except sqlite3.OperationalError as exc:
            self._abandon(existed)
            if any(w in str(exc) for w in ("locked", "busy", "full", "I/O", "readonly")):
                raise _write_error(self.path, exc) from None
            raise EdgekitError(
                f"cannot open the results history {self.path} ({exc})",
                "point --history at a writable file, or move the damaged file away",
            ) from None
        except (sqlite3.DatabaseError, OSError) as exc:
            self._abandon(existed)
            raise EdgekitError(
                f"cannot open the results history {self.path} ({exc})",
                "point --history at a writable file, or move the damaged file away",
            ) from None

    def _abandon(self, existed: bool) -> None:
        """Close after a failed open; a file this open created and left empty (a full disk) goes."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if not existed:
            for p in (self.path, self.path + "-journal"):
                try:
                    if os.path.getsize(p) == 0:
                        os.unlink(p)
                except OSError:
                    pass

    def _version(self) -> int | None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            return None
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else None

    def _init_schema(self) -> None:
        version = self._version()
        if version == HISTORY_SCHEMA_VERSION:
            return
        if version is not None and version > HISTORY_SCHEMA_VERSION:
            raise EdgekitError(
                f"{self.path} has history schema {version}, this edgekit reads {HISTORY_SCHEMA_VERSION}",
                "use the edgekit version that wrote it, or start a new history with --history",
            )
        self.conn.execute("BEGIN IMMEDIATE")  # one process creates or migrates; the others wait
        try:
            version = self._version()  # again, under the lock: another process may have done it
            if version is None:
                for ddl in _TABLES + _INDEXES:
                    self.conn.execute(ddl)
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(HISTORY_SCHEMA_VERSION),))
            elif version == 1:
                self._migrate_v1()
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def _migrate_v1(self) -> None:
        """Version 1 keyed series by file name: recompute every row's keys from its stored result."""
        for col in ("artifact_path TEXT", "setup_key TEXT NOT NULL DEFAULT ''", "setup TEXT"):
            self.conn.execute(f"ALTER TABLE runs ADD COLUMN {col}")
        rows = self.conn.execute("SELECT id, result FROM runs").fetchall()
        for run_id, blob in rows:
            r = json.loads(zlib.decompress(blob).decode("utf-8"))
            self.conn.execute(
                "UPDATE runs SET series = ?, artifact_path = ?, setup_key = ?, setup = ? WHERE id = ?",
                (series_key(r), artifact_path(r), setup_key(r), setup_text(r), run_id),
            )
        old = self.conn.execute("SELECT run_id, set_at FROM baselines").fetchall()
        self.conn.execute("DROP TABLE baselines")
        self.conn.execute(_TABLES[2])
        for run_id, set_at in old:
            self.conn.execute(
                "INSERT OR REPLACE INTO baselines SELECT series, device_key, setup_key, id, ? FROM runs WHERE id = ?",
                (set_at, run_id),
            )
        self.conn.execute("DROP INDEX IF EXISTS runs_series")
        for ddl in _INDEXES:
            self.conn.execute(ddl)
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(HISTORY_SCHEMA_VERSION),))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writing ---

    def append(self, result: dict, source: str = "") -> int:
        """Store one result document; returns its run id. A failed write (locked, disk full) is
        an EdgekitError naming the cause."""
        from edgekit.results.schema import validate

        validate(result)
        art, dev = result.get("artifact") or {}, result.get("device") or {}
        lat = result.get("latency_ms") or {}
        rt = result.get("runtime") or {}
        blob = zlib.compress(json.dumps(result, separators=(",", ":"), default=str).encode("utf-8"), 6)
        row = (
            _utc(result.get("created")),
            _now(),
            result["status"],
            series_key(result),
            art.get("name"),
            art.get("sha256"),
            art.get("format"),
            dev.get("name"),
            device_key(result),
            dev.get("transport"),
            " ".join(str(x) for x in (rt.get("name"), rt.get("version")) if x) or None,
            lat.get("p50"),
            lat.get("p90"),
            lat.get("n"),
            source,
            blob,
            artifact_path(result),
            setup_key(result),
            setup_text(result),
        )
        try:
            cur = self.conn.execute(
                "INSERT INTO runs (created, recorded, status, series, artifact_name, artifact_sha256,"
                " artifact_format, device_name, device_key, transport, runtime, p50_ms, p90_ms, n, source, result,"
                " artifact_path, setup_key, setup) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
        except (sqlite3.OperationalError, OSError) as exc:
            raise _write_error(self.path, exc) from None
        return int(cur.lastrowid)

    def set_baseline(self, run_id: int) -> Run:
        run = self.run(run_id)
        if run.status != "ok":
            raise EdgekitError(f"run {run_id} is an error result", "choose a successful run as the baseline")
        try:
            self.conn.execute(
                "INSERT OR REPLACE INTO baselines VALUES (?,?,?,?,?)",
                (run.series, run.device_key, run.setup_key, run.id, _now()),
            )
        except (sqlite3.OperationalError, OSError) as exc:
            raise _write_error(self.path, exc) from None
        run.baseline = True
        return run

    # --- reading ---

    def _baseline_ids(self) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT run_id FROM baselines")}

    def _rows(self, where: str = "", params: Iterable = (), order: str = "id DESC", limit: int | None = None) -> list[Run]:
        sql = f"SELECT {_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + where
        sql += f" ORDER BY {order}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        base = self._baseline_ids()
        return [Run(*row, baseline=row[0] in base) for row in self.conn.execute(sql, tuple(params))]

    def runs(
        self,
        *,
        artifact: str | None = None,
        sha256: str | None = None,
        device: str | None = None,
        status: str | None = None,
        since: str | None = None,
        setup: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Runs, newest first. ``artifact`` matches series, path or file name (substring),
        ``sha256`` and ``device`` (name or fingerprint key) by prefix, ``since`` a UTC ISO time
        (:func:`parse_since`), ``setup`` a setup key exactly."""
        where, params = [], []
        if artifact:
            where.append("(series LIKE ? OR artifact_name LIKE ? OR artifact_path LIKE ?)")
            params += [f"%{artifact}%"] * 3
        if sha256:
            where.append("artifact_sha256 LIKE ?")
            params.append(f"{sha256.lower()}%")
        if device:
            where.append("(device_name = ? OR device_key LIKE ?)")
            params += [device, f"{device}%"]
        if status:
            where.append("status = ?")
            params.append(status)
        if since:
            where.append("created >= ?")
            params.append(since)
        if setup is not None:
            where.append("setup_key = ?")
            params.append(setup)
        return self._rows(" AND ".join(where), params, limit=limit)

    def run(self, run_id: int) -> Run:
        rows = self._rows("id = ?", (int(run_id),))
        if not rows:
            raise EdgekitError(f"no run {run_id} in {self.path}", "list the runs with 'edgekit history'")
        return rows[0]

    def result(self, run_id: int) -> dict:
        row = self.conn.execute("SELECT result FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise EdgekitError(f"no run {run_id} in {self.path}", "list the runs with 'edgekit history'")
        return json.loads(zlib.decompress(row[0]).decode("utf-8"))

    def baseline_for(self, series: str, dev_key: str, setup: str) -> int | None:
        row = self.conn.execute(
            "SELECT run_id FROM baselines WHERE series = ? AND device_key = ? AND setup_key = ?", (series, dev_key, setup)
        ).fetchone()
        return int(row[0]) if row else None

    def baselines(self) -> list[Run]:
        ids = sorted(self._baseline_ids())
        return [self.run(i) for i in ids]

    def latest(self, series: str, dev_key: str, setup: str, status: str = "ok") -> Run | None:
        rows = self._rows(
            "series = ? AND device_key = ? AND setup_key = ? AND status = ?",
            (series, dev_key, setup, status),
            order="created DESC, id DESC",
            limit=1,
        )
        return rows[0] if rows else None


# --- the bench hook ------------------------------------------------------------------------------


def record(results: list[dict], *, path: str | None = None, enabled: bool = True, source: str = "edgekit bench") -> list[int]:
    """Append ``results`` to the history at ``path`` (default: $EDGEKIT_HISTORY or the project's)
    unless ``enabled`` is False (--no-history). An explicit ``path`` wins over $EDGEKIT_HISTORY,
    "off" too. A broken history never loses a measurement: the results were already printed and
    written, so a failure here is a warning, not an error."""
    if not enabled or (not path and os.environ.get(ENV_VAR) == "off"):
        return []
    ids: list[int] = []
    try:
        with History(path) as h:
            for r in results:
                ids.append(h.append(r, source))
            return ids
    except EdgekitError as exc:
        reason = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    except (sqlite3.Error, OSError, ValueError) as exc:  # anything else the database or the disk says
        reason = f"{type(exc).__name__}: {exc}"
    from edgekit.console import warn

    done = f"{len(ids)} of {len(results)} results were recorded" if ids else "the results were not recorded"
    warn(f"{done} in the history: {reason}")
    return ids
