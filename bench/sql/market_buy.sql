-- One market buy as tickpulse runs it (server/src/store/trading.rs,
-- place_order on Postgres): the same statements in the same order, with
-- the same row locks, for pgbench (`bench-trade` runs it as the baseline).
-- Users bench-u1..bench-u64 and stocks BENCH-001..BENCH-500 exist.
\set u random(1, 64)
\set s random(1, 500)
BEGIN;
INSERT INTO account (user_id, cash, reserved, created_at) VALUES ('bench-u' || :u, 1000000000, 0, 0) ON CONFLICT (user_id) DO NOTHING;
SELECT user_id FROM account WHERE user_id = 'bench-u' || :u FOR UPDATE;
INSERT INTO trade_order (user_id, client_order_id, symbol, side, type, quantity, limit_price, time_in_force, status, created_at, expires_at)
  VALUES ('bench-u' || :u, gen_random_uuid()::text, 'BENCH-' || lpad(:s::text, 3, '0'), 'buy', 'market', 1, NULL, 'day', 'new', 0, NULL)
  ON CONFLICT (user_id, client_order_id) DO NOTHING RETURNING number \gset
SELECT CAST(cash AS TEXT) AS cash, CAST(reserved AS TEXT) AS reserved FROM account WHERE user_id = 'bench-u' || :u FOR UPDATE;
SELECT available, reserved FROM catalog WHERE symbol = 'BENCH-' || lpad(:s::text, 3, '0') FOR UPDATE;
SELECT quantity, reserved, CAST(avg_price AS TEXT) AS avg_price FROM position WHERE user_id = 'bench-u' || :u AND symbol = 'BENCH-' || lpad(:s::text, 3, '0') FOR UPDATE;
UPDATE account SET cash = cash - 100, reserved = 0 WHERE user_id = 'bench-u' || :u;
UPDATE catalog SET available = available - 1, reserved = 0 WHERE symbol = 'BENCH-' || lpad(:s::text, 3, '0');
INSERT INTO position (user_id, symbol, quantity, reserved, avg_price) VALUES ('bench-u' || :u, 'BENCH-' || lpad(:s::text, 3, '0'), 1, 0, 100)
  ON CONFLICT (user_id, symbol) DO UPDATE SET quantity = position.quantity + 1, reserved = EXCLUDED.reserved, avg_price = EXCLUDED.avg_price;
INSERT INTO fill (order_number, price, quantity, ts, stream_id) VALUES (:number, 100, 1, 0, NULL);
UPDATE trade_order SET status = 'filled', filled_quantity = 1, avg_fill_price = 100, reserved_cash = 0, filled_at = 0, canceled_at = NULL WHERE number = :number;
COMMIT;
