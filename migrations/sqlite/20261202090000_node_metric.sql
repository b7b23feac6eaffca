-- The metric history: one row per node per sample (METRICS_SAMPLE_SECS),
-- averaged into 1-minute rows after a day and 1-hour rows after a week
-- (`step_secs` says which), deleted after METRICS_RETAIN_DAYS. `at` is ms
-- since the epoch; the pipeline's figures (stream lag, dead letters) are the
-- system's as seen at that time.
CREATE TABLE node_metric (
    node               TEXT NOT NULL,
    at                 INTEGER          NOT NULL,
    step_secs          INTEGER          NOT NULL CHECK (step_secs > 0),
    cpu_pct            REAL             NOT NULL,
    rss_bytes          REAL             NOT NULL,
    net_in_bps         REAL             NOT NULL,
    net_out_bps        REAL             NOT NULL,
    connections        REAL             NOT NULL,
    sse_clients        REAL             NOT NULL,
    tasks              REAL             NOT NULL,
    sched_delay_ms     REAL             NOT NULL,
    ingest_rate        REAL             NOT NULL,
    persist_lag_p99_ms REAL            ,
    stream_lag         REAL             NOT NULL,
    dead_letters       REAL             NOT NULL,
    sse_resets         REAL             NOT NULL,
    PRIMARY KEY (node, at, step_secs)
);
CREATE INDEX node_metric_at ON node_metric (at);
CREATE INDEX node_event_at ON node_event (at);
