-- Take one attempt of one node for a worker, with a lease on Redis' clock.
-- KEYS: 1 meta, 2 attempts, 3 claims, 4 outcomes, 5 events
-- ARGV: 1 node, 2 attempt, 3 worker, 4 lease seconds, 5 node.started event json
-- Returns {'stale'}, {'busy'} or {'ok', seq of the event, its stream id}
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return {'stale'} end
if redis.call('HEXISTS', KEYS[1], 'cancel') == 1 then return {'stale'} end
local d = redis.call('HGET', KEYS[2], ARGV[1])
if not d or string.match(d, '^(%d+)|') ~= ARGV[2] or string.sub(d, -5) == '|done' then
  return {'stale'}
end
local o = redis.call('HGET', KEYS[4], ARGV[1])
if o and string.match(o, '^(%d+)|') == ARGV[2] then return {'stale'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local c = redis.call('HGET', KEYS[3], ARGV[1])
if c then
  local a, w, l = string.match(c, '^(%d+)|(.*)|([%d%.]+)$')
  if a == ARGV[2] and w ~= ARGV[3] and tonumber(l) > now then return {'busy'} end
end
local lease = string.format('%.6f', now + tonumber(ARGV[4]))
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. '|' .. ARGV[3] .. '|' .. lease)
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1) - 1
local id = redis.call('XADD', KEYS[5], '*', 'seq', seq, 'e', ARGV[5])
return {'ok', seq, id}
