-- signoff schema for PostgreSQL, version 5 -> 6: standing approvals (issue 15).
-- An allowance lets one agent (or any) repeat one action, within an optional CEL condition on its
-- arguments, without asking, until it expires or is revoked. The record is the JSON body; the
-- columns are what a listing orders and filters by. Gates keep the standing ones in memory and
-- follow changes through the audit log's events (allowance_created, _confirmed, _revoked).

CREATE TABLE IF NOT EXISTS allowances (
    id         text PRIMARY KEY,
    action     text NOT NULL,
    agent      text,                 -- NULL: any agent
    created_at timestamptz NOT NULL,
    expires_at timestamptz,          -- NULL: until revoked
    revoked_at timestamptz,
    body       text NOT NULL
);
CREATE INDEX IF NOT EXISTS allowances_created ON allowances (created_at);
