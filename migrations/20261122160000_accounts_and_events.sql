-- Accounts and the alert log. Times are milliseconds since the Unix epoch.
-- Passwords are stored only as argon2id PHC strings.
CREATE TABLE app_user (
    username      TEXT COLLATE "C" PRIMARY KEY,
    password_hash TEXT   NOT NULL,
    role          TEXT   NOT NULL CHECK (role IN ('viewer', 'admin')),
    created_at    BIGINT NOT NULL
);

-- What the monitor saw happen to nodes and feeds: node.suspect, node.down,
-- node.recovered, node.stopped, feed.stale, feed.recovered.
CREATE TABLE node_event (
    id       BIGSERIAL PRIMARY KEY,
    at       BIGINT NOT NULL,
    kind     TEXT   NOT NULL,
    subject  TEXT   NOT NULL,
    severity TEXT   NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message  TEXT   NOT NULL
);
CREATE INDEX node_event_subject ON node_event (subject, id);
