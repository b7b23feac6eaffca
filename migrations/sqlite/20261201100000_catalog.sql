-- The SQLite twin of ../20261201100000_catalog.sql.
CREATE TABLE catalog (
    symbol     TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    available  INTEGER NOT NULL CHECK (available >= 0),
    created_at INTEGER NOT NULL
);
