-- wrk's request script for the ingest webhook: every request carries ticks
-- with event ids no other request used (a repeated id would be dropped as a
-- duplicate, which is cheaper and would flatter the figure), over Basic Auth.
--
--   wrk -t2 -c64 -d10s -s bench/wrk/ingest.lua http://127.0.0.1:3000 -- \
--       USER PASSWORD BATCH SYMBOLS RUN [PREBUILT]
--
-- BATCH 1 posts one tick to /ingest/tick; more posts a JSON array of BATCH
-- ticks to /ingest/ticks. SYMBOLS is how many symbols (W-000, W-001, …) the
-- ticks spread over; RUN makes the ids unique across runs. Single-tick
-- requests are made in advance, PREBUILT (300,000) per thread, at the first
-- request; batches are put together per request from pieces. The same bodies
-- suit the bare echo, which reads and answers them.

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread", #threads)
end

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local quad = {}
    for k = 3, 0, -1 do
      local v = math.floor(n / 64 ^ k) % 64
      quad[#quad + 1] = b64chars:sub(v + 1, v + 1)
    end
    if not b then quad[3] = "=" end
    if not c then quad[4] = "=" end
    out[#out + 1] = table.concat(quad)
  end
  return table.concat(out)
end

local batch, symbols, prefix, path, prebuilt_count
local seq = 0
-- A batch body as pieces: the slots at even places take the request's
-- number, so a request costs one table.concat, not BATCH formats. The
-- pieces are made again each second, with that second's time.
local pieces, second = {}, -1

local function head(k, ts)
  local s = k % symbols
  return string.format(
    '{"symbol":"W-%03d","price":"%d.%02d","volume":"0.25","source":"wrk","ts":%d,"event_id":"%s',
    s, 100 + s, math.random(0, 99), ts, prefix)
end

-- Single ticks: whole requests made in advance, so a request costs wrk a
-- table lookup; PREBUILT of them per thread (more than a run sends).
local prebuilt = {}

local function prebuild(n)
  local ts = os.time() * 1000
  for i = 1, n do
    prebuilt[i] = wrk.format(nil, path, nil, head(i, ts) .. i .. '"}')
  end
end

function init(args)
  local user, password = args[1] or "bench", args[2] or "bench-secret"
  batch = tonumber(args[3] or "1")
  symbols = tonumber(args[4] or "10")
  prefix = "wrk-" .. (args[5] or tostring(os.time())) .. "-" .. tostring(thread) .. "-"
  prebuilt_count = tonumber(args[6] or "300000")
  path = batch == 1 and "/ingest/tick" or "/ingest/ticks"
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Basic " .. base64(user .. ":" .. password)
  wrk.headers["Content-Type"] = "application/json"
  math.randomseed(os.time() + thread)
  -- Before the timed run starts: wrk calls init first.
  if batch == 1 then prebuild(prebuilt_count) end
  -- The process's CPU time so far: the threads start one after another, so
  -- the last one's figure is what getting ready cost.
  ready_cpu = os.clock()
end

local function remake(now)
  local ts = now * 1000
  pieces = { "[" .. head(1, ts) }
  for k = 1, batch do
    pieces[2 * k] = ""
    local tail = "-" .. k .. '"}'
    pieces[2 * k + 1] = k < batch and (tail .. "," .. head(k + 1, ts)) or (tail .. "]")
  end
  second = now
end

function request()
  seq = seq + 1
  if batch == 1 then
    -- Past the prebuilt ones (a very long run), each is made as it goes.
    return prebuilt[seq] or wrk.format(nil, path, nil, head(seq, os.time() * 1000) .. seq .. '"}')
  end
  local now = os.time()
  if now ~= second then remake(now) end
  local n = tostring(seq)
  for k = 1, batch do pieces[2 * k] = n end
  return wrk.format(nil, path, nil, table.concat(pieces))
end

-- Prints what getting ready cost (CPU seconds), so the report counts
-- only the run itself against the requests.
function done()
  local ready = 0
  for _, t in ipairs(threads) do ready = math.max(ready, t:get("ready_cpu") or 0) end
  io.write(string.format("wrk-ready-cpu-s %.3f\n", ready))
end
