-- signoff schema for SQLite, version 3 -> 4: notifications (issue 12).
-- Reviewers gain the addresses channels reach them at (a Slack user id, an email address), each
-- naming at most one reviewer. Notifications: one row per notification per channel, expanded by the
-- deliverer from the audit log (each ticket event's entry, written in the event's own transaction, is
-- the outbox record) and delivered by the server at least once.

ALTER TABLE reviewers ADD COLUMN email TEXT;
ALTER TABLE reviewers ADD COLUMN slack_id TEXT;
CREATE UNIQUE INDEX reviewers_email ON reviewers (email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX reviewers_slack_id ON reviewers (slack_id) WHERE slack_id IS NOT NULL;

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
