-- signoff schema for PostgreSQL, version 3 -> 4: the audit chain appends after its recorded head.
-- signoff_append links the next entry to settings.audit_head (numbered past any row beyond it)
-- instead of to the last row, so entries deleted from the end leave a gap in seq that
-- `signoff audit verify` reports even after more entries are appended (signoff.audit.chain_end).

CREATE OR REPLACE FUNCTION signoff_append(
    lock_class integer, lock_key integer, kinds text[], ticket_ids text[], actors text[], datas text[],
    piece0 text[], piece1 text[], piece2 text[], piece3 text[], notify_tickets text)
RETURNS TABLE (entry_seq bigint, entry_at text, entry_prev text, entry_hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last_seq  bigint;
    last_hash text;
    head      text;
    now_at    text;
    new_hash  text;
BEGIN
    PERFORM pg_advisory_xact_lock(lock_class, lock_key);
    SELECT a.seq, a.hash INTO last_seq, last_hash FROM audit a ORDER BY a.seq DESC LIMIT 1;
    SELECT s.value INTO head FROM settings s WHERE s.key = 'audit_head';
    IF coalesce(head, '') <> '' THEN
        last_seq := greatest(coalesce(last_seq, 0), split_part(head, ':', 1)::bigint);
        last_hash := split_part(head, ':', 2);
    ELSIF last_seq IS NULL THEN
        last_seq := 0;
        last_hash := repeat('0', 64);
    END IF;
    FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
        now_at := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"');
        new_hash := encode(sha256(convert_to(
            piece0[i] || now_at || piece1[i] || last_hash || piece2[i] || (last_seq + 1)::text || piece3[i],
            'UTF8')), 'hex');
        INSERT INTO audit (seq, at, kind, ticket_id, actor, data, prev_hash, hash)
        VALUES (last_seq + 1, now_at, kinds[i], ticket_ids[i], actors[i], datas[i], last_hash, new_hash);
        entry_seq := last_seq + 1;
        entry_at := now_at;
        entry_prev := last_hash;
        entry_hash := new_hash;
        RETURN NEXT;
        last_seq := last_seq + 1;
        last_hash := new_hash;
    END LOOP;
    INSERT INTO settings (key, value) VALUES ('audit_head', last_seq::text || ':' || last_hash)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
    PERFORM pg_notify('signoff', last_seq::text || ' ' || notify_tickets);
END
$$;
