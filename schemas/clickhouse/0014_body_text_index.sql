-- A text (inverted) index on the body, in place of the token bloom filter of 0001. Searching lines
-- for a term (LogQL `|= "…"`, /v1/logs?q=…) is a substring match, Body LIKE '%…%', which a token
-- bloom filter cannot answer: it can only rule out whole tokens, and the ends of a substring need
-- not be whole tokens. The text index keeps each part's dictionary of tokens (split at every ASCII
-- character other than a letter or a digit, as hasToken splits), so ClickHouse answers a LIKE on
-- one run of letters and digits by scanning the dictionary, and a term of several runs through the
-- conditions the query API adds (loki/sql.ts bodyContains). A rare term over a day of ten million
-- rows reads a few granules instead of the whole column.
-- Text indexes are generally available from ClickHouse 26.2 (migrate() checks the version first).
-- MATERIALIZE builds it for the parts stored before this migration (a mutation: a ClickHouse
-- server runs it in the background; embedded ClickHouse runs it at once).
ALTER TABLE {database}.logs ADD INDEX IF NOT EXISTS idx_body_text Body TYPE text(tokenizer = splitByNonAlpha);
ALTER TABLE {database}.logs MATERIALIZE INDEX idx_body_text;
ALTER TABLE {database}.logs DROP INDEX IF EXISTS idx_body
