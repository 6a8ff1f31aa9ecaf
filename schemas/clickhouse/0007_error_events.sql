-- error_events: the records that carry an error code, with what the blast radius of an error
-- (query-api /v1/blast-radius?error_code=) breaks them down by — service, host, user, session and
-- attributes. An error code is in a small share of records but in nearly every granule of logs,
-- so no skip index spares reading logs' attribute maps in full; ordered by code, this table reads
-- only the code's own rows. Filled by a materialised view on every insert into logs, and
-- back-filled once from the rows stored before this migration. ReplacingMergeTree on `id`: a
-- re-delivered record collapses here as in logs (the endpoint counts uniqExact(id) meanwhile).
CREATE TABLE IF NOT EXISTS {database}.error_events
(
    tenant LowCardinality(String),
    ErrorCode LowCardinality(String),
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime,
    id String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String),
    HostName LowCardinality(String),
    PatternId LowCardinality(String),
    UserId String CODEC(ZSTD(1)),
    SessionId String CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(TimestampTime)
ORDER BY (tenant, ErrorCode, TimestampTime, Timestamp, id)
TTL TimestampTime + toIntervalDay({ttl_days})
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.error_events_mv TO {database}.error_events AS
SELECT tenant, ErrorCode, Timestamp, toDateTime(Timestamp) AS TimestampTime, id, ServiceName, HostName, PatternId, UserId, SessionId, LogAttributes, ResourceAttributes
FROM {database}.logs
WHERE ErrorCode != '';

INSERT INTO {database}.error_events
SELECT tenant, ErrorCode, Timestamp, toDateTime(Timestamp) AS TimestampTime, id, ServiceName, HostName, PatternId, UserId, SessionId, LogAttributes, ResourceAttributes
FROM {database}.logs
WHERE ErrorCode != '';
