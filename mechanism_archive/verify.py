"""`verify`: recompute every hash, check every record, parent link and event; list what is wrong.

It runs under the archive's write lock (when the archive is writable) so a concurrent add cannot
show up half-done as an "unindexed object".
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Protocol

from bilevel_evolve.ground.contract.source import sha256_hex
from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.mechanism_archive.index import Index
from bilevel_evolve.mechanism_archive.layout import read_format_version
from bilevel_evolve.mechanism_archive.lineage import find_cycle
from bilevel_evolve.mechanism_archive.models import EVENT_KINDS, FORMAT_VERSION, STATUSES, VerifyProblem, VerifyReport
from bilevel_evolve.mechanism_archive.store import ID_RE, RECORD_FILE, REPORT_FILES, SOURCE_FILE, ObjectStore

_OBJECT_FILES = {SOURCE_FILE, RECORD_FILE, *REPORT_FILES.values()}


def verify_archive(root: Path, index: Index, store: ObjectStore) -> VerifyReport:
    problems: list[VerifyProblem] = []

    def bad(kind: str, detail: str, mid: str | None = None) -> None:
        problems.append(VerifyProblem(kind=kind, detail=detail, mechanism_id=mid))

    try:
        version = read_format_version(root)
        if version != FORMAT_VERSION:
            bad("format", f"archive.json says format {version}, this version reads {FORMAT_VERSION}")
    except EvolveError as exc:
        bad("format", exc.problem)
    with _locked(index):
        integrity = [r[0] for r in index.query("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            bad("index", "sqlite integrity_check: " + "; ".join(integrity[:5]))
        rows = index.query("SELECT id, name, class_name, origin, run_id FROM mechanisms ORDER BY rowid")
        parents = index.parents_map()
        events = index.query("SELECT seq, mechanism_id, kind, status, payload FROM events ORDER BY seq")
        ids = {r["id"] for r in rows}
        for row in rows:
            _check_object(store, row, parents.get(row["id"], ()), bad)
        for child, links in parents.items():
            if child not in ids:
                bad("broken-parent-link", "a parent link belongs to an unknown mechanism", child)
            for parent in links:
                if parent not in ids:
                    bad("broken-parent-link", f"parent {parent[:12]} is not in the archive", child)
        cycle = find_cycle(parents)
        if cycle:
            bad("parent-cycle", " -> ".join(c[:12] for c in cycle))
        _check_events(events, ids, bad)
        for result in index.query("SELECT seq, payload FROM results ORDER BY seq"):
            if not _json_object(result["payload"]):
                bad("bad-result", f"result #{result['seq']} payload is not a JSON object")
        for name, path in store.iter_entries():
            if not (ID_RE.match(name) and path.parent.name == name[:2] and path.is_dir()):
                bad("stray-entry", f"{path.relative_to(root)} is not an object directory")
            elif name not in ids:
                bad("unindexed-object", f"{path.relative_to(root)} has no index entry", name)
    return VerifyReport(mechanisms=len(rows), events=len(events), problems=tuple(problems))


def _check_object(store: ObjectStore, row: sqlite3.Row, links: tuple[str, ...], bad: _Bad) -> None:
    mid = row["id"]
    if not ID_RE.match(mid):
        bad("bad-id", f"index id {mid[:20]!r} is not a SHA-256 hex digest", mid)
        return
    path = store.path(mid)
    if not path.is_dir():
        bad("missing-object", f"object directory {path.name[:12]}… is missing", mid)
        return
    for extra in sorted(p.name for p in path.iterdir() if p.name not in _OBJECT_FILES):
        bad("stray-entry", f"unexpected file {extra} in the object directory", mid)
    try:
        digest = sha256_hex(store.read_source(mid))
        if digest != mid:
            bad("tampered-source", f"source.py hashes to {digest[:12]}, not to its id", mid)
    except EvolveError as exc:
        bad("missing-source", exc.problem, mid)
    try:
        record = store.read_record(mid)
    except EvolveError as exc:
        bad("bad-record", exc.problem, mid)
    else:
        expected = {"id": mid, "source_sha256": mid, "parents": links, "name": row["name"],
                    "class_name": row["class_name"], "origin": row["origin"], "run_id": row["run_id"]}
        for field, want in expected.items():
            if getattr(record, field) != want:
                bad("bad-record", f"record.json {field} disagrees with the index", mid)
    for which in REPORT_FILES:
        try:
            store.read_report(mid, which)
        except EvolveError as exc:
            bad("bad-report", exc.problem, mid)


def _check_events(events: list[sqlite3.Row], ids: set[str], bad: _Bad) -> None:
    archived: set[str] = set()
    for ev in events:
        mid, where = ev["mechanism_id"], f"event #{ev['seq']}"
        if mid not in ids:
            bad("orphan-event", f"{where} refers to unknown mechanism {str(mid)[:12]}")
        if ev["kind"] not in EVENT_KINDS:
            bad("bad-event", f"{where} has unknown kind {ev['kind']!r}", mid)
        if ev["status"] is not None and ev["status"] not in STATUSES:
            bad("bad-event", f"{where} has unknown status {ev['status']!r}", mid)
        if ev["kind"] == "archived":
            archived.add(mid)
        if not _json_object(ev["payload"]):
            bad("bad-event", f"{where} payload is not a JSON object", mid)
    for mid in sorted(ids - archived):
        bad("bad-event", "no `archived` event", mid)


def _json_object(raw: object) -> bool:
    try:
        return isinstance(json.loads(raw), dict)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


@contextmanager
def _locked(index: Index) -> Iterator[None]:
    with ExitStack() as stack:
        try:
            stack.enter_context(index.write())
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc) and "read-only" not in str(exc):
                raise
            stack.enter_context(index.snapshot())
        yield


class _Bad(Protocol):
    def __call__(self, kind: str, detail: str, mid: str | None = None) -> None: ...
