-- signoff schema for PostgreSQL, version 6 -> 7: grouped commits (issue 14).
-- One row per database session (its backend pid), rewritten by the durable commit that follows
-- each write transaction committed with synchronous_commit off (store/_pg_tx.py): that small
-- commit waits for the WAL flush that covers the transaction before it, so the audit chain's lock
-- is released before the disk flush, and concurrent writers share one flush instead of queueing
-- one flush each behind the lock. A session writes only its own row: no two sessions wait on
-- each other here.

CREATE TABLE IF NOT EXISTS commit_flush (
    pid integer PRIMARY KEY,
    n   bigint NOT NULL
);
