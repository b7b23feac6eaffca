-- The SQLite twin of ../20261122100000_md_ticks.sql (and of what later
-- Postgres migrations changed), for the embedded mode. Kept in step: a change
-- to md_ticks is a new migration in both folders.
-- Every accepted tick, once (event_id is the idempotency key). Times are
-- nanoseconds since the Unix epoch, UTC. Prices and volumes are exact decimal
-- strings (SQLite has no exact decimal type; they are compared in Rust).
-- Identifiers compare byte by byte (SQLite's default BINARY collation).
CREATE TABLE md_ticks (
    event_id     TEXT    NOT NULL PRIMARY KEY,
    stream_id    TEXT    NOT NULL,
    symbol       TEXT    NOT NULL,
    price        TEXT    NOT NULL,
    volume       TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    ts           INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    persisted_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000000 AS INTEGER))
);

-- History and candles read one symbol by event time, newest first.
CREATE INDEX md_ticks_symbol_ts ON md_ticks (symbol, ts DESC);
