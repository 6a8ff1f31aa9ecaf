-- Per-tenant retention (SigNoz's `_retention_days` is the model). Every row of logs carries the
-- days its tenant keeps logs (RetentionDays, written by the sink from SLUICE_TENANTS_FILE's
-- retention_days, else CLICKHOUSE_TTL_DAYS), and the partition key includes it, so every part
-- holds rows of one day and one retention: TTL TimestampTime + RetentionDays expires a part's
-- rows all on the same day, and ttl_only_drop_parts drops the part whole instead of rewriting it.
-- The tables filled from logs (error_events, volume, label_values, patterns) get the same
-- column, partition key and TTL, so what is derived from a tenant's logs lives as long as they do
-- (a tenant keeping logs for a year keeps its volume histogram for a year, too).
--
-- A partition key cannot be altered: each table is copied into a new one and the two swapped
-- (EXCHANGE TABLES, atomic), then the old one dropped. Rows stored before this migration get
-- RetentionDays = CLICKHOUSE_TTL_DAYS as it was when it ran. The materialised views reading logs
-- are dropped first (no copy feeds them twice) and created again at the end, with RetentionDays.
-- Nothing else may insert into logs while this runs (a process of an older version, say): its
-- rows would land in the table being replaced. Every step can run again after a failure.
DROP VIEW IF EXISTS {database}.pattern_aliases_mv;
DROP VIEW IF EXISTS {database}.patterns_mv;
DROP VIEW IF EXISTS {database}.volume_mv;
DROP VIEW IF EXISTS {database}.label_values_mv;
DROP VIEW IF EXISTS {database}.error_events_mv;

-- logs
ALTER TABLE {database}.logs ADD COLUMN IF NOT EXISTS RetentionDays UInt16 DEFAULT {ttl_days};
DROP TABLE IF EXISTS {database}.logs_0011 SYNC;
CREATE TABLE {database}.logs_0011 AS {database}.logs
ENGINE = ReplacingMergeTree
PARTITION BY (toDate(TimestampTime), RetentionDays)
ORDER BY (tenant, ServiceName, TimestampTime, Timestamp, id)
TTL TimestampTime + toIntervalDay(RetentionDays)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;
INSERT INTO {database}.logs_0011 SETTINGS optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0 SELECT * FROM {database}.logs;
EXCHANGE TABLES {database}.logs AND {database}.logs_0011;
DROP TABLE {database}.logs_0011 SYNC;

-- error_events: records with an error code, attributes and all: log content, kept as the logs are.
ALTER TABLE {database}.error_events ADD COLUMN IF NOT EXISTS RetentionDays UInt16 DEFAULT {ttl_days};
DROP TABLE IF EXISTS {database}.error_events_0011 SYNC;
CREATE TABLE {database}.error_events_0011 AS {database}.error_events
ENGINE = ReplacingMergeTree
PARTITION BY (toDate(TimestampTime), RetentionDays)
ORDER BY (tenant, ErrorCode, TimestampTime, Timestamp, id)
TTL TimestampTime + toIntervalDay(RetentionDays)
SETTINGS ttl_only_drop_parts = 1;
INSERT INTO {database}.error_events_0011 SETTINGS optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0 SELECT * FROM {database}.error_events;
EXCHANGE TABLES {database}.error_events AND {database}.error_events_0011;
DROP TABLE {database}.error_events_0011 SYNC;

-- volume: counts per minute, daily partitions.
ALTER TABLE {database}.volume ADD COLUMN IF NOT EXISTS RetentionDays UInt16 DEFAULT {ttl_days};
DROP TABLE IF EXISTS {database}.volume_0011 SYNC;
CREATE TABLE {database}.volume_0011 AS {database}.volume
ENGINE = SummingMergeTree((Count, Bytes))
PARTITION BY (toDate(Minute), RetentionDays)
ORDER BY (tenant, ServiceName, Level, Minute)
TTL Minute + toIntervalDay(RetentionDays);
INSERT INTO {database}.volume_0011 SETTINGS optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0 SELECT * FROM {database}.volume;
EXCHANGE TABLES {database}.volume AND {database}.volume_0011;
DROP TABLE {database}.volume_0011 SYNC;

-- label_values: counts per hour, monthly partitions.
ALTER TABLE {database}.label_values ADD COLUMN IF NOT EXISTS RetentionDays UInt16 DEFAULT {ttl_days};
DROP TABLE IF EXISTS {database}.label_values_0011 SYNC;
CREATE TABLE {database}.label_values_0011 AS {database}.label_values
ENGINE = SummingMergeTree(Count)
PARTITION BY (toYYYYMM(Hour), RetentionDays)
ORDER BY (tenant, Name, Value, Hour)
TTL Hour + toIntervalDay(RetentionDays);
INSERT INTO {database}.label_values_0011 SETTINGS optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0 SELECT * FROM {database}.label_values;
EXCHANGE TABLES {database}.label_values AND {database}.label_values_0011;
DROP TABLE {database}.label_values_0011 SYNC;

-- patterns: aggregate states per hour, monthly partitions.
ALTER TABLE {database}.patterns ADD COLUMN IF NOT EXISTS RetentionDays UInt16 DEFAULT {ttl_days};
DROP TABLE IF EXISTS {database}.patterns_0011 SYNC;
CREATE TABLE {database}.patterns_0011 AS {database}.patterns
ENGINE = AggregatingMergeTree
PARTITION BY (toYYYYMM(Bucket), RetentionDays)
ORDER BY (tenant, ServiceName, PatternId, Bucket)
TTL Bucket + toIntervalDay(RetentionDays);
INSERT INTO {database}.patterns_0011 SETTINGS optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0 SELECT * FROM {database}.patterns;
EXCHANGE TABLES {database}.patterns AND {database}.patterns_0011;
DROP TABLE {database}.patterns_0011 SYNC;

-- The views again, as in 0004, 0005 and 0007, now carrying RetentionDays. pattern_aliases (alias →
-- pattern id, no log content, no TTL) is unchanged.
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.pattern_aliases_mv TO {database}.pattern_aliases AS
SELECT tenant, arrayJoin(PatternAliases) AS Alias, PatternId, ObservedTimestamp AS MergedAt
FROM {database}.logs
WHERE notEmpty(PatternAliases);

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.patterns_mv TO {database}.patterns AS
SELECT
    tenant,
    ServiceName,
    PatternId,
    toStartOfHour(Timestamp) AS Bucket,
    RetentionDays,
    countState() AS Count,
    minState(Timestamp) AS FirstSeen,
    maxState(Timestamp) AS LastSeen,
    argMaxState(Template, ObservedTimestamp) AS Template,
    anyState(Body) AS Sample,
    countIfState(toUInt8(IsError)) AS Errors
FROM {database}.logs
WHERE PatternId != ''
GROUP BY tenant, ServiceName, PatternId, Bucket, RetentionDays;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.volume_mv TO {database}.volume AS
SELECT tenant, ServiceName, lower(SeverityText) AS Level, toStartOfMinute(Timestamp) AS Minute, RetentionDays, count() AS Count, sum(length(Body)) AS Bytes
FROM {database}.logs
GROUP BY tenant, ServiceName, Level, Minute, RetentionDays;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.label_values_mv TO {database}.label_values AS
SELECT tenant, kv.1 AS Name, kv.2 AS Value, toStartOfHour(Timestamp) AS Hour, RetentionDays, count() AS Count
FROM {database}.logs
ARRAY JOIN arrayConcat(
    [('service_name', toString(ServiceName)), ('level', lower(SeverityText)), ('host', toString(HostName))],
    arrayMap(k -> (replaceRegexpAll(k, '[^a-zA-Z0-9_]', '_'), ResourceAttributes[k]), arrayFilter(k -> k != 'service.name', mapKeys(ResourceAttributes)))
) AS kv
WHERE kv.2 != ''
GROUP BY tenant, Name, Value, Hour, RetentionDays;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.error_events_mv TO {database}.error_events AS
SELECT tenant, ErrorCode, Timestamp, toDateTime(Timestamp) AS TimestampTime, id, ServiceName, HostName, PatternId, UserId, SessionId, LogAttributes, ResourceAttributes, RetentionDays
FROM {database}.logs
WHERE ErrorCode != '';
