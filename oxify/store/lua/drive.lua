-- Single-flight driving of one execution: whoever holds the lock drives; the others leave
-- a "dirty" mark that makes the holder go round once more.
-- KEYS: 1 lock, 2 dirty; ARGV: 1 'begin' | 'finish' | 'abort', 2 token, 3 ttl ms
if ARGV[1] == 'begin' then
  if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then
    redis.call('DEL', KEYS[2])
    return 1
  end
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return 0
end
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 1 end
if ARGV[1] == 'finish' and redis.call('DEL', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 0
end
redis.call('DEL', KEYS[1])
return 1
