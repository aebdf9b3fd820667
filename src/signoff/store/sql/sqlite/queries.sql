-- Every statement the SQLite store runs (signoff/store/sqlite.py, with the domain logic in
-- store/_base.py). Named parameters (:name); times are unix seconds, booleans 0/1. A query run
-- with several rows runs once per row. {where} is filled from fixed column names only.

-- last_seq: the last audit entry's seq (0 for none), where a store starts publishing events
SELECT COALESCE(MAX(seq), 0) FROM audit;

-- data_version: changes when another connection commits (the cross-process poller's cheap check)
PRAGMA data_version;

-- user_version: the schema version of the database file
PRAGMA user_version;

-- ping: a read transaction on the database file (readiness)
SELECT count(*) FROM sqlite_master;

-- catch_up: audit entries committed past what was published, as events
SELECT seq, kind, ticket_id, data FROM audit WHERE seq > :after ORDER BY seq;

-- audit_last: the chain's recorded head ('<seq>:<hash>' or NULL) and its last row's seq and hash,
-- read under the write lock before appending (signoff.audit.chain_end: what the next entry links to)
-- (one row even when the table is empty: a head with no rows is a log emptied behind signoff's back)
SELECT (SELECT value FROM settings WHERE key = 'audit_head'),
       (SELECT seq FROM audit ORDER BY seq DESC LIMIT 1), (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1);

-- audit_insert: append one entry to the chain (hashed in Python: signoff.audit.entry_hash)
INSERT INTO audit (seq, at, kind, ticket_id, actor, data, prev_hash, hash)
VALUES (:seq, :at, :kind, :ticket_id, :actor, :data, :prev_hash, :hash);

-- audit_entries: the chain from an entry on (no limit: NULL)
SELECT seq, at, kind, ticket_id, actor, data, prev_hash, hash FROM audit
WHERE seq > :after ORDER BY seq LIMIT coalesce(:limit, -1);

-- audit_entries_of_ticket: one ticket's entries from an entry on
SELECT seq, at, kind, ticket_id, actor, data, prev_hash, hash FROM audit
WHERE seq > :after AND ticket_id = :ticket_id ORDER BY seq LIMIT coalesce(:limit, -1);

-- insert_tickets: a new ticket (its state inline when small, see insert_state)
INSERT INTO tickets (id, kind, status, agent, action, group_key, batch_id, idempotency_key, tier, deadline,
                     created_at, decided_at, body, state_kind, state)
VALUES (:id, :kind, :status, :agent, :action, :group_key, :batch_id, :idempotency_key, :tier, :deadline,
        :created_at, :decided_at, :body, :state_kind, :state);

-- insert_state: a state over 2048 bytes, out of the ticket row (schema.sql says why)
INSERT INTO ticket_states (ticket_id, kind, data) VALUES (:ticket_id, :kind, :data);

-- get_ticket: a ticket's stored record
SELECT body FROM tickets WHERE id = :id;

-- lock_ticket: the ticket to change (the transaction's BEGIN IMMEDIATE already locks the database)
SELECT body FROM tickets WHERE id = :id;

-- tickets_by_keys: the ticket holding an agent's idempotency key
SELECT agent, idempotency_key, body FROM tickets WHERE agent = :agent AND idempotency_key = :key;

-- pending_by_agent: how many tickets an agent has pending (its quota)
SELECT :agent, COUNT(*) FROM tickets WHERE agent = :agent AND status = 'pending';

-- update_ticket: write a transition; only the columns a transition can change, so an index whose
-- columns are not SET is left alone (a decision's commit, and its fsync, stay a few pages smaller)
UPDATE tickets SET status = :status, tier = :tier, deadline = :deadline, decided_at = :decided_at, body = :body
WHERE id = :id;

-- get_state: the state kept in the ticket row (NULL when none, or kept apart)
SELECT state_kind, state FROM tickets WHERE id = :id;

-- get_ticket_state: a ticket and the state kept in its row, in one read (resume)
SELECT body, state_kind, state FROM tickets WHERE id = :id;

-- get_state_apart: a large state, kept in its own table
SELECT kind, data FROM ticket_states WHERE ticket_id = :id;

-- list_tickets: tickets matching the filters, oldest first (rowid: insertion order within an instant)
SELECT body FROM tickets {where} ORDER BY created_at ASC, rowid ASC LIMIT :limit OFFSET :offset;

-- list_tickets_newest: the same, newest first
SELECT body FROM tickets {where} ORDER BY created_at DESC, rowid DESC LIMIT :limit OFFSET :offset;

-- count_tickets: how many tickets match the filters
SELECT COUNT(*) FROM tickets {where};

-- pending_by_tier: pending tickets per tier (NULL: any reviewer), exact (the /metrics gauge)
SELECT tier, COUNT(*) FROM tickets WHERE status = 'pending' GROUP BY tier;

-- due_tickets: pending tickets whose deadline has passed, the most overdue first
SELECT id FROM tickets WHERE status = 'pending' AND deadline <= :now ORDER BY deadline LIMIT :limit;

-- due_leases: claimed runs past their lease (an executing ticket keeps its lease's end in deadline;
-- a run in doubt keeps the epoch, which is not due)
SELECT id FROM tickets WHERE status = 'approved' AND deadline <= :now AND deadline > :epoch
ORDER BY deadline LIMIT :limit;

-- in_doubt: approved tickets whose run is in doubt (deadline = the epoch), oldest first
SELECT body FROM tickets WHERE status = 'approved' AND deadline = :epoch ORDER BY created_at, rowid LIMIT :limit;

-- next_deadline: when the sweeper has work next
SELECT MIN(deadline) FROM tickets WHERE status = 'pending';

-- learn_fingerprint: a human approved this kind of action: it is no longer novel
INSERT OR IGNORE INTO fingerprints (fingerprint, ticket_id, learnt_at) VALUES (:fingerprint, :ticket_id, :learnt_at);

-- fingerprints: every fingerprint humans have approved
SELECT fingerprint FROM fingerprints;

-- put_reviewer: add or change a reviewer; a password, email or Slack id is kept unless a new one is given
INSERT INTO reviewers (name, tier, password_hash, disabled, email, slack_id) VALUES (:name, :tier, :password_hash, :disabled, :email, :slack_id)
ON CONFLICT(name) DO UPDATE SET tier = excluded.tier,
    password_hash = COALESCE(excluded.password_hash, reviewers.password_hash), disabled = excluded.disabled,
    email = COALESCE(excluded.email, reviewers.email), slack_id = COALESCE(excluded.slack_id, reviewers.slack_id);

-- get_reviewer: one reviewer
SELECT name, tier, password_hash, disabled, email, slack_id FROM reviewers WHERE name = :name;

-- lock_reviewer: the reviewer deciding, in the decision's transaction (BEGIN IMMEDIATE locks the database)
SELECT name, tier, password_hash, disabled, email, slack_id FROM reviewers WHERE name = :name;

-- list_reviewers: every reviewer, by name
SELECT name, tier, password_hash, disabled, email, slack_id FROM reviewers ORDER BY name;

-- reviewer_by_address: the reviewer a Slack user id or an email address belongs to (emails match case-insensitively)
SELECT name, tier, password_hash, disabled, email, slack_id FROM reviewers WHERE slack_id = :slack_id OR lower(email) = lower(:email);

-- put_token: a new API token (hashed)
INSERT INTO tokens (token_hash, kind, name, created_at, revoked) VALUES (:token_hash, :kind, :name, :created_at, :revoked);

-- get_token: a token by its hash
SELECT token_hash, kind, name, created_at, revoked FROM tokens WHERE token_hash = :token_hash;

-- get_setting: a setting ('mode', 'audit_head')
SELECT value FROM settings WHERE key = :key;

-- put_setting: set a setting
INSERT INTO settings (key, value) VALUES (:key, :value) ON CONFLICT(key) DO UPDATE SET value = excluded.value;

-- purge_sessions: forget logged-out sessions whose cookies have expired anyway
DELETE FROM revoked_sessions WHERE expires_at <= :now AND sid_hash <> :sid_hash;

-- revoke_session: remember a logged-out session until its cookie expires
INSERT INTO revoked_sessions (sid_hash, expires_at) VALUES (:sid_hash, :expires_at)
ON CONFLICT(sid_hash) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at);

-- session_revoked: was this session logged out?
SELECT 1 FROM revoked_sessions WHERE sid_hash = :sid_hash;

-- insert_notification: one notification for one channel, from an expanded audit entry; its id is
-- derived from the entry, so expanding the same entry twice adds nothing
INSERT INTO notifications (id, event, channel, ticket_id, coalesce_key, created_at, due_at, status, extra)
VALUES (:id, :event, :channel, :ticket_id, :coalesce_key, :created_at, :due_at, 'pending', :extra)
ON CONFLICT (id) DO NOTHING;

-- init_outbox_cursor: notifications start with the audit log's current end (history is not announced)
INSERT INTO settings (key, value) SELECT 'outbox_cursor', CAST(COALESCE(MAX(seq), 0) AS TEXT) FROM audit WHERE true
ON CONFLICT (key) DO NOTHING;

-- outbox_entries: the audit entries past the outbox cursor (every ticket event is one, written in its
-- transaction: the outbox record), with their ticket's current record
SELECT a.seq, a.kind, a.data, a.at, a.hash, t.body FROM audit a LEFT JOIN tickets t ON t.id = a.ticket_id
WHERE a.seq > (SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'outbox_cursor')
ORDER BY a.seq LIMIT :limit;

-- advance_outbox_cursor: entries up to :seq are expanded (never moves back)
UPDATE settings SET value = CAST(MAX(CAST(value AS INTEGER), :seq) AS TEXT) WHERE key = 'outbox_cursor';

-- claim_notifications: what is due (and, for a coalesced one, its whole group, due or not), not held
-- by another deliverer; the deliverer then leases them (lease_notification) in the same transaction
SELECT id, event, channel, ticket_id, coalesce_key, created_at, attempts, extra FROM notifications
WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < :now)
  AND (due_at <= :now OR coalesce_key IN (SELECT coalesce_key FROM notifications
       WHERE status = 'pending' AND due_at <= :now AND coalesce_key IS NOT NULL))
ORDER BY due_at LIMIT :limit;

-- lease_notification: this deliverer holds the row until :lease_until (a crash lets it go then)
UPDATE notifications SET lease_until = :lease_until WHERE id = :id;

-- finish_notification: how a delivery went: delivered, failed for good, skipped, or pending again at :due_at
UPDATE notifications SET status = :status, attempts = :attempts, due_at = :due_at, lease_until = NULL,
    delivered_at = :delivered_at, message_id = :message_id, ref = :ref, detail = :detail
WHERE id = :id;

-- message_ref: how the channel can edit the last message it delivered about a ticket (Slack: its ts)
SELECT ref FROM notifications WHERE ticket_id = :ticket_id AND channel = :channel AND ref IS NOT NULL
ORDER BY delivered_at DESC LIMIT 1;

-- message_tickets: the tickets a message announced (several when coalesced), in the order it listed them
SELECT ticket_id FROM notifications WHERE channel = :channel AND ref = :ref AND event = 'ticket.created'
ORDER BY created_at, id;

-- list_notifications: notifications matching the filters, newest first
SELECT id, event, channel, ticket_id, status, attempts, created_at, due_at, delivered_at, message_id, ref, detail
FROM notifications {where} ORDER BY created_at DESC, rowid DESC LIMIT :limit;

-- next_notification: when the deliverer has work next
SELECT MIN(due_at) FROM notifications WHERE status = 'pending';

-- tickets_created_before: what an archive run looks at (store/_archive.py decides what goes)
SELECT id, body FROM tickets WHERE created_at < :before ORDER BY rowid;

-- audit_before: the chain's entries written before the cut-off (ISO times compare as text)
SELECT seq, at, kind, ticket_id, actor, data, prev_hash, hash FROM audit WHERE at < :before ORDER BY seq;

-- delete_tickets: an archived ticket (its large state and notifications: the two below)
DELETE FROM tickets WHERE id = :id;

-- delete_ticket_states: an archived ticket's large state
DELETE FROM ticket_states WHERE ticket_id = :id;

-- delete_ticket_notifications: an archived ticket's notifications
DELETE FROM notifications WHERE ticket_id = :id;

-- delete_audit_upto: the archived prefix of the chain (settings.audit_base records where it ended)
DELETE FROM audit WHERE seq <= :seq;

-- agent_activity: each agent's approval tickets since :since, split at :recent (the flood guard;
-- the (kind, created_at) index finds them)
SELECT agent, SUM(created_at >= :recent), SUM(created_at < :recent) FROM tickets
WHERE kind = 'approval' AND created_at >= :since GROUP BY agent;

-- insert_allowance: a new standing approval (signoff._allowances)
INSERT INTO allowances (id, action, agent, created_at, expires_at, revoked_at, body)
VALUES (:id, :action, :agent, :created_at, :expires_at, :revoked_at, :body);

-- update_allowance: an allowance confirmed by another reviewer, or revoked
UPDATE allowances SET expires_at = :expires_at, revoked_at = :revoked_at, body = :body WHERE id = :id;

-- lock_allowance: the allowance to change (the transaction's BEGIN IMMEDIATE already locks the database)
SELECT body FROM allowances WHERE id = :id;

-- list_allowances: every allowance, oldest first
SELECT body FROM allowances ORDER BY created_at, id;

-- allowance_uses: each allowance's uses (requests it let through) and the last one's time, from the
-- audit log (ISO times compare as text); read from the partial index audit_allowance_used alone. The id
-- is MIN(...), not a bare column: beside MAX() a bare column is read from the max's row, a table seek
-- for every later entry (20x slower on 25,000 uses)
SELECT MIN(json_extract(data, '$.allowance_id')), COUNT(*), MAX(at) FROM audit
WHERE kind = 'allowance_used' GROUP BY json_extract(data, '$.allowance_id');
