-- What the Loki API reads instead of scanning logs (qryn's metrics_15s and time_series tables are
-- the model). Both are filled by materialised views on every insert into logs, and back-filled
-- once from the rows stored before this migration, so existing data is kept and covered.
--
-- volume: records and bytes per tenant, service, level and minute. Serves index/volume,
-- index/volume_range, index/stats and metric queries that count a bare selector over
-- service_name/level (Grafana's log-volume histogram). Sums, so rows from many inserts add up
-- when read with sum() … GROUP BY. A record re-delivered after a crash (at-least-once) counts
-- twice here, as it does in logs until ClickHouse merges the copies.
CREATE TABLE IF NOT EXISTS {database}.volume
(
    tenant LowCardinality(String),
    ServiceName LowCardinality(String),
    Level LowCardinality(String),
    Minute DateTime,
    Count UInt64,
    Bytes UInt64
)
ENGINE = SummingMergeTree((Count, Bytes))
PARTITION BY toDate(Minute)
ORDER BY (tenant, ServiceName, Level, Minute)
TTL Minute + toIntervalDay({ttl_days});

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.volume_mv TO {database}.volume AS
SELECT tenant, ServiceName, lower(SeverityText) AS Level, toStartOfMinute(Timestamp) AS Minute, count() AS Count, sum(length(Body)) AS Bytes
FROM {database}.logs
GROUP BY tenant, ServiceName, Level, Minute;

INSERT INTO {database}.volume
SELECT tenant, ServiceName, lower(SeverityText) AS Level, toStartOfMinute(Timestamp) AS Minute, count() AS Count, sum(length(Body)) AS Bytes
FROM {database}.logs
GROUP BY tenant, ServiceName, Level, Minute;

-- label_values: every stream label name and value seen per tenant and hour, with a count — the
-- label browser (labels, label/{name}/values, detected_labels) reads this instead of logs.
-- Stream labels: service_name, level, host, and resource attributes other than service.name
-- under Loki's sanitised names (`k8s.namespace.name` → k8s_namespace_name).
CREATE TABLE IF NOT EXISTS {database}.label_values
(
    tenant LowCardinality(String),
    Name LowCardinality(String),
    Value String,
    Hour DateTime,
    Count UInt64
)
ENGINE = SummingMergeTree(Count)
PARTITION BY toYYYYMM(Hour)
ORDER BY (tenant, Name, Value, Hour)
TTL Hour + toIntervalDay({ttl_days});

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.label_values_mv TO {database}.label_values AS
SELECT tenant, kv.1 AS Name, kv.2 AS Value, toStartOfHour(Timestamp) AS Hour, count() AS Count
FROM {database}.logs
ARRAY JOIN arrayConcat(
    [('service_name', toString(ServiceName)), ('level', lower(SeverityText)), ('host', toString(HostName))],
    arrayMap(k -> (replaceRegexpAll(k, '[^a-zA-Z0-9_]', '_'), ResourceAttributes[k]), arrayFilter(k -> k != 'service.name', mapKeys(ResourceAttributes)))
) AS kv
WHERE kv.2 != ''
GROUP BY tenant, Name, Value, Hour;

INSERT INTO {database}.label_values
SELECT tenant, kv.1 AS Name, kv.2 AS Value, toStartOfHour(Timestamp) AS Hour, count() AS Count
FROM {database}.logs
ARRAY JOIN arrayConcat(
    [('service_name', toString(ServiceName)), ('level', lower(SeverityText)), ('host', toString(HostName))],
    arrayMap(k -> (replaceRegexpAll(k, '[^a-zA-Z0-9_]', '_'), ResourceAttributes[k]), arrayFilter(k -> k != 'service.name', mapKeys(ResourceAttributes)))
) AS kv
WHERE kv.2 != ''
GROUP BY tenant, Name, Value, Hour
