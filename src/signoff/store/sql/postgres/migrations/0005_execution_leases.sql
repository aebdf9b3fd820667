-- signoff schema for PostgreSQL, version 4 -> 5: execution leases (issue 17).
-- A claimed run keeps its ticket 'approved' with the lease's end in the deadline column, so the
-- sweeper finds runs past their lease (and marks them 'unknown' for a reviewer) through this
-- index instead of reading every approved ticket.

CREATE INDEX IF NOT EXISTS tickets_lease_deadline ON tickets (deadline) WHERE status = 'approved' AND deadline IS NOT NULL;

-- Runs claimed before leases existed have none: they are due now, so the sweeper marks each one
-- 'unknown' for a reviewer instead of leaving it 'executing' for good.
UPDATE tickets SET deadline = now() WHERE status = 'approved' AND (body::jsonb ->> 'execution') = 'executing';
-- Runs already in doubt keep the epoch, which the inbox lists and the sweeper never finds due.
UPDATE tickets SET deadline = '1970-01-01T00:00:00Z' WHERE status = 'approved'
    AND (body::jsonb ->> 'execution') = 'unknown';
