-- Fewer, wider merges of logs and of the tables its views fill on every insert. A merge rewrites
-- every column of its rows and, for logs, rebuilds their skip and text indexes, so rows pay for
-- each merge they go through; with inserts of one sink flush each (~1 s of logs), merging is most
-- of ClickHouse's work on ingest. merge_selector_base is how much bigger than its largest part a
-- merge must be (ClickHouse's Simple merge selector, default 5): at 10, about ten parts of a size
-- are merged at once instead of five, so a row reaches a day's large parts in fewer merges (log 10
-- rather than log 5 of the growth), at the cost of a few more parts at a time. Measured with the
-- sink's RowBinary inserts of 30 000 bench rows, 3 per second, ClickHouse's CPU per row:
--   logs only, 1.2 M rows: 15.2 µs against 20.4 (two and four runs); 3.6 M rows until merges
--   settled: 23.7 against 26.3 (one run each; 2 parts left against 8);
--   the views' tables too, 1.2 M rows: 12.7 µs against 14.6 with logs only (three runs each).
-- End to end (`BENCH_ONLY=e2e`, logs only, three alternating pairs): ClickHouse's threads 15.8 µs
-- per record against 19.6. Metadata only: stored parts stay as they are.
ALTER TABLE {database}.logs MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {database}.error_events MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {database}.patterns MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {database}.pattern_aliases MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {database}.volume MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {database}.label_values MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {database}.attribute_keys MODIFY SETTING merge_selector_base = 10
