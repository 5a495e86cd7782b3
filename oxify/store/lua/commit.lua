-- Apply one orchestration step if the record is still at the expected version. Returns 0
-- on a conflict, else {1, idempotency key or '', seq of the first event appended, the
-- stream ids of the events appended, the new checkpoint's id or ''}.
-- KEYS: 1 meta, 2 record, 3 outputs, 4 outcomes, 5 attempts, 6 events, 7 blobs,
--       8 checkpoints, 9 checkpoint list, 10 inputs, 11 workflow, 12 claims, 13 library,
--       14 children (10..: expired with the rest once terminal)
-- ARGV: 1 version, 2 record json, 3 state, 4 ttl seconds (0: none), 5 terminal (0/1),
--       6 reset ('0': no; '1' or 'd<deadline>': outputs replaced, every claim, outcome and
--       dispatched attempt of the run before dropped (their workers are fenced off),
--       cancel/pause/deadline cleared (or the new deadline set), keys made persistent),
--       7 n outputs, then (node, value) pairs; n consumed, then (node, attempt) pairs;
--       n dispatched, then (node, "attempt|due") pairs; n events, then event json;
--       n blobs, then (hash, json) pairs; n checkpoints (0/1), then meta json, keep,
--       event json ('' for none; its "__CHECKPOINT_ID__" is replaced by the new id);
--       n definitions (0/1),
--       then workflow json, library json, workflow hash (KEYS 11 workflow, 13 library)
local meta = KEYS[1]
if redis.call('HGET', meta, 'version') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', meta, 'version', 1)
local seq0 = tonumber(redis.call('HGET', meta, 'seq') or '0')
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', meta, 'state', ARGV[3])
if ARGV[6] ~= '0' then
  redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[12])
  redis.call('HDEL', meta, 'cancel', 'pause', 'deadline')
  if string.sub(ARGV[6], 1, 1) == 'd' then redis.call('HSET', meta, 'deadline', string.sub(ARGV[6], 2)) end
  for k = 1, #KEYS do redis.call('PERSIST', KEYS[k]) end
end
local i = 7
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]); i = i + 2 end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local node, attempt = ARGV[i], ARGV[i + 1]
  local cur = redis.call('HGET', KEYS[4], node)
  if cur and string.match(cur, '^(%d+)|') == attempt then redis.call('HDEL', KEYS[4], node) end
  -- the attempt is settled: a late or repeated delivery of it must never run again
  local d = redis.call('HGET', KEYS[5], node)
  if d and string.match(d, '^(%d+)|') == attempt then
    redis.call('HSET', KEYS[5], node, attempt .. '|done')
  end
  i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1]); i = i + 2 end
local ids, cpid = {}, ''
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local seq = redis.call('HINCRBY', meta, 'seq', 1) - 1
  ids[#ids + 1] = redis.call('XADD', KEYS[6], '*', 'seq', seq, 'e', ARGV[i]); i = i + 1
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('HSETNX', KEYS[7], ARGV[i], ARGV[i + 1]); i = i + 2 end
n = tonumber(ARGV[i]); i = i + 1
if n == 1 then
  local id = tostring(redis.call('HINCRBY', meta, 'cpseq', 1))
  local outputs = redis.call('HGETALL', KEYS[3])
  redis.call('HSET', KEYS[8], id, ARGV[i], id .. ':o', cjson.encode(outputs))
  redis.call('RPUSH', KEYS[9], id)
  local keep = tonumber(ARGV[i + 1])
  while redis.call('LLEN', KEYS[9]) > keep do
    local old = redis.call('LPOP', KEYS[9])
    redis.call('HDEL', KEYS[8], old, old .. ':o')
  end
  if ARGV[i + 2] ~= '' then
    local event = string.gsub(ARGV[i + 2], '__CHECKPOINT_ID__', id)
    local seq = redis.call('HINCRBY', meta, 'seq', 1) - 1
    ids[#ids + 1] = redis.call('XADD', KEYS[6], '*', 'seq', seq, 'e', event)
  end
  cpid = id
  i = i + 3
end
n = tonumber(ARGV[i]); i = i + 1
if n == 1 then
  redis.call('SET', KEYS[11], ARGV[i])
  if ARGV[i + 1] ~= '' then redis.call('SET', KEYS[13], ARGV[i + 1]) else redis.call('DEL', KEYS[13]) end
  redis.call('HSET', meta, 'workflow_hash', ARGV[i + 2])
  i = i + 3
end
local ttl = tonumber(ARGV[4])
if ARGV[5] == '1' and ttl > 0 then
  for k = 1, #KEYS do redis.call('EXPIRE', KEYS[k], ttl) end
end
-- the idempotency key (another slot: the caller expires or keeps it with the execution),
-- and the seq of the first event appended
return {1, redis.call('HGET', meta, 'idem') or '', seq0, ids, cpid}
