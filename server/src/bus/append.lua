-- Appends a batch of validated ticks atomically (see bus/redis.rs).
--
-- ARGV[1] key prefix, ARGV[2] de-dupe TTL (s), ARGV[3] stream MAXLEN (~),
-- then five arguments per tick:
--   event_id, symbol, sortable event time (20 digits), price, tick JSON
-- where the tick JSON is a StreamTick object without its "id".
--
-- Per tick: skip it when seen:{event_id} exists (duplicate); otherwise XADD
-- it, remember the event id, keep ticks:first (first price) and, when the
-- tick is not older than the stored one, ticks:latest (+ its event time in
-- ticks:latest:ts, compared as fixed-width strings). The seen key is written
-- only after XADD succeeded, so a failed append can be retried.
-- One PUBLISH carries every appended tick, as a JSON array.
--
-- Returns a string of '1' (appended) / '0' (duplicate), one per tick.
local prefix, ttl, maxlen = ARGV[1], ARGV[2], ARGV[3]
local stream = prefix .. 'ticks.received'
local latest = prefix .. 'ticks:latest'
local latest_ts = prefix .. 'ticks:latest:ts'
local first = prefix .. 'ticks:first'
local flags, out = {}, {}
for i = 4, #ARGV, 5 do
  local event_id, symbol, ts_key, price, body = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local seen = prefix .. 'seen:' .. event_id
  if redis.call('EXISTS', seen) == 1 then
    flags[#flags + 1] = '0'
  else
    local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'symbol', symbol, 'tick', body)
    redis.call('SET', seen, id, 'EX', ttl)
    local full = '{"id":"' .. id .. '",' .. string.sub(body, 2)
    local stored = redis.call('HGET', latest_ts, symbol)
    if (not stored) or stored <= ts_key then
      redis.call('HSET', latest_ts, symbol, ts_key)
      redis.call('HSET', latest, symbol, full)
    end
    redis.call('HSETNX', first, symbol, price)
    flags[#flags + 1] = '1'
    out[#out + 1] = full
  end
end
if #out > 0 then
  redis.call('PUBLISH', prefix .. 'realtime:updates', '[' .. table.concat(out, ',') .. ']')
end
return table.concat(flags)
