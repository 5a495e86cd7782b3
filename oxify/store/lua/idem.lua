-- Make an idempotency key follow its execution: expire it in ARGV[2] seconds (0: keep it)
-- if it still names execution ARGV[1].
-- KEYS: 1 idempotency key; ARGV: 1 execution id, 2 ttl seconds
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return redis.call('PERSIST', KEYS[1])
