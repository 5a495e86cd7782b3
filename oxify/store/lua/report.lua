-- Record the outcome of an attempt: once, only for the attempt that is current, and only
-- from the worker that holds its claim (no claim, no report: a reset clears the claims).
-- KEYS: 1 meta, 2 attempts, 3 outcomes, 4 blobs, 5 claims
-- ARGV: 1 node, 2 attempt, 3 worker, 4 outcome json, then (hash, blob json) pairs
local st = redis.call('HGET', KEYS[1], 'state')
if st ~= 'running' and st ~= 'paused' then return 0 end
local d = redis.call('HGET', KEYS[2], ARGV[1])
if not d or string.match(d, '^(%d+)|') ~= ARGV[2] or string.sub(d, -5) == '|done' then
  return 0
end
local o = redis.call('HGET', KEYS[3], ARGV[1])
if o and string.match(o, '^(%d+)|') == ARGV[2] then return 0 end
local c = redis.call('HGET', KEYS[5], ARGV[1])
if not c then return 0 end
local a, w = string.match(c, '^(%d+)|(.*)|[%d%.]+$')
if a ~= ARGV[2] or w ~= ARGV[3] then return 0 end
for i = 5, #ARGV, 2 do redis.call('HSETNX', KEYS[4], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. '|' .. ARGV[4])
redis.call('HDEL', KEYS[5], ARGV[1])
return 1
