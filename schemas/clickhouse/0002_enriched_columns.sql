-- The enricher's fields (logs.enriched). Added columns take their defaults on existing rows:
-- nothing stored before is rewritten or lost.
ALTER TABLE {database}.logs
    ADD COLUMN IF NOT EXISTS Category LowCardinality(String) DEFAULT 'unknown',
    ADD COLUMN IF NOT EXISTS IsError Bool DEFAULT SeverityNumber >= 17,
    ADD COLUMN IF NOT EXISTS PatternId LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS Template String DEFAULT '' CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS Classifier LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS HttpStatus Nullable(UInt16),
    ADD COLUMN IF NOT EXISTS DurationMs Nullable(Float64),
    ADD COLUMN IF NOT EXISTS UserId String DEFAULT '' CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS SessionId String DEFAULT '' CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS ErrorCode LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS Redacted Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS Truncated Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS ParsedFormat LowCardinality(String) DEFAULT '';
ALTER TABLE {database}.logs ADD INDEX IF NOT EXISTS idx_pattern_id PatternId TYPE set(0) GRANULARITY 4;
