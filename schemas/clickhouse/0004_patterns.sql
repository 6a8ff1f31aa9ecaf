-- Template groups for analysts and the query API.
--
-- PatternAliases: on the record whose arrival merged template groups, the ids of the groups
-- merged (usually empty). pattern_aliases keeps alias → pattern_id, so a query by pattern_id
-- can include the records stored under its older ids.
ALTER TABLE {database}.logs ADD COLUMN IF NOT EXISTS PatternAliases Array(String) DEFAULT [] CODEC(ZSTD(1));

CREATE TABLE IF NOT EXISTS {database}.pattern_aliases
(
    tenant LowCardinality(String),
    Alias String,
    PatternId String,
    MergedAt DateTime64(9)
)
ENGINE = ReplacingMergeTree(MergedAt)
ORDER BY (tenant, Alias);

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.pattern_aliases_mv TO {database}.pattern_aliases AS
SELECT tenant, arrayJoin(PatternAliases) AS Alias, PatternId, ObservedTimestamp AS MergedAt
FROM {database}.logs
WHERE notEmpty(PatternAliases);

-- One row per tenant, service, pattern and hour: how many records, first and last seen, the
-- template as it stood last and a sample message. Aggregate states, so rows from many inserts
-- combine: read with countMerge/minMerge/maxMerge/argMaxMerge/anyMerge, grouped by the key.
CREATE TABLE IF NOT EXISTS {database}.patterns
(
    tenant LowCardinality(String),
    ServiceName LowCardinality(String),
    PatternId String,
    Bucket DateTime,
    Count AggregateFunction(count),
    FirstSeen AggregateFunction(min, DateTime64(9)),
    LastSeen AggregateFunction(max, DateTime64(9)),
    Template AggregateFunction(argMax, String, DateTime64(9)),
    Sample AggregateFunction(any, String),
    Errors AggregateFunction(countIf, UInt8)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(Bucket)
ORDER BY (tenant, ServiceName, PatternId, Bucket)
TTL Bucket + toIntervalDay({ttl_days});

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.patterns_mv TO {database}.patterns AS
SELECT
    tenant,
    ServiceName,
    PatternId,
    toStartOfHour(Timestamp) AS Bucket,
    countState() AS Count,
    minState(Timestamp) AS FirstSeen,
    maxState(Timestamp) AS LastSeen,
    argMaxState(Template, ObservedTimestamp) AS Template,
    anyState(Body) AS Sample,
    countIfState(toUInt8(IsError)) AS Errors
FROM {database}.logs
WHERE PatternId != ''
GROUP BY tenant, ServiceName, PatternId, Bucket;
