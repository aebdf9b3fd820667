-- signoff schema for SQLite, version 1 -> 2: a large agent state moves out of the ticket row.
-- SQLite rewrites a whole row on UPDATE, overflow pages included, so a 100 KB state was written
-- again by every decision, escalation and execution record. States up to 2048 bytes
-- (INLINE_STATE_BYTES in store/sqlite.py) stay in the row (tickets.state_kind, tickets.state):
-- they share its page, which every write of the ticket writes anyway.

CREATE TABLE IF NOT EXISTS ticket_states (ticket_id TEXT PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL);
INSERT INTO ticket_states (ticket_id, kind, data)
SELECT id, COALESCE(state_kind, 'json'), state FROM tickets WHERE length(state) > 2048;
UPDATE tickets SET state_kind = NULL, state = NULL WHERE length(state) > 2048;
