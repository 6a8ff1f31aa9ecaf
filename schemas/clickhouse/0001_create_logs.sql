-- The logs table, modelled on the OpenTelemetry Collector ClickHouse exporter's otel_logs:
-- tenant first in the sorting key, `id` last so ReplacingMergeTree collapses re-delivered copies
-- (query with FINAL for exact counts), daily partitions, TTL dropping whole parts.
CREATE TABLE IF NOT EXISTS {database}.logs
(
    id String CODEC(ZSTD(1)),
    tenant LowCardinality(String),
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    ObservedTimestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    ServiceName LowCardinality(String),
    HostName LowCardinality(String),
    SeverityText LowCardinality(String),
    SeverityNumber UInt8,
    Body String CODEC(ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Source LowCardinality(String),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(TimestampTime)
ORDER BY (tenant, ServiceName, TimestampTime, Timestamp, id)
TTL TimestampTime + toIntervalDay({ttl_days})
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;
