"""The store's tables and how an older file is brought to them.

Kept apart from the code that opens the file so that a schema change is one place to read:
a new table or column is a new step at the end of :data:`MIGRATIONS`.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from edge_agent.errors import StoreSchemaError

log = logging.getLogger("edge_agent.store")  # one logger name for the whole store

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS vendor_state (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    dedupe_key TEXT,
    item TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_by_name ON queue (queue, id);
CREATE TABLE IF NOT EXISTS seen_keys (
    queue TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (queue, dedupe_key)
);
CREATE TABLE IF NOT EXISTS journal (
    action_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    received REAL NOT NULL,
    updated REAL NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS journal_by_state ON journal (state, received);
"""

SCHEMA_VERSION = 1
"""The schema this code reads and writes, kept in the file as ``PRAGMA user_version``."""

MIGRATIONS: list[tuple[str, ...]] = [
    # 0 -> 1: the tables of the first release. A version-0 file is either new (empty) or made
    # by a release before schema versions, which had exactly these tables: CREATE ... IF NOT
    # EXISTS builds the one and leaves the other's data as it is.
    tuple(statement.strip() for statement in SCHEMA.split(";") if statement.strip()),
]
"""``MIGRATIONS[n]`` takes a store from version n to n + 1: SQL statements run in one
transaction with the new ``user_version``, so a crash leaves the old version or the new one.
To change the schema, append a step and raise :data:`SCHEMA_VERSION` (``len(MIGRATIONS)``)."""
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(path: Path, db: sqlite3.Connection) -> None:
    """Bring a store of an older schema to :data:`SCHEMA_VERSION`; refuse a newer one."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise StoreSchemaError(
            f"the store {path} has schema version {version}, newer than this edge-agent "
            f"understands ({SCHEMA_VERSION}): it was written by a newer release. Run that release, "
            "or move the file away to start afresh (its journal is then forgotten)"
        )
    if version == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for step in MIGRATIONS[version:]:
            for statement in step:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    log.info("the store %s was migrated from schema version %d to %d", path, version, SCHEMA_VERSION)
