-- Appends a batch of validated ticks atomically (see bus/redis.rs).
--
-- ARGV[1] key prefix, ARGV[2] de-dupe TTL (s),
-- then five arguments per tick:
--   event_id, symbol, sortable event time (20 digits), price, tick JSON
-- where the tick JSON is a StreamTick object without its "id".
--
-- Per tick: SET seen:{event_id} NX; if it existed the tick is a duplicate,
-- otherwise XADD it. Should XADD fail, the seen key is removed again before
-- the error is raised, so a failed append can always be retried.
-- Per symbol (once per call, not per tick): ticks:first keeps the first
-- price; ticks:latest (+ its event time in ticks:latest:ts, compared as
-- fixed-width strings) takes the newest appended tick unless the stored one
-- is newer. On equal event times the later arrival wins.
-- One PUBLISH carries every appended tick (format in bus/redis.rs).
--
-- Returns a string of '1' (appended) / '0' (duplicate), one per tick.
local prefix, ttl = ARGV[1], ARGV[2]
local stream = prefix .. 'ticks.received'
local flags, head, bodies = {}, {}, {}
local newest, first_price, symbols = {}, {}, {}
for i = 3, #ARGV, 5 do
  local event_id, symbol, ts_key, price, body = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local seen = prefix .. 'seen:' .. event_id
  if not redis.call('SET', seen, '1', 'NX', 'EX', ttl) then
    flags[#flags + 1] = '0'
  else
    local id = redis.pcall('XADD', stream, '*', 'symbol', symbol, 'tick', body)
    if type(id) == 'table' and id.err then
      redis.call('DEL', seen)
      return redis.error_reply(id.err)
    end
    local best = newest[symbol]
    if not best then
      symbols[#symbols + 1] = symbol
      first_price[symbol] = price
      newest[symbol] = { ts_key, id, body }
    elseif best[1] <= ts_key then
      newest[symbol] = { ts_key, id, body }
    end
    flags[#flags + 1] = '1'
    head[#head + 1] = id
    head[#head + 1] = symbol
    bodies[#bodies + 1] = body
  end
end
if #symbols > 0 then
  local latest, latest_ts, first = prefix .. 'ticks:latest', prefix .. 'ticks:latest:ts', prefix .. 'ticks:first'
  -- HMGET in chunks: unpack() is limited to a few thousand values.
  for from = 1, #symbols, 1000 do
    local to = math.min(from + 999, #symbols)
    local stored = redis.call('HMGET', latest_ts, unpack(symbols, from, to))
    for j = from, to do
      local symbol, best, old = symbols[j], newest[symbols[j]], stored[j - from + 1]
      if (not old) or old <= best[1] then
        redis.call('HSET', latest_ts, symbol, best[1])
        redis.call('HSET', latest, symbol, '{"id":"' .. best[2] .. '",' .. string.sub(best[3], 2))
      end
      redis.call('HSETNX', first, symbol, first_price[symbol])
    end
  end
  redis.call('PUBLISH', prefix .. 'realtime:updates', table.concat(head, ' ') .. '\n' .. table.concat(bodies, '\n'))
end
return table.concat(flags)
