"""The archive's API: add candidates (accepted or not), record statuses and effects, read lineage.

A mechanism's source is untrusted data here: it is stored and displayed, never imported. It arrives
as a MechanismSource, whose SHA-256 is its id, and leaves as one (`source`) for the mechanism host.
"""

from __future__ import annotations

import builtins  # Archive.list shadows the builtin in the class body's annotations
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bilevel_evolve.ground.contract.interface import MAX_SOURCE_BYTES
from bilevel_evolve.ground.contract.source import MechanismSource, SourceTooLarge, sha256_hex
from bilevel_evolve.ground.errors import EvolveError, UsageError
from bilevel_evolve.ground.untrusted import clean_text, fit_text
from bilevel_evolve.mechanism_archive.effects import Scope, by_mechanism, estimates, measurements
from bilevel_evolve.mechanism_archive.index import INDEX_FILE, Index, event_from_row, now_iso, parse_payload
from bilevel_evolve.mechanism_archive.layout import prepare_root, read_format_version, write_marker
from bilevel_evolve.mechanism_archive.lineage import build_lineage, depths
from bilevel_evolve.mechanism_archive.models import (
    FORMAT_VERSION,
    MIN_PREFIX,
    ORIGINS,
    STATUSES,
    ArchiveEvent,
    EffectEstimate,
    Lineage,
    MechanismRecord,
    MechanismSummary,
    RecordFile,
    RunClaim,
    RunResult,
    Status,
    VerifyReport,
    json_safe,
)
from bilevel_evolve.mechanism_archive.recovery import Recovery, recover
from bilevel_evolve.mechanism_archive.store import ObjectStore, corrupt

_HEX = re.compile(r"^[0-9a-f]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
MAX_NAME = 200
MAX_REASON = 8_000  # a reason is often a mechanism's own words (an exception text, a rejection)
LIST_HINT = "list the ids with `evolve archive list`"
_TAMPERED = "source.py does not hash to its id (tampered?)"

_SUMMARY_SQL = """
SELECT m.id, m.name, m.class_name, m.origin, m.created, m.run_id AS first_run,
       s.status, s.run_id AS status_run, s.reason, e.payload AS effect, e.run_id AS effect_run
FROM mechanisms m
LEFT JOIN events s ON s.seq = (SELECT MAX(seq) FROM events WHERE mechanism_id = m.id AND status IS NOT NULL)
LEFT JOIN events e ON e.seq = (SELECT MAX(seq) FROM events WHERE mechanism_id = m.id AND kind = 'effect')
"""


class Archive:
    """One archive directory. Safe to share between processes; one instance is safe across threads."""

    def __init__(self, root: Path, index: Index, store: ObjectStore, recovery: Recovery) -> None:
        self.root = root
        self.recovery = recovery
        self._index = index
        self._store = store

    @classmethod
    def open(cls, path: Path | str, *, create: bool = False, recover_now: bool = True) -> Archive:
        """Open (or with create=True, create) an archive; by default clean up after a killed writer."""
        root = Path(path)
        prepare_root(root, create=create)
        index = Index(root / INDEX_FILE)  # migrates an index of an older format in place
        if read_format_version(root) < FORMAT_VERSION:
            write_marker(root)  # after the index: a crash in between leaves a marker the next open rewrites
        store = ObjectStore(root)
        recovery = recover(index, store) if recover_now else Recovery()
        return cls(root, index, store, recovery)

    def close(self) -> None:
        self._index.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- writing --------------------------------------------------------------------------------
    def add(self, source: MechanismSource, *, name: str, class_name: str, origin: str,
            parents: tuple[str, ...] | list[str] = (), run_id: str, session: Mapping[str, Any] | None = None,
            gate_report: Mapping[str, Any] | BaseModel | None = None,
            box_report: Mapping[str, Any] | BaseModel | None = None, status: str, reason: str = "",
            key: str | None = None) -> MechanismRecord:
        """Archive a vetted candidate (whatever its verdict) and log an `archived` event for this run.

        The same source added again reuses the stored object (its first record stays) and logs a new
        event carrying this add's name, parents, session and reports. `key` makes the call idempotent:
        a second call with the same key (e.g. after resume) logs nothing.
        """
        try:
            source.text()
        except UnicodeDecodeError as exc:
            raise UsageError(f"mechanism source is not UTF-8 ({exc.reason} at byte {exc.start})",
                             "mechanisms are UTF-8 Python source") from None
        _check_choice("origin", origin, ORIGINS)
        _check_choice("status", status, STATUSES)
        run_id = _require_text("run_id", run_id)
        resolved = tuple(dict.fromkeys(self.resolve(p) for p in parents))
        ctx = {"session": json_safe(dict(session or {}), "session"),
               "gate": _report(gate_report, "gate_report"), "box": _report(box_report, "box_report")}
        mid = source.sha256
        record = RecordFile(id=mid, source_sha256=mid, source_bytes=source.size, name=_clean(name, "name"),
                            class_name=_clean(class_name, "class_name"), origin=origin, parents=resolved,  # type: ignore[arg-type]
                            created=now_iso(), run_id=run_id, status=status,  # type: ignore[arg-type]
                            reason=fit_text(reason, MAX_REASON),
                            session=ctx["session"])
        with self._index.write() as conn:
            if not self._index.check_key(conn, key, mid, "archived"):  # else: recorded before (a resumed session)
                self._store_and_index(conn, source.data, record, ctx, key)
        return self.get(mid)

    def _store_and_index(self, conn: sqlite3.Connection, data: bytes, record: RecordFile, ctx: dict[str, Any],
                         key: str | None) -> None:
        reused = not self._store.write(data, record, {"gate": ctx["gate"], "box": ctx["box"]})
        # A reused object keeps its first record, so the index must agree with that one.
        self._index.insert_mechanism(conn, self._store.read_record(record.id) if reused else record)
        payload: dict[str, Any] = {"reused": reused}
        if reused:
            payload |= {"name": record.name, "class_name": record.class_name, "origin": record.origin,
                        "parents": list(record.parents), "session": ctx["session"],
                        "gate_report": ctx["gate"], "box_report": ctx["box"]}
        self._index.insert_event(conn, mechanism_id=record.id, run_id=record.run_id, kind="archived",
                                 status=record.status, reason=record.reason, payload=payload, key=key)

    def set_status(self, mechanism_id: str, status: str, *, run_id: str, reason: str = "",
                   key: str | None = None) -> ArchiveEvent | None:
        """Record a status change of a mechanism in one run (statuses are per run)."""
        _check_choice("status", status, STATUSES)
        return self._append(mechanism_id, run_id, "status", status=status, reason=reason, key=key)

    def record_effect(self, mechanism_id: str, *, run_id: str, effect: Mapping[str, Any] | BaseModel,
                      key: str | None = None) -> ArchiveEvent | None:
        """Record a mechanism's measured effect on a run, e.g. {before, after, window, delta, verdict}."""
        return self._append(mechanism_id, run_id, "effect", payload=_report(effect, "effect"), key=key)

    def record_hook_stats(self, mechanism_id: str, *, run_id: str, stats: Mapping[str, Any] | BaseModel,
                          key: str | None = None) -> ArchiveEvent | None:
        """Record per-hook call and changed-decision counts of a mechanism in one run."""
        return self._append(mechanism_id, run_id, "hook_stats", payload=_report(stats, "stats"), key=key)

    def _append(self, mechanism_id: str, run_id: str, kind: str, *, status: str | None = None, reason: str = "",
                payload: dict[str, Any] | None = None, key: str | None = None) -> ArchiveEvent | None:
        mid = self.resolve(mechanism_id)
        run_id = _require_text("run_id", run_id)
        with self._index.write() as conn:
            seq = self._index.insert_event(conn, mechanism_id=mid, run_id=run_id, kind=kind, status=status,
                                           reason=fit_text(reason, MAX_REASON), payload=payload, key=key)
        if seq is None:
            return None
        return event_from_row(self._index.query("SELECT * FROM events WHERE seq = ?", (seq,))[0])

    def record_result(self, run_id: str, scope: Scope, result: Mapping[str, Any], *, key: str) -> int | None:
        """Record what run `run_id` found in its task (e.g. {"direction", "points": [{"params", "value"}]}), for
        the runs whose horizon lies past the next event; `key` makes it idempotent (a resumed run records nothing)."""
        run_id = _require_text("run_id", run_id)
        payload = _report(result, "result") or {}
        with self._index.write() as conn:
            return self._index.insert_result(conn, run_id=run_id, domain=scope.domain,
                                             space_signature=scope.signature, payload=payload, key=key)

    def results(self, scope: Scope, *, horizon: int) -> builtins.list[RunResult]:
        """The results recorded in `scope` that a run with this horizon may recall (index.py says which)."""
        return self._index.results(scope.domain, scope.signature, horizon=horizon)

    def claim_run(self, run_id: str, *, scope: Scope | None = None, token: str | None = None) -> RunClaim:
        """Enter a run that is about to start: its id here (run_id, or run_id-2, ... when an earlier run had
        it) and its horizon (the last event now: what this run may read as earlier runs' evidence). `token`
        names the run where it lives (its directory): a run stopped before it wrote anything and started
        again gets its first claim back."""
        run_id = _require_text("run_id", run_id)
        with self._index.write() as conn:
            claimed, horizon = self._index.claim_run(
                conn, run_id, token=token, domain=scope.domain if scope else None,
                space_signature=scope.signature if scope else None, space_shape=scope.shape if scope else None)
        return RunClaim(run_id=claimed, horizon=horizon)

    # ---- reading --------------------------------------------------------------------------------
    def resolve(self, id_or_prefix: str) -> str:
        """The full id for a full id or a unique prefix of at least 6 hex characters."""
        text = str(id_or_prefix).strip().lower()
        if not _HEX.match(text) or len(text) > 64:
            raise UsageError(f"{id_or_prefix!r} is not a mechanism id (hexadecimal SHA-256)", LIST_HINT)
        if len(text) < MIN_PREFIX:
            raise UsageError(f"mechanism id prefix {text!r} is too short",
                             f"give at least {MIN_PREFIX} characters; {LIST_HINT}")
        matches = self._index.ids_with_prefix(text)
        if not matches:
            raise UsageError(f"no mechanism {text} in archive {self.root}", LIST_HINT)
        if len(matches) > 1:
            shown = ", ".join(m[:16] for m in matches[:10])
            raise UsageError(f"mechanism id prefix {text} is ambiguous: {shown}", "give more characters of the id")
        return matches[0]

    def __contains__(self, mechanism_id: object) -> bool:
        return isinstance(mechanism_id, str) and self._index.has(mechanism_id)

    def source(self, id_or_prefix: str) -> MechanismSource:
        """The exact source that was vetted, for a mechanism host; raises if it no longer hashes to its id."""
        mid = self.resolve(id_or_prefix)
        data = self._store.read_source(mid)
        try:
            source = MechanismSource(data)
        except SourceTooLarge:
            fix = f"`evolve archive show {mid[:12]}` shows it; `evolve archive verify` checks the archive"
            raise EvolveError(f"the stored source of mechanism {mid[:12]} is {len(data)} bytes, more than a "
                              f"mechanism may have ({MAX_SOURCE_BYTES}); it cannot be run", fix) from None
        if source.sha256 != mid:
            raise corrupt(mid, _TAMPERED)
        return source

    def _source_text(self, mid: str) -> str:
        """The stored source for display: any size (an archive from before the cap was enforced on
        entry may hold a rejected one past it), checked against its id."""
        data = self._store.read_source(mid)
        if sha256_hex(data) != mid:
            raise corrupt(mid, _TAMPERED)
        return data.decode("utf-8")

    def get(self, id_or_prefix: str) -> MechanismRecord:
        mid = self.resolve(id_or_prefix)
        with self._index.snapshot():
            summary = self._summaries(mid)[0]
            history = tuple(self._index.events(mechanism_id=mid))
        record = self._store.read_record(mid)
        if record.id != mid:
            raise corrupt(mid, f"record.json names another id ({record.id[:12]})")
        return MechanismRecord(summary=summary, record=record, source=self._source_text(mid),
                               gate_report=self._store.read_report(mid, "gate"),
                               box_report=self._store.read_report(mid, "box"), history=history)

    def list(self, *, run_id: str | None = None) -> list[MechanismSummary]:
        """Every mechanism in archive order (or those a run touched), with its latest status and effect."""
        summaries = self._summaries()
        if run_id is None:
            return summaries
        touched = {r["mechanism_id"] for r in self._index.query(
            "SELECT DISTINCT mechanism_id FROM events WHERE run_id = ?", (run_id,))}
        return [s for s in summaries if s.id in touched]

    def events(self, *, mechanism_id: str | None = None, run_id: str | None = None, kind: str | None = None,
               up_to: int | None = None) -> builtins.list[ArchiveEvent]:
        """Events in order, optionally of one mechanism, run or kind, and only up to seq `up_to`."""
        mid = self.resolve(mechanism_id) if mechanism_id is not None else None
        return self._index.events(mechanism_id=mid, run_id=run_id, kind=kind, up_to=up_to)

    def last_event(self) -> int:
        """The seq of the latest event (0 for an empty archive): a horizon for runs that start now."""
        return int(self._index.query("SELECT COALESCE(MAX(seq), 0) AS seq FROM events")[0]["seq"])

    def estimates(self, *, up_to: int | None = None) -> builtins.list[EffectEstimate]:
        """What the runs measured of every mechanism, per domain and space (mechanism_archive/effects.py),
        from the effects recorded up to seq `up_to` (a run's horizon), or from all of them."""
        return estimates(measurements(self._index.events(kind="effect", up_to=up_to)))

    def status_in_run(self, mechanism_id: str, run_id: str) -> Status | None:
        """The latest status a run gave this mechanism, or None if the run never touched it."""
        rows = self._index.query("SELECT status FROM events WHERE mechanism_id = ? AND run_id = ? AND status IS "
                                 "NOT NULL ORDER BY seq DESC LIMIT 1", (self.resolve(mechanism_id), run_id))
        return rows[0]["status"] if rows else None

    def children(self, mechanism_id: str) -> tuple[str, ...]:
        rows = self._index.query("SELECT e.child FROM edges e JOIN mechanisms m ON m.id = e.child "
                                 "WHERE e.parent = ? ORDER BY m.rowid", (self.resolve(mechanism_id),))
        return tuple(r["child"] for r in rows)

    def lineage(self, mechanism_id: str) -> Lineage:
        """Ancestors and descendants of a mechanism, with every edge among them."""
        mid = self.resolve(mechanism_id)
        with self._index.snapshot():
            summaries = {s.id: s for s in self._summaries()}
        return build_lineage(mid, summaries)

    def verify(self) -> VerifyReport:
        from bilevel_evolve.mechanism_archive.verify import verify_archive

        return verify_archive(self.root, self._index, self._store)

    def _summaries(self, mechanism_id: str | None = None) -> builtins.list[MechanismSummary]:
        sql = _SUMMARY_SQL
        params: tuple[str, ...] = ()
        if mechanism_id is not None:
            sql, params = sql + " WHERE m.id = ?", (mechanism_id,)
        try:
            rows = self._index.query(sql + " ORDER BY m.rowid", params)
        except sqlite3.DatabaseError as exc:
            raise corrupt("index", f"query failed: {exc}") from None
        parents = self._index.parents_map()
        generation = depths(parents)
        pooled = by_mechanism(estimates(measurements(self._index.events(mechanism_id=mechanism_id, kind="effect"))))
        out = []
        for r in rows:
            if r["status"] is None:
                raise corrupt(r["id"], "it has no status event in the index")
            effect = (parse_payload(r["effect"], f"an event payload of mechanism {r['id'][:12]}")
                      if r["effect"] is not None else None)
            out.append(MechanismSummary(
                id=r["id"], name=r["name"], class_name=r["class_name"], origin=r["origin"],
                parents=parents.get(r["id"], ()), created=r["created"], first_run=r["first_run"],
                status=r["status"], status_run=r["status_run"], reason=r["reason"], effect=effect,
                effect_run=r["effect_run"], estimates=pooled.get(r["id"], ()), generation=generation.get(r["id"], 0)))
        return out


def _check_choice(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"{field} {value!r} is not one of {', '.join(allowed)}", f"pass a valid {field}")


def _require_text(field: str, value: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise UsageError(f"{field} is empty", f"pass the {field} this record belongs to")
    return text


def _clean(value: str, field: str) -> str:
    """Display names come from generated code: collapse control characters, cap the length (and
    ground.untrusted takes care of what is left: surrogates, bidirectional overrides)."""
    text = clean_text(_CONTROL.sub(" ", str(value or "")), 4 * MAX_NAME, one_line=True).strip()[:MAX_NAME]
    if not text:
        raise UsageError(f"{field} is empty", f"pass the mechanism's {field}")
    return text


def _report(value: Mapping[str, Any] | BaseModel | None, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    # by alias: a report's JSON is what its model writes (e.g. a harness verdict's "schema", "class")
    data = json_safe(value.model_dump(mode="json", by_alias=True) if isinstance(value, BaseModel) else value, field)
    if not isinstance(data, dict):
        raise UsageError(f"{field} must be a JSON object, not {type(value).__name__}", f"pass a dict as {field}")
    return data
