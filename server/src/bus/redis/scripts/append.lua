-- Appends a batch of validated ticks atomically (see bus/redis/mod.rs).
--
-- KEYS[1] the partition's stream (for routing: every key used here shares
-- its hash tag). ARGV[1] the partition's key base (prefix and hash tag),
-- ARGV[2] de-dupe window (s), ARGV[3] number of ticks n, ARGV[4] most
-- ticks per stream entry p, ARGV[5] id slots per entry, ARGV[6] number of
-- chunks c, ARGV[7] the publish command (PUBLISH, or SPUBLISH on a
-- cluster), ARGV[8] the de-dupe budget of the partition in bytes (0: none),
-- ARGV[9] the bytes counted per remembered id besides its length, then:
--   c chunks: the JSON bodies of ticks (k-1)*p+1 … k*p, joined by newlines
--     (a body is a StreamTick object without its "id");
--   n event ids, in tick order.
--
-- De-duplication: event ids are remembered in generations, one set each,
-- seen:<g>; the hash seen:gen holds the current generation g, when it
-- started (since, ms), the bytes its ids count (bytes), those of the
-- previous one (prev_bytes) and how long the previous one lasted (span,
-- ms). A tick is a duplicate when its id is in the current or the previous
-- set, or earlier in this batch. A new generation starts when the current
-- one is a window old, or, with a budget, when its ids would count more
-- than half the budget; the one before the previous is deleted then. So the
-- two sets count at most the budget, and every id is remembered for at
-- least `span`: a window while the budget is not reached, less (the window
-- shortened, which the bus reports) when it is. Each set also expires two
-- windows after its generation started, so an idle partition keeps
-- nothing. The sets are read with one SMISMEMBER each and written with one
-- SADD per batch, which is much cheaper than a key per tick.
-- Should an XADD fail, the ids of the packs appended so far are still
-- recorded before the error is raised, so a retry answers those as
-- duplicates and appends the rest.
--
-- Each chunk's new ticks become one stream entry (a pack) with the single
-- field `ticks`: their bodies joined by newlines. When the whole chunk is
-- new, which is the usual case, that is the chunk as it came: the script
-- touches no body. Tick k (from 0) of entry ms-s has the id
-- ms-(s * slots + k) (see bus/redis/pack.rs). One publish per pack sends the
-- entry id, a newline and the pack.
-- The latest tick of each symbol is not kept here: calc's views hold it,
-- and a reader adds the ticks calc has not acknowledged yet (see
-- `Views::latest_all` in bus/redis/views.rs), so an append touches no
-- per-symbol key.
--
-- Returns a string of '1' (appended) / '0' (duplicate), one per tick.
local prefix, window, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local pack_max, slots, c = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local stream = KEYS[1]
local publish = ARGV[7]
local budget, per_id = tonumber(ARGV[8]), tonumber(ARGV[9])
local gen_key = prefix .. 'seen:gen'
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', gen_key, 'g', 'since', 'bytes', 'prev_bytes', 'span')
local gen, since = tonumber(state[1]), tonumber(state[2])
local bytes, prev_bytes = tonumber(state[3]) or 0, tonumber(state[4]) or 0
local span = tonumber(state[5]) or window * 1000
if not gen then gen, since = 0, now end
local function set_of(g) return prefix .. 'seen:' .. g end
local function rotate()
  redis.call('DEL', set_of(gen - 1))
  span = now - since
  gen, since, prev_bytes, bytes = gen + 1, now, bytes, 0
end
if now - since >= window * 1000 then rotate() end
local current, previous = set_of(gen), set_of(gen - 1)
local first_id = 10 + c
local ids = {}
for i = 1, n do ids[i] = ARGV[first_id + i - 1] end
-- unpack() is limited to a few thousand values: every bulk call is chunked.
local CHUNK = 1000
local known = {}
for _, set in ipairs({ current, previous }) do
  for from = 1, n, CHUNK do
    local to = math.min(from + CHUNK - 1, n)
    local found = redis.call('SMISMEMBER', set, unpack(ids, from, to))
    for j = from, to do
      if found[j - from + 1] == 1 then known[ids[j]] = true end
    end
  end
end
-- Which ticks are new, in order; a later copy within the batch is not.
local fresh, flags, added = {}, {}, {}
for i = 1, n do
  local id = ids[i]
  if known[id] then
    flags[i] = '0'
  else
    known[id] = true
    fresh[i] = true
    flags[i] = '1'
    added[#added + 1] = id
  end
end
-- The budget: a generation that would count more than half of it makes
-- way for a new one (the sets were read already, so this forgets nothing
-- this call needed).
local add_bytes = 0
for i = 1, #added do add_bytes = add_bytes + #added[i] + per_id end
if budget > 0 and bytes > 0 and bytes + add_bytes > budget / 2 then
  rotate()
  current, previous = set_of(gen), set_of(gen - 1)
end
local function remember(upto)
  for from = 1, upto, CHUNK do
    redis.call('SADD', current, unpack(added, from, math.min(from + CHUNK - 1, upto)))
    for i = from, math.min(from + CHUNK - 1, upto) do bytes = bytes + #added[i] + per_id end
  end
  if upto > 0 then
    redis.call('PEXPIREAT', current, since + 2 * window * 1000)
  end
  redis.call('HSET', gen_key, 'g', gen, 'since', since, 'bytes', bytes,
    'prev_bytes', prev_bytes, 'span', span)
  redis.call('PEXPIREAT', gen_key, now + 2 * window * 1000)
end
-- One pack per chunk. Per chunk: its entry's millis and first sequence
-- number, and, when some of its ticks were duplicates, each new tick's
-- place in the pack.
local entry_ms, entry_base, place = {}, {}, {}
local appended = 0
for k = 1, c do
  local from, to = (k - 1) * pack_max + 1, math.min(k * pack_max, n)
  local chunk = ARGV[9 + k]
  local new = 0
  for i = from, to do if fresh[i] then new = new + 1 end end
  local pack = chunk
  if new > 0 and new < to - from + 1 then
    local keep, pos, spots = {}, 1, {}
    for i = from, to do
      local stop = string.find(chunk, '\n', pos, true) or (#chunk + 1)
      if fresh[i] then
        keep[#keep + 1] = string.sub(chunk, pos, stop - 1)
        spots[i] = #keep - 1
      end
      pos = stop + 1
    end
    pack = table.concat(keep, '\n')
    place[k] = spots
  end
  if new > 0 then
    local entry = redis.pcall('XADD', stream, '*', 'ticks', pack)
    if type(entry) == 'table' and entry.err then
      remember(appended)
      return redis.error_reply(entry.err)
    end
    appended = appended + new
    local dash = string.find(entry, '-', 1, true)
    entry_ms[k] = string.sub(entry, 1, dash - 1)
    entry_base[k] = tonumber(string.sub(entry, dash + 1)) * slots
    redis.call(publish, prefix .. 'realtime:updates', entry .. '\n' .. pack)
  end
end
remember(#added)
return table.concat(flags)
