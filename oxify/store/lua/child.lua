-- Record, once, that a child execution ended, as an outcome for its parent to apply.
-- KEYS: 1 parent meta, 2 parent children, 3 parent outcomes
-- ARGV: 1 child execution id, 2 result json
local st = redis.call('HGET', KEYS[1], 'state')
if not st or st == 'completed' or st == 'failed' or st == 'cancelled' then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[3], 'child:' .. ARGV[1], '0|' .. ARGV[2])
return 1
