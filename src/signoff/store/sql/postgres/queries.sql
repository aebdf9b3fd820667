-- Every statement the PostgreSQL store runs (signoff/store/postgres.py, with the domain logic in
-- store/_base.py). Named parameters (%(name)s), bound client-side so that several statements
-- travel in one message. A query run with several rows gets each parameter as an array (one
-- statement, unnest). {where} is filled from fixed column names only.

-- current_schema: the schema the tables live in (its hash keys the advisory locks)
SELECT current_schema();

-- schema_version_exists: has this database been created by signoff?
SELECT to_regclass('schema_version') IS NOT NULL;

-- schema_version: the version the database is at
SELECT version FROM schema_version;

-- set_schema_version: record the version reached by a migration
INSERT INTO schema_version (one, version) VALUES (true, %(version)s)
ON CONFLICT (one) DO UPDATE SET version = excluded.version;

-- migrate_lock: one server creates or migrates the schema at a time (session lock)
SELECT pg_advisory_lock(%(lock_class)s, %(lock_key)s);

-- migrate_unlock: release migrate_lock
SELECT pg_advisory_unlock(%(lock_class)s, %(lock_key)s);

-- lease_try: take the sweeper lease if free (a session lock on the lease's own connection)
SELECT pg_try_advisory_lock(%(lock_class)s, %(lock_key)s);

-- lease_keepalive: should this machine vanish without closing the lease's connection (power,
-- network), the server notices within about 25 s and frees the lease (its default: 2 hours)
SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3;

-- ping: one round trip (readiness, and proof that a quiet connection lives)
SELECT 1;

-- lock_names: advisory locks of a transaction, taken one by one in a fixed order (by class, then
-- hash) so that writers cannot deadlock; c: lock classes, n: names
SELECT pg_advisory_xact_lock(c, h) FROM (SELECT DISTINCT c, hashtext(n) AS h
    FROM unnest(%(c)s::int[], %(n)s::text[]) AS x(c, n) ORDER BY c, h) AS ordered;

-- last_seq: the last audit entry's seq (0 for none), where a store starts publishing events
SELECT COALESCE(MAX(seq), 0) FROM audit;

-- catch_up: audit entries committed past what was published, as events, a batch at a time
SELECT seq, kind, ticket_id, data FROM audit WHERE seq > %(after)s ORDER BY seq LIMIT %(limit)s;

-- audit_append: the chain's append, the last statement before COMMIT (schema.sql: signoff_append)
SELECT * FROM signoff_append(%(lock_class)s, %(lock_key)s, %(kinds)s::text[], %(ticket_ids)s::text[],
    %(actors)s::text[], %(datas)s::text[], %(piece0)s::text[], %(piece1)s::text[], %(piece2)s::text[],
    %(piece3)s::text[], %(notify_tickets)s);

-- audit_entries: the chain from an entry on (no limit: NULL)
SELECT seq, at, kind, ticket_id, actor, data, prev_hash, hash FROM audit
WHERE seq > %(after)s ORDER BY seq LIMIT %(limit)s;

-- audit_entries_of_ticket: one ticket's entries from an entry on
SELECT seq, at, kind, ticket_id, actor, data, prev_hash, hash FROM audit
WHERE seq > %(after)s AND ticket_id = %(ticket_id)s ORDER BY seq LIMIT %(limit)s;

-- insert_tickets: new tickets, one array per column
INSERT INTO tickets (id, kind, status, agent, action, group_key, batch_id, idempotency_key, tier, deadline,
                     created_at, decided_at, body, state_kind, state)
SELECT * FROM unnest(%(id)s::text[], %(kind)s::text[], %(status)s::text[], %(agent)s::text[], %(action)s::text[],
    %(group_key)s::text[], %(batch_id)s::text[], %(idempotency_key)s::text[], %(tier)s::text[],
    %(deadline)s::timestamptz[], %(created_at)s::timestamptz[], %(decided_at)s::timestamptz[], %(body)s::text[],
    %(state_kind)s::text[], %(state)s::bytea[]);

-- get_ticket: a ticket's stored record
SELECT body FROM tickets WHERE id = %(id)s;

-- lock_ticket: the ticket to change, row-locked: two servers deciding one ticket queue here, and
-- the second sees the first one's decision
SELECT body FROM tickets WHERE id = %(id)s FOR UPDATE;

-- tickets_by_keys: the tickets holding these (agent, idempotency key) pairs
SELECT agent, idempotency_key, body FROM tickets
WHERE (agent, idempotency_key) IN (SELECT * FROM unnest(%(agent)s::text[], %(key)s::text[]));

-- pending_by_agent: how many tickets each agent has pending (its quota)
SELECT agent, COUNT(*) FROM tickets WHERE status = 'pending' AND agent = ANY(%(agent)s::text[]) GROUP BY agent;

-- update_ticket: write a transition (only the columns a transition can change)
UPDATE tickets SET status = %(status)s, tier = %(tier)s, deadline = %(deadline)s, decided_at = %(decided_at)s,
    body = %(body)s
WHERE id = %(id)s;

-- get_state: the agent's state saved with a ticket
SELECT state_kind, state FROM tickets WHERE id = %(id)s;

-- get_ticket_state: a ticket and its state in one read (resume)
SELECT body, state_kind, state FROM tickets WHERE id = %(id)s;

-- list_tickets: tickets matching the filters, oldest first (pos: insertion order within an instant)
SELECT body FROM tickets {where} ORDER BY created_at ASC, pos ASC LIMIT %(limit)s OFFSET %(offset)s;

-- list_tickets_newest: the same, newest first
SELECT body FROM tickets {where} ORDER BY created_at DESC, pos DESC LIMIT %(limit)s OFFSET %(offset)s;

-- count_tickets: how many tickets match the filters
SELECT COUNT(*) FROM tickets {where};

-- pending_by_tier: pending tickets per tier (NULL: any reviewer), exact (the /metrics gauge)
SELECT tier, COUNT(*) FROM tickets WHERE status = 'pending' GROUP BY tier;

-- due_tickets: pending tickets whose deadline has passed. SKIP LOCKED: a ticket being decided
-- right now is left to that transaction; update_ticket re-checks the deadline under the row
-- lock, so a ticket is never expired twice
SELECT id FROM tickets WHERE status = 'pending' AND deadline <= %(now)s ORDER BY deadline LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- due_leases: claimed runs past their lease (an executing ticket keeps its lease's end in deadline;
-- a run in doubt keeps the epoch, which is not due)
SELECT id FROM tickets WHERE status = 'approved' AND deadline <= %(now)s AND deadline > %(epoch)s
ORDER BY deadline LIMIT %(limit)s FOR UPDATE SKIP LOCKED;

-- in_doubt: approved tickets whose run is in doubt (deadline = the epoch), oldest first
SELECT body FROM tickets WHERE status = 'approved' AND deadline = %(epoch)s ORDER BY created_at, pos LIMIT %(limit)s;

-- next_deadline: when the sweeper has work next
SELECT MIN(deadline) FROM tickets WHERE status = 'pending';

-- learn_fingerprint: a human approved this kind of action: it is no longer novel
INSERT INTO fingerprints (fingerprint, ticket_id, learnt_at) VALUES (%(fingerprint)s, %(ticket_id)s, %(learnt_at)s)
ON CONFLICT DO NOTHING;

-- fingerprints: every fingerprint humans have approved
SELECT fingerprint FROM fingerprints;

-- put_reviewer: add or change a reviewer; a password, email or Slack id is kept unless a new one is given
INSERT INTO reviewers (name, tier, password_hash, disabled, email, slack_id) VALUES (%(name)s, %(tier)s, %(password_hash)s, %(disabled)s, %(email)s, %(slack_id)s)
ON CONFLICT (name) DO UPDATE SET tier = excluded.tier,
    password_hash = COALESCE(excluded.password_hash, reviewers.password_hash), disabled = excluded.disabled,
    email = COALESCE(excluded.email, reviewers.email), slack_id = COALESCE(excluded.slack_id, reviewers.slack_id);

-- get_reviewer: one reviewer
SELECT name, tier, password_hash, disabled, email, slack_id FROM reviewers WHERE name = %(name)s;

-- lock_reviewer: the reviewer deciding, read in the decision's transaction and share-locked: a change
-- to their record (disabled, another tier) waits for the decision's COMMIT, or is seen by it
SELECT name, tier, password_hash, disabled, email, slack_id FROM reviewers WHERE name = %(name)s FOR SHARE;

-- list_reviewers: every reviewer, by name
SELECT name, tier, password_hash, disabled, email, slack_id FROM reviewers ORDER BY name;

-- reviewer_by_address: the reviewer a Slack user id or an email address belongs to (emails match case-insensitively)
SELECT name, tier, password_hash, disabled, email, slack_id FROM reviewers WHERE slack_id = %(slack_id)s OR lower(email) = lower(%(email)s);

-- put_token: a new API token (hashed)
INSERT INTO tokens (token_hash, kind, name, created_at, revoked)
VALUES (%(token_hash)s, %(kind)s, %(name)s, %(created_at)s, %(revoked)s);

-- get_token: a token by its hash
SELECT token_hash, kind, name, created_at, revoked FROM tokens WHERE token_hash = %(token_hash)s;

-- get_setting: a setting ('mode', 'audit_head')
SELECT value FROM settings WHERE key = %(key)s;

-- put_setting: set a setting
INSERT INTO settings (key, value) VALUES (%(key)s, %(value)s) ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- purge_sessions: forget logged-out sessions whose cookies have expired anyway
DELETE FROM revoked_sessions WHERE expires_at <= %(now)s AND sid_hash <> %(sid_hash)s;

-- revoke_session: remember a logged-out session until its cookie expires
INSERT INTO revoked_sessions (sid_hash, expires_at) VALUES (%(sid_hash)s, %(expires_at)s) ON CONFLICT (sid_hash)
DO UPDATE SET expires_at = GREATEST(revoked_sessions.expires_at, excluded.expires_at);

-- session_revoked: was this session logged out?
SELECT 1 FROM revoked_sessions WHERE sid_hash = %(sid_hash)s;

-- listen: wake-ups (the channel signoff_append notifies; its payload: the last seq, then tickets)
LISTEN signoff;

-- insert_notification: notifications for channels, from expanded audit entries, one array per column;
-- ids are derived from the entries, so two servers expanding the same entry write each row once
INSERT INTO notifications (id, event, channel, ticket_id, coalesce_key, created_at, due_at, status, extra)
SELECT id, event, channel, ticket_id, coalesce_key, created_at, due_at, 'pending', extra
FROM unnest(%(id)s::text[], %(event)s::text[], %(channel)s::text[], %(ticket_id)s::text[],
    %(coalesce_key)s::text[], %(created_at)s::timestamptz[], %(due_at)s::timestamptz[], %(extra)s::text[])
    AS x(id, event, channel, ticket_id, coalesce_key, created_at, due_at, extra)
ON CONFLICT (id) DO NOTHING;

-- init_outbox_cursor: notifications start with the audit log's current end (history is not announced)
INSERT INTO settings (key, value) SELECT 'outbox_cursor', COALESCE(MAX(seq), 0)::text FROM audit
ON CONFLICT (key) DO NOTHING;

-- outbox_entries: the audit entries past the outbox cursor (every ticket event is one, written in its
-- transaction: the outbox record), with their ticket's current record
SELECT a.seq, a.kind, a.data, a.at, a.hash, t.body FROM audit a LEFT JOIN tickets t ON t.id = a.ticket_id
WHERE a.seq > (SELECT value::bigint FROM settings WHERE key = 'outbox_cursor')
ORDER BY a.seq LIMIT %(limit)s;

-- advance_outbox_cursor: entries up to seq are expanded (never moves back, whichever server is first)
UPDATE settings SET value = GREATEST(value::bigint, %(seq)s)::text WHERE key = 'outbox_cursor';

-- claim_notifications: what is due (and, for a coalesced one, its whole group, due or not), not held
-- by another deliverer. SKIP LOCKED: rows another server is claiming right now are left to it; the
-- lease written in the same transaction keeps them out of every later claim until it runs out
SELECT id, event, channel, ticket_id, coalesce_key, created_at, attempts, extra FROM notifications
WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < %(now)s)
  AND (due_at <= %(now)s OR coalesce_key IN (SELECT coalesce_key FROM notifications
       WHERE status = 'pending' AND due_at <= %(now)s AND coalesce_key IS NOT NULL))
ORDER BY due_at, pos LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- lease_notification: this deliverer holds the rows until :lease_until (a crash lets them go then)
UPDATE notifications SET lease_until = u.lease_until
FROM unnest(%(id)s::text[], %(lease_until)s::timestamptz[]) AS u(id, lease_until) WHERE notifications.id = u.id;

-- finish_notification: how deliveries went: delivered, failed for good, skipped, or pending again at due_at
UPDATE notifications SET status = u.status, attempts = u.attempts, due_at = u.due_at, lease_until = NULL,
    delivered_at = u.delivered_at, message_id = u.message_id, ref = u.ref, detail = u.detail
FROM unnest(%(id)s::text[], %(status)s::text[], %(attempts)s::int[], %(due_at)s::timestamptz[],
    %(delivered_at)s::timestamptz[], %(message_id)s::text[], %(ref)s::text[], %(detail)s::text[])
    AS u(id, status, attempts, due_at, delivered_at, message_id, ref, detail)
WHERE notifications.id = u.id;

-- message_ref: how the channel can edit the last message it delivered about a ticket (Slack: its ts)
SELECT ref FROM notifications WHERE ticket_id = %(ticket_id)s AND channel = %(channel)s AND ref IS NOT NULL
ORDER BY delivered_at DESC LIMIT 1;

-- message_tickets: the tickets a message announced (several when coalesced), in the order it listed them
SELECT ticket_id FROM notifications WHERE channel = %(channel)s AND ref = %(ref)s AND event = 'ticket.created'
ORDER BY created_at, id;

-- list_notifications: notifications matching the filters, newest first
SELECT id, event, channel, ticket_id, status, attempts, created_at, due_at, delivered_at, message_id, ref, detail
FROM notifications {where} ORDER BY created_at DESC, pos DESC LIMIT %(limit)s;

-- next_notification: when the deliverer has work next
SELECT MIN(due_at) FROM notifications WHERE status = 'pending';

-- tickets_created_before: what an archive run looks at (store/_archive.py decides what goes)
SELECT id, body FROM tickets WHERE created_at < %(before)s ORDER BY pos;

-- audit_before: the chain's entries written before the cut-off (ISO times compare as text)
SELECT seq, at, kind, ticket_id, actor, data, prev_hash, hash FROM audit WHERE at < %(before)s ORDER BY seq;

-- delete_tickets: archived tickets (their notifications: below)
DELETE FROM tickets WHERE id = ANY(%(id)s::text[]);

-- delete_ticket_notifications: archived tickets' notifications
DELETE FROM notifications WHERE ticket_id = ANY(%(id)s::text[]);

-- delete_audit_upto: the archived prefix of the chain (settings.audit_base records where it ended)
DELETE FROM audit WHERE seq <= %(seq)s;

-- agent_activity: each agent's approval tickets since since, split at recent (the flood guard;
-- the (kind, created_at) index finds them)
SELECT agent, count(*) FILTER (WHERE created_at >= %(recent)s), count(*) FILTER (WHERE created_at < %(recent)s)
FROM tickets WHERE kind = 'approval' AND created_at >= %(since)s GROUP BY agent;

-- insert_allowance: a new standing approval (signoff._allowances)
INSERT INTO allowances (id, action, agent, created_at, expires_at, revoked_at, body)
VALUES (%(id)s, %(action)s, %(agent)s, %(created_at)s, %(expires_at)s, %(revoked_at)s, %(body)s);

-- update_allowance: an allowance confirmed by another reviewer, or revoked
UPDATE allowances SET expires_at = %(expires_at)s, revoked_at = %(revoked_at)s, body = %(body)s WHERE id = %(id)s;

-- lock_allowance: the allowance to change, row-locked: two reviewers confirming or revoking it queue here
SELECT body FROM allowances WHERE id = %(id)s FOR UPDATE;

-- list_allowances: every allowance, oldest first
SELECT body FROM allowances ORDER BY created_at, id;

-- commit_flush: a durable commit of its own after a write transaction committed with
-- synchronous_commit off: it returns once the WAL up to here, that transaction's commit included,
-- is on disk. Each session rewrites only its own row (its pid), so sessions never wait on each
-- other here, and the flushes of concurrent writers are shared (PostgreSQL's group commit)
INSERT INTO commit_flush (pid, n) VALUES (pg_backend_pid(), 1) ON CONFLICT (pid) DO UPDATE SET n = commit_flush.n + 1;

-- allowance_uses: each allowance's uses (requests it let through) and the last one's time, from the
-- audit log (ISO times compare as text); the partial index audit_allowance_used finds just these
-- entries. Grouped by their text first: the few distinct ones (action, agent, allowance) are parsed
-- as JSON once each, not once per use
SELECT (d::jsonb) ->> 'allowance_id', sum(n), max(last_at) FROM (
    SELECT data AS d, count(*) AS n, max(at) AS last_at FROM audit WHERE kind = 'allowance_used' GROUP BY data
) used GROUP BY (d::jsonb) ->> 'allowance_id';
