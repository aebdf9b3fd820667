-- signoff schema for SQLite, version 4 -> 5: execution leases (issue 17).
-- A claimed run keeps its ticket 'approved' with the end of its lease in the deadline column (the
-- (status, deadline) index finds the runs past it; see store/_base.indexed_deadline). Runs claimed
-- before leases existed have none: they are due now, so the sweeper marks each one 'unknown' for a
-- reviewer instead of leaving it 'executing' for good (a run still going reports its real end).

UPDATE tickets SET deadline = CAST(strftime('%s', 'now') AS REAL)
WHERE status = 'approved' AND json_extract(body, '$.execution') = 'executing';
-- Runs already in doubt keep the epoch (0), which the inbox lists and the sweeper never finds due.
UPDATE tickets SET deadline = 0 WHERE status = 'approved' AND json_extract(body, '$.execution') = 'unknown';
