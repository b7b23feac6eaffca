-- The metric history: one row per node per sample (METRICS_SAMPLE_SECS),
-- averaged into 1-minute rows after a day and 1-hour rows after a week
-- (`step_secs` says which), deleted after METRICS_RETAIN_DAYS. `at` is ms
-- since the epoch; the pipeline's figures (stream lag, dead letters) are the
-- system's as seen at that time.
CREATE TABLE node_metric (
    node               TEXT COLLATE "C" NOT NULL,
    at                 BIGINT           NOT NULL,
    step_secs          INTEGER          NOT NULL CHECK (step_secs > 0),
    cpu_pct            DOUBLE PRECISION NOT NULL,
    rss_bytes          DOUBLE PRECISION NOT NULL,
    net_in_bps         DOUBLE PRECISION NOT NULL,
    net_out_bps        DOUBLE PRECISION NOT NULL,
    connections        DOUBLE PRECISION NOT NULL,
    sse_clients        DOUBLE PRECISION NOT NULL,
    tasks              DOUBLE PRECISION NOT NULL,
    sched_delay_ms     DOUBLE PRECISION NOT NULL,
    ingest_rate        DOUBLE PRECISION NOT NULL,
    persist_lag_p99_ms DOUBLE PRECISION,
    stream_lag         DOUBLE PRECISION NOT NULL,
    dead_letters       DOUBLE PRECISION NOT NULL,
    sse_resets         DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (node, at, step_secs)
);
CREATE INDEX node_metric_at ON node_metric (at);
CREATE INDEX node_event_at ON node_event (at);
