-- signoff schema for PostgreSQL, version 7 -> 8: how much each standing approval is used (issue 15).
-- Each request an allowance lets through is an 'allowance_used' audit entry; the Allowances page,
-- the API and `signoff allowances list` count them per allowance with one grouped read. This
-- partial index holds only those entries (keyed by allowance id, with their time), so the count
-- reads them alone instead of the whole audit log, and other appends do not touch it.

CREATE INDEX IF NOT EXISTS audit_allowance_used ON audit (((data::jsonb) ->> 'allowance_id'), at)
    WHERE kind = 'allowance_used';
