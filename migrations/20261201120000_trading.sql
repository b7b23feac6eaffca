-- Paper trading (DESIGN.md §4a). Money is NUMERIC (exact); quantities are
-- whole shares; times are milliseconds since the Unix epoch. Every change of
-- an order, its fill, the cash, the position and the catalog is one
-- transaction, and the CHECKs keep any bug from driving a balance negative.

-- Shares promised to open limit buys (already taken out of `available`).
ALTER TABLE catalog ADD COLUMN reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0);

-- A user's cash; created with STARTING_CASH on the first trade or lookup.
CREATE TABLE account (
    user_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES app_user (username) ON DELETE CASCADE,
    cash       NUMERIC NOT NULL CHECK (cash >= 0),
    -- Cash promised to open limit buys; never more than the cash.
    reserved   NUMERIC NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= cash),
    created_at BIGINT  NOT NULL
);

CREATE TABLE position (
    user_id   TEXT COLLATE "C" NOT NULL REFERENCES account (user_id) ON DELETE CASCADE,
    symbol    TEXT    NOT NULL,
    quantity  BIGINT  NOT NULL CHECK (quantity >= 0),
    -- Shares promised to open sell orders.
    reserved  BIGINT  NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= quantity),
    avg_price NUMERIC NOT NULL CHECK (avg_price >= 0),
    PRIMARY KEY (user_id, symbol)
);

CREATE TABLE trade_order (
    number          BIGSERIAL PRIMARY KEY,
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES account (user_id) ON DELETE CASCADE,
    client_order_id TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    type            TEXT    NOT NULL CHECK (type IN ('market', 'limit')),
    quantity        BIGINT  NOT NULL CHECK (quantity > 0),
    limit_price     NUMERIC CHECK (limit_price > 0),
    time_in_force   TEXT    NOT NULL CHECK (time_in_force IN ('day', 'gtc', 'ioc')),
    status          TEXT    NOT NULL CHECK (status IN ('new', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected')),
    filled_quantity BIGINT  NOT NULL DEFAULT 0 CHECK (filled_quantity >= 0 AND filled_quantity <= quantity),
    avg_fill_price  NUMERIC,
    -- Cash this order still holds in account.reserved (open limit buys).
    reserved_cash   NUMERIC NOT NULL DEFAULT 0 CHECK (reserved_cash >= 0),
    created_at      BIGINT  NOT NULL,
    filled_at       BIGINT,
    canceled_at     BIGINT,
    -- When a day order expires (the next midnight UTC); NULL otherwise.
    expires_at      BIGINT,
    UNIQUE (user_id, client_order_id)
);
CREATE INDEX trade_order_user ON trade_order (user_id, number);
CREATE INDEX trade_order_open ON trade_order (symbol) WHERE status IN ('new', 'partially_filled');

CREATE TABLE fill (
    order_number BIGINT  NOT NULL REFERENCES trade_order (number) ON DELETE CASCADE,
    price        NUMERIC NOT NULL CHECK (price > 0),
    quantity     BIGINT  NOT NULL CHECK (quantity > 0),
    ts           BIGINT  NOT NULL,
    -- The tick that filled a limit order (at most one fill per order and
    -- tick); NULL for a market order.
    stream_id    TEXT,
    UNIQUE (order_number, stream_id)
);
CREATE INDEX fill_order ON fill (order_number);

-- Personal tokens for programs: only a SHA-256 of the token is kept.
CREATE TABLE api_token (
    token_hash TEXT   PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES app_user (username) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX api_token_user ON api_token (user_id);
