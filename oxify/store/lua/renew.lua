-- Extend a worker's lease on an attempt; 0 when it no longer holds it (it is fenced off):
-- the execution is not running or paused any more (ended, cancelled, reset by a resume),
-- the attempt is not the one dispatched or it is settled, or another worker holds it.
-- KEYS: 1 claims, 2 meta, 3 attempts; ARGV: 1 node, 2 attempt, 3 worker, 4 lease seconds
local st = redis.call('HGET', KEYS[2], 'state')
if st ~= 'running' and st ~= 'paused' then return 0 end
if redis.call('HEXISTS', KEYS[2], 'cancel') == 1 then return 0 end
local d = redis.call('HGET', KEYS[3], ARGV[1])
if not d or string.match(d, '^(%d+)|') ~= ARGV[2] or string.sub(d, -5) == '|done' then
  return 0
end
local c = redis.call('HGET', KEYS[1], ARGV[1])
if not c then return 0 end
local a, w = string.match(c, '^(%d+)|(.*)|[%d%.]+$')
if a ~= ARGV[2] or w ~= ARGV[3] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('HSET', KEYS[1], ARGV[1], a .. '|' .. w .. '|' .. string.format('%.6f', now + tonumber(ARGV[4])))
return 1
