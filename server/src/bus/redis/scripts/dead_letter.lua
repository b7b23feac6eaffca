-- Moves stream entries a consumer group gives up on to the dead-letter
-- stream, atomically: a copy of each entry goes there with the group and the
-- reason, and the entry is acknowledged for the group.
--
-- KEYS[1] tick stream, KEYS[2] dead-letter stream.
-- ARGV[1] group, ARGV[2] approximate cap of the dead-letter stream,
-- then two arguments per entry: stream id, reason.
-- An entry already trimmed from the stream is recorded without its fields.
local group, cap = ARGV[1], ARGV[2]
for i = 3, #ARGV, 2 do
  local id, reason = ARGV[i], ARGV[i + 1]
  local fields = { 'source_id', id, 'group', group, 'reason', reason }
  local found = redis.call('XRANGE', KEYS[1], id, id)
  if found[1] then
    local original = found[1][2]
    for j = 1, #original do fields[#fields + 1] = original[j] end
  end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', cap, '*', unpack(fields))
  redis.call('XACK', KEYS[1], group, id)
end
return 0
