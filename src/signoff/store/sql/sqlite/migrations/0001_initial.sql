-- signoff schema for SQLite, version 1, as first released. Frozen: a database made by that
-- version is brought forward by the migrations that follow; a new database is created from
-- ../schema.sql (tests/migration checks that both give the same schema).

CREATE TABLE IF NOT EXISTS tickets (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,            -- approval | notification | suggestion
    status          TEXT NOT NULL,
    agent           TEXT NOT NULL,
    action          TEXT NOT NULL,
    group_key       TEXT NOT NULL,
    batch_id        TEXT,
    idempotency_key TEXT UNIQUE,
    tier            TEXT,
    deadline        REAL,                     -- unix seconds; NULL when not pending
    created_at      REAL NOT NULL,
    decided_at      REAL,
    body            TEXT NOT NULL,            -- the Ticket as JSON
    state_kind      TEXT,                     -- json | bytes | NULL
    state           BLOB
);
CREATE INDEX IF NOT EXISTS tickets_status_deadline ON tickets (status, deadline);
CREATE INDEX IF NOT EXISTS tickets_agent_status ON tickets (agent, status);
CREATE INDEX IF NOT EXISTS tickets_group_status ON tickets (group_key, status);
CREATE INDEX IF NOT EXISTS tickets_batch ON tickets (batch_id);
CREATE INDEX IF NOT EXISTS tickets_kind_created ON tickets (kind, created_at);

CREATE TABLE IF NOT EXISTS reviewers (
    name          TEXT PRIMARY KEY,
    tier          TEXT,
    password_hash TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,                 -- agent | reviewer
    name       TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS fingerprints (
    fingerprint TEXT PRIMARY KEY,
    ticket_id   TEXT,
    learnt_at   REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT
);

CREATE TABLE IF NOT EXISTS audit (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    ticket_id TEXT,
    actor     TEXT NOT NULL,
    data      TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_ticket ON audit (ticket_id);
