-- Services registered through query-api (PUT /v1/services/{name}): who owns them and what they
-- are, so the health overview lists a registered service even before (or long after) it logs.
-- One row per change; ReplacingMergeTree(UpdatedAt) keeps the latest per tenant and name (read
-- with FINAL); a deletion is a row with Deleted = 1.
CREATE TABLE IF NOT EXISTS {database}.services
(
    tenant LowCardinality(String),
    Name String,
    Owner String,
    Description String,
    Tier LowCardinality(String),
    Tags Map(LowCardinality(String), String),
    UpdatedAt DateTime64(3),
    Deleted UInt8
)
ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY (tenant, Name);
