-- Manual resolution (POST /v1/alerts/{id}/resolve on the alerter): who resolved an alert and why.
-- Empty for alerts that resolved by themselves, as AcknowledgedBy is for unacknowledged ones.
ALTER TABLE {database}.alerts ADD COLUMN IF NOT EXISTS ResolvedBy String DEFAULT '' CODEC(ZSTD(1)) AFTER AcknowledgedBy;
ALTER TABLE {database}.alerts ADD COLUMN IF NOT EXISTS ResolveReason String DEFAULT '' CODEC(ZSTD(1)) AFTER ResolvedBy;
