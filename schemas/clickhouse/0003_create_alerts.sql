-- Alert state changes from the compacted `alerts` topic (schemas/alert.avsc), one row per record.
-- ReplacingMergeTree(Version) over ORDER BY (Tenant, Id) keeps the highest Version of each alert:
-- an update supersedes the states before it, and a re-delivered record (same Id, same Version)
-- collapses into one row. Merges are eventual, so reads use FINAL (or argMax by Version).
-- No PARTITION BY: alerts are few (a handful of rows per incident), monthly partitions would only
-- multiply tiny parts, and replacing happens within a partition only, so one partition keeps
-- every version of an alert together whatever its timestamps. No TTL: the incident history is
-- small and worth keeping.
-- Column names follow the logs table's OpenTelemetry style (PascalCase, ServiceName, PatternId),
-- absent optional strings are stored as '' like there.
CREATE TABLE IF NOT EXISTS {database}.alerts
(
    Id String CODEC(ZSTD(1)),
    Tenant LowCardinality(String),
    RuleId LowCardinality(String),
    RuleName LowCardinality(String),
    RuleKind LowCardinality(String),
    ServiceName LowCardinality(String),
    PatternId LowCardinality(String) DEFAULT '',
    Severity LowCardinality(String),
    Status LowCardinality(String),
    Value Float64,
    Threshold Float64,
    WindowStart DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    WindowEnd DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    StartedAt DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    UpdatedAt DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    ResolvedAt Nullable(DateTime64(9)) CODEC(ZSTD(1)),
    AcknowledgedBy String DEFAULT '' CODEC(ZSTD(1)),
    Summary String CODEC(ZSTD(1)),
    SampleLogIds Array(String) CODEC(ZSTD(1)),
    Version UInt32
)
ENGINE = ReplacingMergeTree(Version)
ORDER BY (Tenant, Id);
