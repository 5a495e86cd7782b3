-- Extend a worker's lease on an attempt; 0 when it no longer holds it (it is fenced off).
-- KEYS: 1 claims; ARGV: 1 node, 2 attempt, 3 worker, 4 lease seconds
local c = redis.call('HGET', KEYS[1], ARGV[1])
if not c then return 0 end
local a, w = string.match(c, '^(%d+)|(.*)|[%d%.]+$')
if a ~= ARGV[2] or w ~= ARGV[3] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('HSET', KEYS[1], ARGV[1], a .. '|' .. w .. '|' .. string.format('%.6f', now + tonumber(ARGV[4])))
return 1
