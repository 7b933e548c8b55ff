"""`index.sqlite`: the mechanism table, parent edges and the append-only event log (WAL mode).

Writers take SQLite's write lock with BEGIN IMMEDIATE and hold it across the object rename, so two
processes sharing one archive serialize their adds; readers never block. Triggers refuse UPDATE and
DELETE: history is append-only, nothing prunes lineage.

Format 2 added the `runs` table: a run claims its id here before it writes anything, so two runs never
share one (two ablations on one archive both have a run C-r1), and the claim says how far the archive
went when the run started (its horizon: what it may learn from earlier runs). An index of format 1 is
migrated in place, in one transaction: the table is created and every run id its events name is
entered as a legacy run (domain unknown).

Format 3 added the `results` table: what a run found in its task (its best points), recorded when it
finishes. Each result notes the last event seq when it was recorded (`after_event`); a run with horizon
H reads the results with after_event < H, those recorded before an event its horizon includes. So what
it reads is fixed by its horizon, as the events it reads are, and the runs of one ablation (one horizon)
never read each other's. A run records its result before its last events (its final effects), so the
next run reads it; one that wrote no event after its result is read once another event follows. An
index of format 1 or 2 is migrated in place the same way: the table is created, empty.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bilevel_evolve.ground.errors import EvolveError, UsageError
from bilevel_evolve.mechanism_archive.models import FORMAT_VERSION, ArchiveEvent, RecordFile, RunResult

INDEX_FILE = "index.sqlite"
LOCK_SUFFIX = ".lock"
BUSY_TIMEOUT_MS = 60_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mechanisms (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, class_name TEXT NOT NULL, origin TEXT NOT NULL,
    created TEXT NOT NULL, run_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS edges (
    child TEXT NOT NULL REFERENCES mechanisms(id), position INTEGER NOT NULL,
    parent TEXT NOT NULL REFERENCES mechanisms(id), PRIMARY KEY (child, position));
CREATE INDEX IF NOT EXISTS edges_by_parent ON edges(parent);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL,
    mechanism_id TEXT NOT NULL REFERENCES mechanisms(id), run_id TEXT NOT NULL, kind TEXT NOT NULL,
    status TEXT, reason TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL, key TEXT UNIQUE);
CREATE INDEX IF NOT EXISTS events_by_mechanism ON events(mechanism_id, seq);
"""
_RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, claimed TEXT NOT NULL, token TEXT, domain TEXT, space_signature TEXT, space_shape TEXT,
    horizon INTEGER NOT NULL DEFAULT 0, legacy INTEGER NOT NULL DEFAULT 0);
"""
_RESULTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, run_id TEXT NOT NULL, domain TEXT NOT NULL,
    space_signature TEXT NOT NULL, after_event INTEGER NOT NULL, payload TEXT NOT NULL, key TEXT UNIQUE);
"""
# Format 1 -> 2: the runs table, and each run the events name as a legacy run.
_MIGRATE_1_TO_2 = [_RUNS_SCHEMA, "INSERT OR IGNORE INTO runs (run_id, claimed, legacy) "
                   "SELECT run_id, MIN(ts), 1 FROM events GROUP BY run_id"]
# What brings an index of each older format to this one (0: a new index).
_MIGRATIONS: dict[int, list[str]] = {0: [*_SCHEMA.split(";\n"), _RUNS_SCHEMA, _RESULTS_SCHEMA],
                                     1: [*_MIGRATE_1_TO_2, _RESULTS_SCHEMA], 2: [_RESULTS_SCHEMA]}
_APPEND_ONLY = ("mechanisms", "edges", "events", "runs", "results")
MAX_CLAIM_TRIES = 1000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Index:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                         check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA synchronous = FULL")
            # Switching to WAL fails with "locked" (no busy wait) while another process switches it too.
            with _setup_lock(path):
                if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._conn.execute("PRAGMA journal_mode = WAL")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            if "readonly" in str(exc).replace("-", ""):
                raise UsageError(f"the archive index {path} cannot be opened: {exc}",
                                 "an archive is opened for writing (its index runs in WAL mode, and an older format "
                                 "is migrated in place): make its directory writable, or copy it to one") from None
            raise EvolveError(f"the archive index {path} cannot be opened: {exc}",
                              "restore index.sqlite from a backup (the objects/ directory holds the data)") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > FORMAT_VERSION:
            raise newer_format(self.path, version)
        if version == FORMAT_VERSION:
            return
        try:
            with self.write() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version == FORMAT_VERSION:
                    return  # another process created or migrated it while we waited for the lock
                for statement in [*_MIGRATIONS[version], *_triggers()]:
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        except sqlite3.OperationalError as exc:
            if version == 0 or "readonly" not in str(exc).replace("-", ""):
                raise
            raise UsageError(
                f"the archive {self.path.parent} has format {version}; this version reads format {FORMAT_VERSION} and "
                "migrates an older archive in place, but this one is read-only here",
                "open it once where it is writable (e.g. `evolve archive --archive DIR verify`), or copy it to a "
                "writable directory and pass that") from None

    # ---- transactions -------------------------------------------------------------------------
    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """An IMMEDIATE transaction: holds the archive's single write lock until commit."""
        return self._transaction("BEGIN IMMEDIATE")

    def snapshot(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: several queries see one consistent state."""
        return self._transaction("BEGIN")

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute(begin)
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # ---- writes (inside `write()`) ------------------------------------------------------------
    @staticmethod
    def insert_mechanism(conn: sqlite3.Connection, record: RecordFile) -> None:
        cur = conn.execute(
            "INSERT OR IGNORE INTO mechanisms (id, name, class_name, origin, created, run_id) VALUES (?,?,?,?,?,?)",
            (record.id, record.name, record.class_name, record.origin, record.created, record.run_id))
        if cur.rowcount:
            conn.executemany("INSERT INTO edges (child, position, parent) VALUES (?,?,?)",
                             [(record.id, i, p) for i, p in enumerate(record.parents)])

    @staticmethod
    def insert_event(conn: sqlite3.Connection, *, mechanism_id: str, run_id: str, kind: str,
                     status: str | None = None, reason: str = "", payload: dict[str, Any] | None = None,
                     key: str | None = None) -> int | None:
        """Append an event; return its seq, or None when an event with the same key already exists."""
        Index.check_key(conn, key, mechanism_id, kind)
        cur = conn.execute(
            "INSERT OR IGNORE INTO events (ts, mechanism_id, run_id, kind, status, reason, payload, key) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (now_iso(), mechanism_id, run_id, kind, status, reason,
             json.dumps(payload or {}, allow_nan=False, sort_keys=True), key))
        return cur.lastrowid if cur.rowcount else None

    @staticmethod
    def insert_result(conn: sqlite3.Connection, *, run_id: str, domain: str, space_signature: str,
                      payload: dict[str, Any], key: str) -> int | None:
        """Append a run's result; return its seq, or None when a result with the same key exists."""
        row = conn.execute("SELECT run_id FROM results WHERE key = ?", (key,)).fetchone()
        if row is not None:
            if row["run_id"] != run_id:
                raise UsageError(f"result key {key!r} already names a result of run {row['run_id']}",
                                 "use a key unique to this run and result")
            return None
        after = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        cur = conn.execute(
            "INSERT INTO results (ts, run_id, domain, space_signature, after_event, payload, key) "
            "VALUES (?,?,?,?,?,?,?)",
            (now_iso(), run_id, domain, space_signature, after,
             json.dumps(payload, allow_nan=False, sort_keys=True), key))
        return cur.lastrowid

    @staticmethod
    def check_key(conn: sqlite3.Connection, key: str | None, mechanism_id: str, kind: str) -> bool:
        """True when `key` already names an event; a key reused for another mechanism or kind is a bug."""
        if key is None:
            return False
        row = conn.execute("SELECT mechanism_id, kind FROM events WHERE key = ?", (key,)).fetchone()
        if row is None:
            return False
        if (row["mechanism_id"], row["kind"]) != (mechanism_id, kind):
            raise UsageError(f"event key {key!r} already names a {row['kind']} event of mechanism "
                             f"{row['mechanism_id'][:12]}", "use a key unique to this mechanism and event")
        return True

    @staticmethod
    def claim_run(conn: sqlite3.Connection, run_id: str, *, token: str | None, domain: str | None,
                  space_signature: str | None, space_shape: str | None) -> tuple[str, int]:
        """Enter a new run: (its id, its horizon). The id is run_id, or run_id-2, -3, ... when an earlier
        run (claimed or only named by events) has it; the horizon is the last event's seq now. A claim
        with the token of an earlier one whose run wrote nothing yet (it was stopped before it started)
        is that claim again."""
        if token is not None:
            for row in conn.execute("SELECT run_id, horizon FROM runs WHERE token = ? ORDER BY rowid DESC", (token,)):
                claimed = row["run_id"]
                suffix = claimed.removeprefix(f"{run_id}-")
                if (claimed == run_id or (suffix != claimed and suffix.isdigit())) and conn.execute(
                        "SELECT 1 FROM events WHERE run_id = ? LIMIT 1", (claimed,)).fetchone() is None:
                    return claimed, int(row["horizon"])
        for n in range(1, MAX_CLAIM_TRIES + 1):
            candidate = run_id if n == 1 else f"{run_id}-{n}"
            taken = conn.execute("SELECT 1 FROM runs WHERE run_id = ? UNION ALL SELECT 1 FROM events WHERE run_id = ? "
                                 "LIMIT 1", (candidate, candidate)).fetchone()
            if taken is None:
                break
        else:
            raise UsageError(f"run id {run_id} is taken {MAX_CLAIM_TRIES} times over in this archive",
                             "give the run another name (--run-dir)")
        horizon = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        conn.execute("INSERT INTO runs (run_id, claimed, token, domain, space_signature, space_shape, horizon) "
                     "VALUES (?,?,?,?,?,?,?)", (candidate, now_iso(), token, domain, space_signature, space_shape,
                                                horizon))
        return candidate, int(horizon)

    # ---- reads --------------------------------------------------------------------------------
    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def ids_with_prefix(self, prefix: str) -> list[str]:
        rows = self.query("SELECT id FROM mechanisms WHERE substr(id, 1, ?) = ? ORDER BY rowid LIMIT 11",
                          (len(prefix), prefix))
        return [r["id"] for r in rows]

    def has(self, mechanism_id: str) -> bool:
        return bool(self.query("SELECT 1 FROM mechanisms WHERE id = ?", (mechanism_id,)))

    def events(self, mechanism_id: str | None = None, run_id: str | None = None, *, kind: str | None = None,
               up_to: int | None = None) -> list[ArchiveEvent]:
        sql = "SELECT * FROM events WHERE 1=1"
        params: list[str | int] = []
        if mechanism_id is not None:
            sql, params = sql + " AND mechanism_id = ?", [*params, mechanism_id]
        if run_id is not None:
            sql, params = sql + " AND run_id = ?", [*params, run_id]
        if kind is not None:
            sql, params = sql + " AND kind = ?", [*params, kind]
        if up_to is not None:
            sql, params = sql + " AND seq <= ?", [*params, up_to]
        return [event_from_row(r) for r in self.query(sql + " ORDER BY seq", tuple(params))]

    def results(self, domain: str, space_signature: str, *, horizon: int) -> list[RunResult]:
        """The results of `domain` on the space `space_signature` a run with this horizon reads, in order."""
        rows = self.query("SELECT * FROM results WHERE domain = ? AND space_signature = ? AND after_event < ? "
                          "ORDER BY seq", (domain, space_signature, horizon))
        return [RunResult(seq=r["seq"], run_id=r["run_id"], domain=r["domain"], space_signature=r["space_signature"],
                          payload=parse_payload(r["payload"], f"the payload of result #{r['seq']}")) for r in rows]

    def parents_map(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for r in self.query("SELECT child, parent FROM edges ORDER BY child, position"):
            out.setdefault(r["child"], []).append(r["parent"])
        return {k: tuple(v) for k, v in out.items()}


def event_from_row(row: sqlite3.Row) -> ArchiveEvent:
    try:
        return ArchiveEvent(seq=row["seq"], ts=row["ts"], mechanism_id=row["mechanism_id"], run_id=row["run_id"],
                            kind=row["kind"], status=row["status"], reason=row["reason"],
                            payload=json.loads(row["payload"]))
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        raise EvolveError(f"archive event #{row['seq']} is corrupted: {str(exc).splitlines()[0]}",
                          "run `evolve archive verify` to list every problem") from None


def parse_payload(raw: str, whose: str) -> dict[str, Any]:
    """A stored payload (a JSON object); `whose` names it in the error ("an event payload of mechanism ...")."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise EvolveError(f"{whose} is corrupted",
                          "run `evolve archive verify` to list every problem")
    return data


def newer_format(where: Path, version: int) -> UsageError:
    return UsageError(
        f"archive {where} was written by a newer Bilevel Evolve (format {version}; this version reads "
        f"format {FORMAT_VERSION})", "upgrade Bilevel Evolve, or pass another --archive directory")


@contextmanager
def _setup_lock(path: Path) -> Iterator[None]:
    try:
        fh = open(f"{path}{LOCK_SUFFIX}", "a+b")  # noqa: SIM115 - held across the yield
    except OSError:  # a read-only archive: nobody can be converting it
        yield
        return
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield


def _triggers() -> list[str]:
    return [f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'the archive is append-only'); END"
            for table in _APPEND_ONLY for op in ("UPDATE", "DELETE")]
