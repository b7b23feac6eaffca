-- The SQLite twin of ../20261122160000_accounts_and_events.sql.
CREATE TABLE app_user (
    username      TEXT    NOT NULL PRIMARY KEY,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('viewer', 'admin')),
    created_at    INTEGER NOT NULL
);

CREATE TABLE node_event (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    severity TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message  TEXT    NOT NULL
);
CREATE INDEX node_event_subject ON node_event (subject, id);
