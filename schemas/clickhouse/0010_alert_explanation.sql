-- The alerter's optional explanation of an alert (ALERTER_EXPLAIN_URL): what the data says about
-- the alert's window, and the suggested next steps. Empty when the explainer is off.
ALTER TABLE {database}.alerts ADD COLUMN IF NOT EXISTS Explanation String DEFAULT '' CODEC(ZSTD(1)) AFTER ResolveReason;
ALTER TABLE {database}.alerts ADD COLUMN IF NOT EXISTS Runbook Array(String) DEFAULT [] CODEC(ZSTD(1)) AFTER Explanation;
