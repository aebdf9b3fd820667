-- signoff schema for SQLite, version 6 -> 7: how much each standing approval is used (issue 15).
-- Each request an allowance lets through is an 'allowance_used' audit entry; the Allowances page,
-- the API and `signoff allowances list` count them per allowance with one grouped read. This
-- partial index holds only those entries (keyed by allowance id, with their time), so the count
-- reads them alone instead of the whole audit log, and other appends do not touch it.

CREATE INDEX audit_allowance_used ON audit (json_extract(data, '$.allowance_id'), at)
    WHERE kind = 'allowance_used';
