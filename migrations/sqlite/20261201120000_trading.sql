-- The SQLite twin of ../20261201120000_trading.sql. Money is exact decimal
-- text, so its rules (never negative, reserved <= cash) are kept by the
-- code in one transaction, not by CHECKs (SQLite compares text as text).
ALTER TABLE catalog ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0);

CREATE TABLE account (
    user_id    TEXT    PRIMARY KEY REFERENCES app_user (username) ON DELETE CASCADE,
    cash       TEXT    NOT NULL,
    reserved   TEXT    NOT NULL DEFAULT '0',
    created_at INTEGER NOT NULL
);

CREATE TABLE position (
    user_id   TEXT    NOT NULL REFERENCES account (user_id) ON DELETE CASCADE,
    symbol    TEXT    NOT NULL,
    quantity  INTEGER NOT NULL CHECK (quantity >= 0),
    reserved  INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= quantity),
    avg_price TEXT    NOT NULL,
    PRIMARY KEY (user_id, symbol)
);

CREATE TABLE trade_order (
    number          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         TEXT    NOT NULL REFERENCES account (user_id) ON DELETE CASCADE,
    client_order_id TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    type            TEXT    NOT NULL CHECK (type IN ('market', 'limit')),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    limit_price     TEXT,
    time_in_force   TEXT    NOT NULL CHECK (time_in_force IN ('day', 'gtc', 'ioc')),
    status          TEXT    NOT NULL CHECK (status IN ('new', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected')),
    filled_quantity INTEGER NOT NULL DEFAULT 0 CHECK (filled_quantity >= 0 AND filled_quantity <= quantity),
    avg_fill_price  TEXT,
    reserved_cash   TEXT    NOT NULL DEFAULT '0',
    created_at      INTEGER NOT NULL,
    filled_at       INTEGER,
    canceled_at     INTEGER,
    expires_at      INTEGER,
    UNIQUE (user_id, client_order_id)
);
CREATE INDEX trade_order_user ON trade_order (user_id, number);
CREATE INDEX trade_order_open ON trade_order (symbol) WHERE status IN ('new', 'partially_filled');

CREATE TABLE fill (
    order_number INTEGER NOT NULL REFERENCES trade_order (number) ON DELETE CASCADE,
    price        TEXT    NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    ts           INTEGER NOT NULL,
    stream_id    TEXT,
    UNIQUE (order_number, stream_id)
);
CREATE INDEX fill_order ON fill (order_number);

CREATE TABLE api_token (
    token_hash TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES app_user (username) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX api_token_user ON api_token (user_id);
