"""The results history: every benchmark result, appended to one SQLite file in the user's project.

SQLite because it is one embedded file, needs no server, survives concurrent appends from parallel
benchmark processes (its own file locking), and ships with Python. Each row keeps the searchable
keys (artifact sha256, device fingerprint, time, series, p50/p90) next to the whole result
document (compressed JSON), so ``edgekit compare`` can run its statistical test on the raw samples
of any past run. A baseline is a run chosen per (series, device): later runs of the same target on
the same device are compared with it.

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

from edgekit.errors import EdgekitError
from edgekit.results.compare import device_key, series_key

ENV_VAR = "EDGEKIT_HISTORY"
DEFAULT_RELATIVE = os.path.join(".edgekit", "history.sqlite")
PROJECT_MARKERS = ("edgekit.toml", ".git")
HISTORY_SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,          -- when the measurement was made (the result's own time)
    recorded TEXT NOT NULL,         -- when it was appended here
    status TEXT NOT NULL,
    series TEXT NOT NULL,           -- build target, else file name: what stays the same across rebuilds
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
    result BLOB NOT NULL            -- zlib-compressed result JSON, raw samples included
);
CREATE INDEX IF NOT EXISTS runs_sha ON runs (artifact_sha256);
CREATE INDEX IF NOT EXISTS runs_series ON runs (series, device_key, created);
CREATE TABLE IF NOT EXISTS baselines (
    series TEXT NOT NULL,
    device_key TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    set_at TEXT NOT NULL,
    PRIMARY KEY (series, device_key)
);
"""


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
    from edgekit.artifacts import now_iso

    return now_iso()


class History:
    """Open (and create when asked) the history database at ``path``."""

    def __init__(self, path: str | None = None, create: bool = True):
        self.path = path or default_path()
        if os.path.isdir(self.path):
            raise EdgekitError(f"history path {self.path} is a directory", "give a file path, e.g. .edgekit/history.sqlite")
        if not create and not os.path.exists(self.path):
            raise EdgekitError(
                f"no results history at {self.path}",
                "run 'edgekit bench' first (it records every result), or pass --history PATH",
            )
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=30)
            self.conn.executescript(_DDL)
            version = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if version is None:
                with self.conn:
                    self.conn.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(HISTORY_SCHEMA_VERSION),)
                    )
            elif int(version[0]) != HISTORY_SCHEMA_VERSION:
                raise EdgekitError(
                    f"{self.path} has history schema {version[0]}, this edgekit reads {HISTORY_SCHEMA_VERSION}",
                    "use the edgekit version that wrote it, or start a new history with --history",
                )
        except (sqlite3.DatabaseError, OSError) as exc:
            raise EdgekitError(
                f"cannot open the results history {self.path} ({exc})",
                "point --history at a writable file, or move the damaged file away",
            ) from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writing ---

    def append(self, result: dict, source: str = "") -> int:
        """Store one result document; returns its run id."""
        from edgekit.results.schema import validate

        validate(result)
        art, dev = result.get("artifact") or {}, result.get("device") or {}
        lat = result.get("latency_ms") or {}
        rt = result.get("runtime") or {}
        blob = zlib.compress(json.dumps(result, separators=(",", ":"), default=str).encode("utf-8"), 6)
        row = (
            result.get("created") or _now(),
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
        )
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO runs (created, recorded, status, series, artifact_name, artifact_sha256,"
                " artifact_format, device_name, device_key, transport, runtime, p50_ms, p90_ms, n, source, result)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
        return int(cur.lastrowid)

    def set_baseline(self, run_id: int) -> Run:
        run = self.run(run_id)
        if run.status != "ok":
            raise EdgekitError(f"run {run_id} is an error result", "choose a successful run as the baseline")
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO baselines VALUES (?,?,?,?)", (run.series, run.device_key, run.id, _now())
            )
        run.baseline = True
        return run

    # --- reading ---

    def _baseline_ids(self) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT run_id FROM baselines")}

    def _rows(self, where: str = "", params: Iterable = (), order: str = "id DESC", limit: int | None = None) -> list[Run]:
        sql = (
            "SELECT id, created, status, series, artifact_name, artifact_sha256, artifact_format,"
            " device_name, device_key, transport, runtime, p50_ms, p90_ms, n FROM runs"
        )
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
        limit: int | None = None,
    ) -> list[Run]:
        """Runs, newest first. ``artifact`` matches series or file name (substring), ``sha256`` and
        ``device`` (name or fingerprint key) by prefix, ``since`` an ISO date/time."""
        where, params = [], []
        if artifact:
            where.append("(series LIKE ? OR artifact_name LIKE ?)")
            params += [f"%{artifact}%"] * 2
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

    def baseline_for(self, series: str, dev_key: str) -> int | None:
        row = self.conn.execute(
            "SELECT run_id FROM baselines WHERE series = ? AND device_key = ?", (series, dev_key)
        ).fetchone()
        return int(row[0]) if row else None

    def baselines(self) -> list[Run]:
        ids = sorted(self._baseline_ids())
        return [self.run(i) for i in ids]

    def latest(self, series: str, dev_key: str, status: str = "ok") -> Run | None:
        rows = self._rows(
            "series = ? AND device_key = ? AND status = ?", (series, dev_key, status), order="created DESC, id DESC", limit=1
        )
        return rows[0] if rows else None


# --- the bench hook ------------------------------------------------------------------------------


def add_history_options(parser) -> None:
    """--history PATH / --no-history, shared by every command that produces results."""
    g = parser.add_mutually_exclusive_group()
    g.add_argument(
        "--history",
        metavar="PATH",
        default=None,
        help=f"results history to append to (default: ${ENV_VAR} or .edgekit/history.sqlite in the project)",
    )
    g.add_argument("--no-history", action="store_true", help="do not record the results in the history")


def record(results: list[dict], args, source: str = "edgekit bench") -> list[int]:
    """Append ``results`` unless --no-history. A broken history never loses a measurement: the
    results were already printed and written, so a failure here is a warning, not an error."""
    explicit = getattr(args, "history", None)  # --history PATH wins over $EDGEKIT_HISTORY, "off" too
    if getattr(args, "no_history", False) or (not explicit and os.environ.get(ENV_VAR) == "off"):
        return []
    try:
        with History(getattr(args, "history", None)) as h:
            return [h.append(r, source) for r in results]
    except EdgekitError as exc:
        from edgekit.console import warn

        warn(f"{exc.message}; the results were not recorded in the history ({exc.hint})")
        return []
