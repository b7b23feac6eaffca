-- The stock catalog: what can be traded, and how many shares the house can
-- still sell (never below zero).
CREATE TABLE catalog (
    symbol     TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    available  BIGINT NOT NULL CHECK (available >= 0),
    created_at BIGINT NOT NULL
);
