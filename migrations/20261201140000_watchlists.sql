-- Watchlists: per user, named lists of symbols in the order they were
-- added. `name_key` (the lower-cased name) keeps names unique per user
-- whatever their case.
CREATE TABLE watchlist (
    id         BIGSERIAL PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES app_user (username) ON DELETE CASCADE,
    name       TEXT   NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    name_key   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name_key)
);

CREATE TABLE watchlist_symbol (
    watchlist_id BIGINT NOT NULL REFERENCES watchlist (id) ON DELETE CASCADE,
    symbol       TEXT COLLATE "C" NOT NULL,
    position     INTEGER NOT NULL,
    PRIMARY KEY (watchlist_id, symbol)
);
CREATE INDEX watchlist_symbol_order ON watchlist_symbol (watchlist_id, position);
