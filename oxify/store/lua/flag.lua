-- Set a request flag (cancel, pause) on an existing execution, once.
-- KEYS: 1 meta; ARGV: 1 field, 2 value. Returns -1 for an unknown execution, else 1 if set
-- now, 0 if it was set already.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
