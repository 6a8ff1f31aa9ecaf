-- attribute_keys: every attribute key of each tenant, resource and log attributes apart, under the
-- name the Loki API shows it by (characters outside [a-zA-Z0-9_] become `_`), per day. A label in
-- a LogQL selector or filter is a sanitised name; this table turns it back into the keys stored
-- (`user_agent` → `user-agent`, `cloud_availability_zone` → `cloud.availability_zone`), which
-- neither the name itself nor the name with every `_` read as `.` reaches. The query API reads it
-- once per label name (cached), by its primary key, and then reads only the maps that hold it.
-- Filled by a materialised view on every insert into logs, each insert block's key sets grouped
-- first so that a name is sanitised once per distinct key, and back-filled once from the rows
-- stored before this migration. It lives as long as the logs it names (RetentionDays, 0011).
CREATE TABLE IF NOT EXISTS {database}.attribute_keys
(
    tenant LowCardinality(String),
    Name LowCardinality(String),
    Kind Enum8('resource' = 1, 'log' = 2),
    Key String,
    Day Date,
    RetentionDays UInt16 DEFAULT {ttl_days}
)
ENGINE = ReplacingMergeTree
PARTITION BY (toYYYYMM(Day), RetentionDays)
ORDER BY (tenant, Name, Kind, Key, Day)
TTL Day + toIntervalDay(RetentionDays);

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.attribute_keys_mv TO {database}.attribute_keys AS
SELECT tenant, replaceRegexpAll(kk.2, '[^a-zA-Z0-9_]', '_') AS Name, kk.1 AS Kind, kk.2 AS Key, Day, RetentionDays
FROM (
    SELECT tenant, toDate(TimestampTime) AS Day, RetentionDays, mapKeys(ResourceAttributes) AS rk, mapKeys(LogAttributes) AS lk
    FROM {database}.logs
    GROUP BY tenant, Day, RetentionDays, rk, lk
)
ARRAY JOIN arrayConcat(arrayMap(k -> ('resource', toString(k)), rk), arrayMap(k -> ('log', toString(k)), lk)) AS kk
GROUP BY tenant, Name, Kind, Key, Day, RetentionDays;

INSERT INTO {database}.attribute_keys SETTINGS throw_on_max_partitions_per_insert_block = 0
SELECT tenant, replaceRegexpAll(kk.2, '[^a-zA-Z0-9_]', '_') AS Name, kk.1 AS Kind, kk.2 AS Key, Day, RetentionDays
FROM (
    SELECT tenant, toDate(TimestampTime) AS Day, RetentionDays, mapKeys(ResourceAttributes) AS rk, mapKeys(LogAttributes) AS lk
    FROM {database}.logs
    GROUP BY tenant, Day, RetentionDays, rk, lk
)
ARRAY JOIN arrayConcat(arrayMap(k -> ('resource', toString(k)), rk), arrayMap(k -> ('log', toString(k)), lk)) AS kk
GROUP BY tenant, Name, Kind, Key, Day, RetentionDays
