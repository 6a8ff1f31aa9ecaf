-- Skip indexes for the analyst endpoints (query-api /v1/sessions, /v1/blast-radius, and the
-- user_id / session_id / error_code filters of /v1/logs): without them a session's timeline or an
-- error code's blast radius reads the column over the whole range. Bloom filters, one per granule:
-- a session or an error code is in few granules, so most are skipped.
-- MATERIALIZE builds them for the parts stored before this migration (a mutation: a ClickHouse
-- server runs it in the background; embedded ClickHouse runs it at once). Parts written after it
-- get them at insert.
ALTER TABLE {database}.logs ADD INDEX IF NOT EXISTS idx_session_id SessionId TYPE bloom_filter(0.001) GRANULARITY 1;
ALTER TABLE {database}.logs ADD INDEX IF NOT EXISTS idx_user_id UserId TYPE bloom_filter(0.001) GRANULARITY 1;
ALTER TABLE {database}.logs ADD INDEX IF NOT EXISTS idx_error_code ErrorCode TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE {database}.logs MATERIALIZE INDEX idx_session_id;
ALTER TABLE {database}.logs MATERIALIZE INDEX idx_user_id;
ALTER TABLE {database}.logs MATERIALIZE INDEX idx_error_code;
