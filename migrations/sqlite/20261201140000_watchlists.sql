-- The SQLite twin of ../20261201140000_watchlists.sql.
CREATE TABLE watchlist (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT    NOT NULL REFERENCES app_user (username) ON DELETE CASCADE,
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    name_key   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, name_key)
);

CREATE TABLE watchlist_symbol (
    watchlist_id INTEGER NOT NULL REFERENCES watchlist (id) ON DELETE CASCADE,
    symbol       TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    PRIMARY KEY (watchlist_id, symbol)
);
CREATE INDEX watchlist_symbol_order ON watchlist_symbol (watchlist_id, position);
