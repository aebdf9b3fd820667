-- signoff schema for SQLite, version 2 -> 3.
-- Idempotency keys belong to one agent, so another agent can neither squat a key nor learn
-- which keys were used: the column's UNIQUE becomes a unique index on (agent, idempotency_key).
-- SQLite cannot drop a column constraint, so the table is rebuilt, keeping every rowid (the
-- order of tickets created at the same instant). Existing keys were unique on their own, so
-- they are unique per agent too. And logouts move from a server's memory to the store.

CREATE TABLE tickets_v3 (id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
    agent TEXT NOT NULL, action TEXT NOT NULL, group_key TEXT NOT NULL, batch_id TEXT, idempotency_key TEXT,
    tier TEXT, deadline REAL, created_at REAL NOT NULL, decided_at REAL, body TEXT NOT NULL, state_kind TEXT,
    state BLOB);
INSERT INTO tickets_v3 (rowid, id, kind, status, agent, action, group_key, batch_id, idempotency_key, tier,
    deadline, created_at, decided_at, body, state_kind, state)
SELECT rowid, id, kind, status, agent, action, group_key, batch_id, idempotency_key, tier, deadline, created_at,
    decided_at, body, state_kind, state
FROM tickets ORDER BY rowid;
DROP TABLE tickets;
ALTER TABLE tickets_v3 RENAME TO tickets;
CREATE INDEX tickets_status_deadline ON tickets (status, deadline);
CREATE INDEX tickets_agent_status ON tickets (agent, status);
CREATE INDEX tickets_group_status ON tickets (group_key, status);
CREATE INDEX tickets_batch ON tickets (batch_id);
CREATE INDEX tickets_kind_created ON tickets (kind, created_at);
CREATE UNIQUE INDEX tickets_agent_idempotency ON tickets (agent, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- A logged-out inbox session (by the SHA-256 of its id), kept until its cookie would have expired.
CREATE TABLE revoked_sessions (sid_hash TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE INDEX revoked_sessions_expiry ON revoked_sessions (expires_at);
