-- signoff schema for PostgreSQL: what a new database is created with (its version is the number
-- of the last file in migrations/, recorded in schema_version). A database made by an older
-- signoff gets the migrations instead; tests/migration checks that both end with the same schema.
-- Applied by the store's open() under pg_advisory_lock, so several servers starting at once
-- create it exactly once.
--
-- Tickets keep their queryable fields as columns and the whole record as JSON text (body):
-- text, not jsonb, so the record reads back byte for byte as written (jsonb reorders keys and
-- normalises numbers). Cast with body::jsonb to query it by hand. See ../sqlite/schema.sql for
-- how the SQLite schema differs, on purpose.

CREATE TABLE IF NOT EXISTS tickets (
    id              text PRIMARY KEY,
    pos             bigint GENERATED ALWAYS AS IDENTITY,  -- insertion order: ties on created_at
    kind            text NOT NULL,            -- approval | notification | suggestion
    status          text NOT NULL,
    agent           text NOT NULL,
    action          text NOT NULL,
    group_key       text NOT NULL,
    batch_id        text,
    idempotency_key text,                     -- unique per agent (tickets_agent_idempotency)
    tier            text,
    deadline        timestamptz,              -- NULL when not pending
    created_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    body            text NOT NULL,            -- the Ticket as JSON
    state_kind      text,                     -- json | bytes | NULL
    state           bytea
);
-- The sweeper's query: pending tickets by deadline.
CREATE INDEX IF NOT EXISTS tickets_pending_deadline ON tickets (deadline) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS tickets_lease_deadline ON tickets (deadline) WHERE status = 'approved' AND deadline IS NOT NULL;
CREATE INDEX IF NOT EXISTS tickets_status_created ON tickets (status, created_at, pos);
CREATE INDEX IF NOT EXISTS tickets_agent_status ON tickets (agent, status);
CREATE INDEX IF NOT EXISTS tickets_group_status ON tickets (group_key, status);
CREATE INDEX IF NOT EXISTS tickets_batch ON tickets (batch_id);
CREATE INDEX IF NOT EXISTS tickets_kind_created ON tickets (kind, created_at, pos);
CREATE INDEX IF NOT EXISTS tickets_created ON tickets (created_at, pos);
CREATE UNIQUE INDEX IF NOT EXISTS tickets_agent_idempotency ON tickets (agent, idempotency_key);

CREATE TABLE IF NOT EXISTS reviewers (
    name          text PRIMARY KEY,
    tier          text,
    password_hash text,
    disabled      boolean NOT NULL DEFAULT false,
    email         text,                       -- where the email channel reaches them; one reviewer each
    slack_id      text                        -- their Slack user id (U123...); one reviewer each
);
CREATE UNIQUE INDEX IF NOT EXISTS reviewers_email ON reviewers (email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS reviewers_slack_id ON reviewers (slack_id) WHERE slack_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS tokens (
    token_hash text PRIMARY KEY,
    kind       text NOT NULL,                 -- agent | reviewer
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    revoked    boolean NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS fingerprints (
    fingerprint text PRIMARY KEY,
    ticket_id   text,
    learnt_at   timestamptz NOT NULL
);

-- Standing approvals (signoff._allowances): one agent (NULL: any) may repeat one action without
-- asking, within the body's CEL condition, until expires_at (NULL: until revoked) or revoked_at.
CREATE TABLE IF NOT EXISTS allowances (
    id         text PRIMARY KEY,
    action     text NOT NULL,
    agent      text,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz,
    body       text NOT NULL
);
CREATE INDEX IF NOT EXISTS allowances_created ON allowances (created_at);

-- Logged-out inbox sessions (by the SHA-256 of the session id), kept until the cookie would have
-- expired, so a logout on one server holds on every server and across restarts.
CREATE TABLE IF NOT EXISTS revoked_sessions (
    sid_hash   text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS revoked_sessions_expiry ON revoked_sessions (expires_at);

-- 'mode' (the mode in force) and 'audit_head' ('<seq>:<hash>' of the last audit entry,
-- written in the same transaction as the entry: a deletion at the tail shows).
CREATE TABLE IF NOT EXISTS settings (
    key   text PRIMARY KEY,
    value text
);

-- The hash chain: appended only through signoff_append below.
CREATE TABLE IF NOT EXISTS audit (
    seq       bigint PRIMARY KEY,
    at        text NOT NULL,
    kind      text NOT NULL,
    ticket_id text,
    actor     text NOT NULL,
    data      text NOT NULL,                  -- JSON, exactly as hashed
    prev_hash text NOT NULL,
    hash      text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_ticket ON audit (ticket_id);
-- The entries of requests a standing approval let through, by allowance: their uses (allowance_uses).
CREATE INDEX IF NOT EXISTS audit_allowance_used ON audit (((data::jsonb) ->> 'allowance_id'), at)
    WHERE kind = 'allowance_used';

-- Append entries to the chain at the very end of a write transaction, so the lock that
-- serialises appends is held only for this call and the COMMIT that follows it (never across
-- a round trip to the client). Under the lock, the head record and the last entry are read
-- with a fresh snapshot (a new statement in a VOLATILE function), so seq has no gaps and
-- entries commit in seq order. The next entry links to the head (signoff.audit.chain_end),
-- numbered past any row beyond it, so entries deleted from the end leave a gap that
-- ``signoff audit verify`` reports even after more are appended. Each hash is
-- signoff.audit.entry_hash: the client sends the entry's canonical JSON
-- in four pieces around the three values only known here (at, prev_hash, seq), and this
-- function joins them and hashes with SHA-256. Then the head record and the NOTIFY, both
-- effective at COMMIT; its payload is the last seq, then ``notify_tickets`` (the tickets the
-- entries concern, space-separated, or '*' for many) so that a listener can tell whether a
-- waiter of its own is concerned. Returns what was appended.
CREATE OR REPLACE FUNCTION signoff_append(
    lock_class integer, lock_key integer, kinds text[], ticket_ids text[], actors text[], datas text[],
    piece0 text[], piece1 text[], piece2 text[], piece3 text[], notify_tickets text)
RETURNS TABLE (entry_seq bigint, entry_at text, entry_prev text, entry_hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last_seq  bigint;
    last_hash text;
    head      text;
    now_at    text;
    new_hash  text;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_class, lock_key);
    SELECT a.seq, a.hash INTO last_seq, last_hash FROM audit a ORDER BY a.seq DESC LIMIT 1;
    SELECT s.value INTO head FROM settings s WHERE s.key = 'audit_head';
    IF coalesce(head, '') <> '' THEN
        last_seq := greatest(coalesce(last_seq, 0), split_part(head, ':', 1)::bigint);
        last_hash := split_part(head, ':', 2);
    ELSIF last_seq IS NULL THEN
        last_seq := 0;
        last_hash := repeat('0', 64);
    END IF;
    FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
        now_at := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"');
        new_hash := encode(sha256(convert_to(
            piece0[i] || now_at || piece1[i] || last_hash || piece2[i] || (last_seq + 1)::text || piece3[i],
            'UTF8')), 'hex');
        INSERT INTO audit (seq, at, kind, ticket_id, actor, data, prev_hash, hash)
        VALUES (last_seq + 1, now_at, kinds[i], ticket_ids[i], actors[i], datas[i], last_hash, new_hash);
        entry_seq := last_seq + 1;
        entry_at := now_at;
        entry_prev := last_hash;
        entry_hash := new_hash;
        RETURN NEXT;
        last_seq := last_seq + 1;
        last_hash := new_hash;
    END LOOP;
    INSERT INTO settings (key, value) VALUES ('audit_head', last_seq::text || ':' || last_hash)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
    PERFORM pg_notify('signoff', last_seq::text || ' ' || notify_tickets);
END
$$;

-- One row per database session (its backend pid), rewritten by the durable commit that follows a
-- write transaction committed with synchronous_commit off (store/_pg_tx.py): waiting for the flush
-- there, after the audit chain's lock is released, lets concurrent writers share one WAL flush.
CREATE TABLE IF NOT EXISTS commit_flush (
    pid integer PRIMARY KEY,
    n   bigint NOT NULL
);

-- One row: the schema version this database is at.
CREATE TABLE IF NOT EXISTS schema_version (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version integer NOT NULL
);

-- Notifications (signoff.notify): one row per notification per channel, expanded from the audit log
-- (the outbox record of each ticket event) past settings.outbox_cursor; servers claim rows with FOR
-- UPDATE SKIP LOCKED.
CREATE TABLE IF NOT EXISTS notifications (
    id           text PRIMARY KEY,             -- the event id: the receivers' idempotency key
    pos          bigint GENERATED ALWAYS AS IDENTITY,
    event        text NOT NULL,                -- ticket.created | ticket.decided | ...
    channel      text NOT NULL,                -- the channel's name in the policy
    ticket_id    text NOT NULL,
    coalesce_key text,                         -- similar tickets on one channel (NULL: sent alone)
    created_at   timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,         -- not before: a coalescing hold, a warning's time, a backoff
    status       text NOT NULL,                -- pending | delivered | failed | skipped
    attempts     integer NOT NULL DEFAULT 0,
    lease_until  timestamptz,                  -- a deliverer holds the row until then
    delivered_at timestamptz,
    message_id   text,                         -- the row whose message carried this one (coalesced)
    ref          text,                         -- the channel's handle to edit the message later
    detail       text NOT NULL DEFAULT '',     -- "posted to #approvals", or the last error
    extra        text NOT NULL DEFAULT '{}'    -- JSON: escalated_to, ...
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (due_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS notifications_ticket ON notifications (ticket_id, channel);
