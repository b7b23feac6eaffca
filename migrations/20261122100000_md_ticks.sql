-- Every accepted tick, once (event_id is the idempotency key).
-- Times are nanoseconds since the Unix epoch, UTC (exact; timestamptz keeps
-- only microseconds). Prices and volumes are exact NUMERIC.
CREATE TABLE md_ticks (
    event_id    TEXT    PRIMARY KEY,
    stream_id   TEXT    NOT NULL,      -- position in ticks.received, "<ms>-<seq>"
    symbol      TEXT    NOT NULL,
    price       NUMERIC NOT NULL CHECK (price > 0),
    volume      NUMERIC NOT NULL CHECK (volume >= 0),
    source      TEXT    NOT NULL,
    ts          BIGINT  NOT NULL,      -- event time
    received_at BIGINT  NOT NULL,      -- when tickpulse accepted the tick
    persisted_at BIGINT NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1e9)::BIGINT
);

-- History and candles read one symbol by event time, newest first.
CREATE INDEX md_ticks_symbol_ts ON md_ticks (symbol, ts DESC);
