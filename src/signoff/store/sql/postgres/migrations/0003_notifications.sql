-- signoff schema for PostgreSQL, version 2 -> 3: notifications (issue 12).
-- Reviewers gain the addresses channels reach them at (a Slack user id, an email address), each
-- naming at most one reviewer. Notifications: one row per notification per channel, expanded by the
-- deliverers from the audit log (each ticket event's entry, written in the event's own transaction, is
-- the outbox record) and delivered at least once; servers claim rows with FOR UPDATE SKIP LOCKED and a
-- lease, so each is sent by one of them.

ALTER TABLE reviewers ADD COLUMN IF NOT EXISTS email text;
ALTER TABLE reviewers ADD COLUMN IF NOT EXISTS slack_id text;
CREATE UNIQUE INDEX IF NOT EXISTS reviewers_email ON reviewers (email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS reviewers_slack_id ON reviewers (slack_id) WHERE slack_id IS NOT NULL;

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
