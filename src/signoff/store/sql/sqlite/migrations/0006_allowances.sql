-- signoff schema for SQLite, version 5 -> 6: standing approvals (issue 15).
-- An allowance lets one agent (or any) repeat one action, within an optional CEL condition on its
-- arguments, without asking, until it expires or is revoked. The record is the JSON body; the
-- columns are what a listing orders and filters by. Gates keep the standing ones in memory and
-- follow changes through the audit log's events (allowance_created, _confirmed, _revoked).

CREATE TABLE allowances (
    id         TEXT PRIMARY KEY,
    action     TEXT NOT NULL,
    agent      TEXT,                 -- NULL: any agent
    created_at REAL NOT NULL,
    expires_at REAL,                 -- NULL: until revoked
    revoked_at REAL,
    body       TEXT NOT NULL
);
CREATE INDEX allowances_created ON allowances (created_at);
