-- Appends a batch of validated ticks atomically (see bus/redis.rs).
--
-- ARGV[1] key prefix, ARGV[2] de-dupe window (s), ARGV[3] number of ticks n,
-- ARGV[4] most ticks per stream entry, ARGV[5] id slots per entry, then
-- four arguments per tick:
--   event_id, symbol, sortable event time (20 digits), tick JSON
-- where the tick JSON is a StreamTick object without its "id"; then one
-- pair per symbol of the batch: symbol, price of its first tick.
--
-- De-duplication: event ids are remembered in one set per window of time,
-- seen:{n} with n = floor(server time / window), expiring two windows after
-- it starts. A tick is a duplicate when its id is in the current or the
-- previous set, or earlier in this batch, so an id is remembered for at least
-- one window and at most two. The sets are read with one SMISMEMBER each and
-- written with one SADD per batch, which is much cheaper than a key per tick.
-- Should an XADD fail, the ids of the packs appended so far are still
-- recorded before the error is raised, so a retry answers those as
-- duplicates and appends the rest.
-- The accepted ticks go into the stream in packs: one entry per ARGV[4]
-- ticks at most, with the single field `ticks` holding their JSON bodies
-- joined by newlines (tick k of entry ms-s has the id ms-(s * slots + k),
-- see bus/redis.rs), so the stream, the consumer groups' pending lists
-- and their replies cost per pack, not per tick.
-- Per symbol (once per call, not per tick): ticks:first keeps the first
-- price; ticks:latest (+ its event time in ticks:latest:ts, compared as
-- fixed-width strings) takes the newest appended tick unless the stored one
-- is newer. On equal event times the later arrival wins.
-- One PUBLISH per pack carries its ticks (format in bus/redis.rs).
-- The loop over the ticks allocates no table per tick: it runs once per
-- accepted tick and is most of the script's cost.
--
-- Returns a string of '1' (appended) / '0' (duplicate), one per tick.
local prefix, window, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local pack_max, slots = tonumber(ARGV[4]), tonumber(ARGV[5])
local stream = prefix .. 'ticks.received'
local n = math.floor(tonumber(redis.call('TIME')[1]) / window)
local current, previous = prefix .. 'seen:' .. n, prefix .. 'seen:' .. (n - 1)
local first_arg, last = 6, 5 + 4 * count
local ids = {}
for i = first_arg, last, 4 do ids[#ids + 1] = ARGV[i] end
-- unpack() is limited to a few thousand values: every bulk call is chunked.
local CHUNK = 1000
local known = {}
for _, set in ipairs({ current, previous }) do
  for from = 1, #ids, CHUNK do
    local to = math.min(from + CHUNK - 1, #ids)
    local found = redis.call('SMISMEMBER', set, unpack(ids, from, to))
    for j = from, to do
      if found[j - from + 1] == 1 then known[ids[j]] = true end
    end
  end
end
local function remember(added, upto)
  for from = 1, upto, CHUNK do
    redis.call('SADD', current, unpack(added, from, math.min(from + CHUNK - 1, upto)))
  end
  if upto > 0 then redis.call('EXPIREAT', current, (n + 2) * window) end
end
-- Pass 1: which ticks are new, in order.
local flags, added, fresh = {}, {}, {}
for i = first_arg, last, 4 do
  local event_id = ARGV[i]
  if known[event_id] then
    flags[#flags + 1] = '0'
  else
    known[event_id] = true
    added[#added + 1] = event_id
    fresh[#fresh + 1] = i
    flags[#flags + 1] = '1'
  end
end
-- Pass 2: the new ticks, pack by pack.
local newest_ts, newest_ms, newest_seq, newest_body, symbols = {}, {}, {}, {}, {}
for from = 1, #fresh, pack_max do
  local to = math.min(from + pack_max - 1, #fresh)
  local bodies, names = {}, {}
  for j = from, to do
    local i = fresh[j]
    bodies[#bodies + 1] = ARGV[i + 3]
    names[#names + 1] = ARGV[i + 1]
  end
  local pack = table.concat(bodies, '\n')
  local entry = redis.pcall('XADD', stream, '*', 'ticks', pack)
  if type(entry) == 'table' and entry.err then
    remember(added, from - 1)
    return redis.error_reply(entry.err)
  end
  local dash = string.find(entry, '-', 1, true)
  local ms, base = string.sub(entry, 1, dash - 1), tonumber(string.sub(entry, dash + 1)) * slots
  for j = from, to do
    local i = fresh[j]
    local symbol, ts_key = ARGV[i + 1], ARGV[i + 2]
    local best = newest_ts[symbol]
    if not best then symbols[#symbols + 1] = symbol end
    if (not best) or best <= ts_key then
      newest_ts[symbol], newest_body[symbol] = ts_key, ARGV[i + 3]
      newest_ms[symbol], newest_seq[symbol] = ms, base + (j - from)
    end
  end
  redis.call('PUBLISH', prefix .. 'realtime:updates', entry .. '\n' .. table.concat(names, ' ') .. '\n' .. pack)
end
remember(added, #added)
if #symbols > 0 then
  local first_price = {}
  for i = last + 1, #ARGV, 2 do first_price[ARGV[i]] = ARGV[i + 1] end
  local latest, latest_ts, first = prefix .. 'ticks:latest', prefix .. 'ticks:latest:ts', prefix .. 'ticks:first'
  for from = 1, #symbols, CHUNK do
    local to = math.min(from + CHUNK - 1, #symbols)
    local stored = redis.call('HMGET', latest_ts, unpack(symbols, from, to))
    for j = from, to do
      local symbol, old = symbols[j], stored[j - from + 1]
      local ts_key = newest_ts[symbol]
      if (not old) or old <= ts_key then
        redis.call('HSET', latest_ts, symbol, ts_key)
        local id = newest_ms[symbol] .. '-' .. string.format('%.0f', newest_seq[symbol])
        redis.call('HSET', latest, symbol, '{"id":"' .. id .. '",' .. string.sub(newest_body[symbol], 2))
      end
      redis.call('HSETNX', first, symbol, first_price[symbol])
    end
  end
end
return table.concat(flags)
