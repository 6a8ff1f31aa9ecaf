-- Deletion tasks (query-api POST /v1/deletions): one row per state a task passes through —
-- pending, running, then done or failed — so any query-api instance answers a task's status.
-- ReplacingMergeTree(version) over (tenant, id) keeps each task's latest state (read with FINAL);
-- version is the step (1 pending, 2 running, 3 done or failed). selector is the task's selector
-- as JSON. No TTL: a record of what was deleted, when and by whom (key_id) is worth keeping, and
-- the table grows by a few rows per request.
CREATE TABLE IF NOT EXISTS {database}.deletions
(
    id String,
    tenant LowCardinality(String),
    status LowCardinality(String),
    selector String CODEC(ZSTD(1)),
    rows_matched UInt64,
    created_at DateTime64(3, 'UTC'),
    finished_at Nullable(DateTime64(3, 'UTC')),
    error String,
    key_id String,
    version UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, id);
