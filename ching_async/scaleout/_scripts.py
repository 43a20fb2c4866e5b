"""The Lua scripts: each runs atomically in Redis, with Redis's clock.

Times are seconds since the epoch as Redis's TIME reports them, so workers on
machines whose clocks disagree still agree on how long ago a heartbeat was.
"""

from __future__ import annotations

__all__ = ["BEGIN", "BEAT", "CLAIM", "COMMIT", "DISPATCH", "FINISH", "PUSH", "RECORD", "UNMARK"]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# Start enqueueing a job. KEYS: meta. ARGV: token, lease_ms, ttl_ms, shards.
# Returns {verdict, previous shard count}: new | takeover (a dead enqueuer's
# partial push) | busy (another live enqueuer) | exists (fully enqueued).
BEGIN = (
    _NOW
    + """
local status = redis.call('HGET', KEYS[1], 'status')
local lease_until = now + tonumber(ARGV[2]) / 1000
if not status then
  redis.call('HSET', KEYS[1], 'status', 'enqueuing', 'enqueuer', ARGV[1],
             'lease', tostring(lease_until), 'shards', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'new', ''}
end
if status == 'enqueuing' then
  if tonumber(redis.call('HGET', KEYS[1], 'lease') or '0') > now then
    return {'busy', ''}
  end
  local previous = redis.call('HGET', KEYS[1], 'shards') or ''
  redis.call('HSET', KEYS[1], 'enqueuer', ARGV[1], 'lease', tostring(lease_until),
             'shards', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'takeover', previous}
end
return {'exists', ''}
"""
)

# Append a chunk of items, if this enqueuer still holds the job.
# KEYS: meta, list_1..list_n. ARGV: token, lease_ms, ttl_ms, count_1..count_n, items...
PUSH = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'enqueuer') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease', tostring(now + tonumber(ARGV[2]) / 1000))
local n = #KEYS - 1
local at = 4 + n
for k = 1, n do
  local count = tonumber(ARGV[3 + k])
  if count > 0 then
    redis.call('RPUSH', KEYS[k + 1], unpack(ARGV, at, at + count - 1))
    redis.call('PEXPIRE', KEYS[k + 1], ARGV[3])
    at = at + count
  end
end
return 1
"""
)

# Mark the job enqueued. KEYS: meta. ARGV: token, ttl_ms, field, value, ...
COMMIT = """
if redis.call('HGET', KEYS[1], 'enqueuer') ~= ARGV[1] then return 0 end
for k = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[k], ARGV[k + 1]) end
redis.call('HSET', KEYS[1], 'status', 'enqueued')
redis.call('HDEL', KEYS[1], 'enqueuer', 'lease')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# A run takes a shard. KEYS: state. ARGV: token, worker, ttl_ms, window.
# `window` is how long after a run's last heartbeat a request it sent may still
# be committed on the server (see _shard.settle_window). The previous run's
# heartbeat + window is folded into `quiet_at`, so the rule survives any number
# of hand-overs (a run that dies while waiting passes the wait on).
# Returns {quiet_at: no lookup of an open item proves absence before it, now}.
CLAIM = (
    _NOW
    + """
local previous = redis.call('HGET', KEYS[1], 'heartbeat')
local quiet = tonumber(redis.call('HGET', KEYS[1], 'quiet_at') or '0')
if previous then
  local window = tonumber(redis.call('HGET', KEYS[1], 'window') or ARGV[4])
  quiet = math.max(quiet, tonumber(previous) + window)
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'worker', ARGV[2], 'status', 'running',
           'heartbeat', tostring(now), 'run_started', tostring(now), 'window', ARGV[4],
           'quiet_at', tostring(quiet))
redis.call('HDEL', KEYS[1], 'error')
redis.call('HINCRBY', KEYS[1], 'runs', 1)
if redis.call('HEXISTS', KEYS[1], 'started') == 0 then
  redis.call('HSET', KEYS[1], 'started', tostring(now))
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {tostring(quiet), tostring(now)}
"""
)

# The run is alive. KEYS: state. ARGV: token. Returns 0 if another run took the shard.
BEAT = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'heartbeat', tostring(now), 'status', 'running')
return 1
"""
)

# Items are about to be sent: they are in doubt until a final result is recorded.
# KEYS: state, open. ARGV: token, ttl_ms, index... Returns 0 if the shard was taken.
DISPATCH = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('SADD', KEYS[2], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'heartbeat', tostring(now))
return 1
"""
)

# Items marked open but never handed to create_many: not in doubt after all.
# KEYS: state, open. ARGV: token, index... Only while the run still owns the shard
# (another owner may have marked them itself).
UNMARK = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('SREM', KEYS[2], unpack(ARGV, 2))
return 1
"""

# Store an item's result and keep the counts exact across runs: a non-final
# result may be replaced (its count moves), a final one never is.
# KEYS: results, counts, open, state. ARGV: index, json, outcome, final (1/0),
# amount, currency, ttl_ms. Returns 1 if stored, 0 if a final result was there.
RECORD = (
    _NOW
    + """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local previous = cjson.decode(old)
  if previous['final'] then return 0 end
  redis.call('HINCRBY', KEYS[2], previous['outcome'], -1)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
if tonumber(ARGV[5]) > 0 then
  redis.call('HINCRBY', KEYS[2], 'amount:' .. ARGV[6], ARGV[5])
end
if ARGV[4] == '1' then redis.call('SREM', KEYS[3], ARGV[1]) end
redis.call('HSET', KEYS[4], 'heartbeat', tostring(now))
for k = 1, 3 do redis.call('PEXPIRE', KEYS[k], ARGV[7]) end
return 1
"""
)

# A run ends. KEYS: state, results, items. ARGV: token, status, error ('' for
# none), ttl_ms. Returns 0 if another run owns the shard, -1 (nothing changed)
# for 'done' while an item has no result: a shard is done only with every
# item's result stored.
FINISH = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
if ARGV[2] == 'done' and redis.call('HLEN', KEYS[2]) < redis.call('LLEN', KEYS[3]) then
  return -1
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'heartbeat', tostring(now))
if ARGV[2] == 'done' then redis.call('HSET', KEYS[1], 'finished', tostring(now)) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
redis.call('HDEL', KEYS[1], 'owner')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""
)
