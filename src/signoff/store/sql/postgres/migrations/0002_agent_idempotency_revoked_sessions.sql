-- signoff schema for PostgreSQL, version 1 -> 2. Run by PostgresStore.open() in one transaction,
-- under the migration advisory lock (servers starting at once migrate once).

-- Idempotency keys belong to one agent: another agent can neither squat a key (making the
-- owner's submissions fail) nor learn which keys were used. The column's UNIQUE constraint
-- becomes a unique index on (agent, idempotency_key). Existing keys were unique on their own,
-- so they are unique per agent too: the index builds on any existing data.
ALTER TABLE tickets DROP CONSTRAINT IF EXISTS tickets_idempotency_key_key;
CREATE UNIQUE INDEX IF NOT EXISTS tickets_agent_idempotency ON tickets (agent, idempotency_key);

-- Logged-out inbox sessions (by the SHA-256 of the session id), kept until the cookie would have
-- expired, so a logout on one server holds on every server and across restarts.
CREATE TABLE IF NOT EXISTS revoked_sessions (
    sid_hash   text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS revoked_sessions_expiry ON revoked_sessions (expires_at);
