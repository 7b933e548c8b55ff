"""Repair what a killed writer can leave behind, under the archive's write lock.

Two states are possible after a kill: a temp directory that was never renamed (garbage: removed),
or a complete object renamed into place whose index rows were rolled back (adopted: its record.json
says everything the `archived` event needs). Anything that does not check out is left for `verify`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from bilevel_evolve.ground.contract.source import sha256_hex
from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.mechanism_archive.index import Index
from bilevel_evolve.mechanism_archive.models import RecordFile
from bilevel_evolve.mechanism_archive.store import ID_RE, ObjectStore


@dataclass(frozen=True)
class Recovery:
    temp_removed: int = 0
    adopted: tuple[str, ...] = ()


def recover(index: Index, store: ObjectStore) -> Recovery:
    try:
        with index.write() as conn:
            removed = store.clear_temp()
            adopted = _adopt_orphans(conn, index, store)
    except sqlite3.OperationalError as exc:
        if "readonly" in str(exc) or "read-only" in str(exc):
            return Recovery()  # a read-only archive can still be listed and verified
        raise
    return Recovery(temp_removed=removed, adopted=adopted)


def _adopt_orphans(conn: sqlite3.Connection, index: Index, store: ObjectStore) -> tuple[str, ...]:
    known = {r["id"] for r in conn.execute("SELECT id FROM mechanisms")}
    orphans: list[RecordFile] = []
    for name, path in store.iter_entries():
        if name in known or not ID_RE.match(name) or not path.is_dir():
            continue
        try:
            record = store.read_record(name)
            intact = sha256_hex(store.read_source(name)) == name == record.id
        except EvolveError:
            continue
        if intact:
            orphans.append(record)
    adopted: list[str] = []
    # Parents are archived before their children; adopt oldest first so links resolve.
    for record in sorted(orphans, key=lambda r: r.created):
        if not all(p in known for p in record.parents):
            continue
        index.insert_mechanism(conn, record)
        index.insert_event(conn, mechanism_id=record.id, run_id=record.run_id, kind="archived",
                           status=record.status, reason=record.reason, payload={"reused": False, "recovered": True})
        known.add(record.id)
        adopted.append(record.id)
    return tuple(adopted)
