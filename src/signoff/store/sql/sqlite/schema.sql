-- signoff schema for SQLite: what a new database is created with (the version is the number of
-- the last file in migrations/, set in PRAGMA user_version). A database made by an older signoff
-- gets the migrations instead; tests/migration checks that both end with the same schema.
--
-- Tickets keep their queryable fields as columns and the whole record as JSON (body).
-- Differences from the PostgreSQL schema, each on purpose: times are REAL unix seconds (SQLite
-- has no timestamp type) and booleans INTEGER; insertion order is the rowid (PostgreSQL: pos);
-- a state over 2048 bytes lives in ticket_states (an UPDATE rewrites a whole SQLite row, so a
-- decision would otherwise write the state again; PostgreSQL's TOAST leaves it where it is);
-- the audit chain is appended by the store in Python (PostgreSQL: signoff_append).

CREATE TABLE tickets (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,            -- approval | notification | suggestion
    status          TEXT NOT NULL,
    agent           TEXT NOT NULL,
    action          TEXT NOT NULL,
    group_key       TEXT NOT NULL,
    batch_id        TEXT,
    idempotency_key TEXT,                     -- unique per agent (tickets_agent_idempotency)
    tier            TEXT,
    deadline        REAL,                     -- unix seconds; NULL when not pending
    created_at      REAL NOT NULL,
    decided_at      REAL,
    body            TEXT NOT NULL,            -- the Ticket as JSON
    state_kind      TEXT,                     -- json | bytes | NULL: a state of up to 2048 bytes
    state           BLOB
);
CREATE INDEX tickets_status_deadline ON tickets (status, deadline);
CREATE INDEX tickets_agent_status ON tickets (agent, status);
CREATE INDEX tickets_group_status ON tickets (group_key, status);
CREATE INDEX tickets_batch ON tickets (batch_id);
CREATE INDEX tickets_kind_created ON tickets (kind, created_at);
CREATE UNIQUE INDEX tickets_agent_idempotency ON tickets (agent, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- A state larger than 2048 bytes, out of the ticket row.
CREATE TABLE ticket_states (ticket_id TEXT PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL);

CREATE TABLE reviewers (
    name          TEXT PRIMARY KEY,
    tier          TEXT,
    password_hash TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0,
    email         TEXT,                       -- where the email channel reaches them; one reviewer each
    slack_id      TEXT                        -- their Slack user id (U123...); one reviewer each
);
CREATE UNIQUE INDEX reviewers_email ON reviewers (email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX reviewers_slack_id ON reviewers (slack_id) WHERE slack_id IS NOT NULL;

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,                 -- agent | reviewer
    name       TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);

-- Fingerprints humans have approved: those actions are no longer novel.
CREATE TABLE fingerprints (
    fingerprint TEXT PRIMARY KEY,
    ticket_id   TEXT,
    learnt_at   REAL NOT NULL
);

-- 'mode' (the mode in force) and 'audit_head' ('<seq>:<hash>' of the last audit entry,
-- written in the same transaction as the entry: a deletion at the tail shows).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT
);

-- The hash chain (signoff.audit).
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    ticket_id TEXT,
    actor     TEXT NOT NULL,
    data      TEXT NOT NULL,                  -- JSON, exactly as hashed
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_ticket ON audit (ticket_id);
-- The entries of requests a standing approval let through, by allowance: their uses (allowance_uses).
CREATE INDEX audit_allowance_used ON audit (json_extract(data, '$.allowance_id'), at)
    WHERE kind = 'allowance_used';

-- Standing approvals (signoff._allowances): one agent (NULL: any) may repeat one action without
-- asking, within the body's CEL condition, until expires_at (NULL: until revoked) or revoked_at.
CREATE TABLE allowances (
    id         TEXT PRIMARY KEY,
    action     TEXT NOT NULL,
    agent      TEXT,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL,
    body       TEXT NOT NULL
);
CREATE INDEX allowances_created ON allowances (created_at);

-- A logged-out inbox session (by the SHA-256 of its id), kept until its cookie would have expired.
CREATE TABLE revoked_sessions (sid_hash TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE INDEX revoked_sessions_expiry ON revoked_sessions (expires_at);

-- Notifications (signoff.notify): one row per notification per channel, expanded from the audit log
-- (the outbox record of each ticket event) past settings.outbox_cursor; delivered at least once.
CREATE TABLE notifications (
    id           TEXT PRIMARY KEY,             -- the event id: the receivers' idempotency key
    event        TEXT NOT NULL,                -- ticket.created | ticket.decided | ...
    channel      TEXT NOT NULL,                -- the channel's name in the policy
    ticket_id    TEXT NOT NULL,
    coalesce_key TEXT,                         -- similar tickets on one channel (NULL: sent alone)
    created_at   REAL NOT NULL,
    due_at       REAL NOT NULL,                -- not before: a coalescing hold, a warning's time, a backoff
    status       TEXT NOT NULL,                -- pending | delivered | failed | skipped
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_until  REAL,                         -- a deliverer holds the row until then
    delivered_at REAL,
    message_id   TEXT,                         -- the row whose message carried this one (coalesced)
    ref          TEXT,                         -- the channel's handle to edit the message later
    detail       TEXT NOT NULL DEFAULT '',     -- "posted to #approvals", or the last error
    extra        TEXT NOT NULL DEFAULT '{}'    -- JSON: escalated_to, ...
);
CREATE INDEX notifications_due ON notifications (status, due_at);
CREATE INDEX notifications_ticket ON notifications (ticket_id, channel);
