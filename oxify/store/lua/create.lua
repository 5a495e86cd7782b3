-- Store a new execution (nothing if it exists already).
-- KEYS: 1 meta, 2 record, 3 inputs, 4 workflow, 5 events, 6 outputs, 7 blobs, 8 library
-- ARGV: 1 record json, 2 inputs json, 3 workflow json, 4 workflow hash, 5 created_at,
--       6 deadline ('' for none), 7 state, 8 workflow name, 9 config json, 10 library json
--       ('' for none), 11 parent execution id ('' for none), 12 idempotency key ('' for
--       none; it expires with the execution), 13 n outputs, then (node, value) pairs;
--       n blobs, then (hash, json) pairs; then event json
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'version', 0, 'state', ARGV[7], 'workflow_hash', ARGV[4],
  'created_at', ARGV[5], 'seq', 0, 'name', ARGV[8], 'config', ARGV[9])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'deadline', ARGV[6]) end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2])
redis.call('SET', KEYS[4], ARGV[3])
if ARGV[10] ~= '' then redis.call('SET', KEYS[8], ARGV[10]) end
if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'parent', ARGV[11]) end
if ARGV[12] ~= '' then redis.call('HSET', KEYS[1], 'idem', ARGV[12]) end
local i = 13
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HSET', KEYS[6], ARGV[i], ARGV[i + 1]); i = i + 2 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HSETNX', KEYS[7], ARGV[i], ARGV[i + 1]); i = i + 2 end
for k = i, #ARGV do
  local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1) - 1
  redis.call('XADD', KEYS[5], '*', 'seq', seq, 'e', ARGV[k])
end
return 1
