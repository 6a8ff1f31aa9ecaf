-- The audit log (libs/auth/src/audit.ts): who — the key id, never the key — did what, one row per
-- action (deletions, alert acks and resolves, channel changes, refused credentials). Written by
-- every process: directly where it holds ClickHouse, else through the audit topic (TOPIC_AUDIT)
-- to the ClickHouse sink. Read by query-api GET /v1/audit.
-- ReplacingMergeTree on the row's id: a row written twice (a retried write, a re-delivered topic
-- record) collapses into one.
-- Kept 400 days, a year and a month — audits tend to look back a year — dropped a month at a time
-- (monthly partitions, ttl_only_drop_parts). Not per tenant: the audit trail outlives a tenant's
-- retention on purpose (a deletion's record stays after the deleted logs are gone).
CREATE TABLE IF NOT EXISTS {database}.audit
(
    id String,
    time DateTime64(3, 'UTC') CODEC(Delta(8), ZSTD(1)),
    service LowCardinality(String),
    action LowCardinality(String),
    outcome LowCardinality(String),
    tenant LowCardinality(String),
    key_id String,
    target String CODEC(ZSTD(1)),
    reason String CODEC(ZSTD(1)),
    remote String,
    details String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant, time, id)
TTL toDateTime(time) + toIntervalDay(400)
SETTINGS ttl_only_drop_parts = 1;
