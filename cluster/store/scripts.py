"""The Lua scripts behind every store operation; each runs atomically in Redis.

Stored values are ``"<revision>\\n<template>"`` where the template is the object's JSON with
``metadata.resourceVersion`` set to a placeholder. Writes take the next revision from the
global counter, store the new value and append the change to the resource's stream with ID
``<revision>-0`` (fields ``type``, ``key``, ``obj`` and ``prev`` where there is one; ``obj`` and
``prev`` with the placeholder replaced by their revisions) in the same step.

Key layout (``KEYS``): revision counter, compacted-revision, objects hash, key index (sorted
set), change stream, set of resource names. Replies start with a status: 1 done, 0 not found or
already there, -1 revision mismatch (followed by the current stored value).
"""

# Shared helpers prepended to each write script.
_HELPERS = """
local function fill(template, placeholder, rev)
  local s, e = string.find(template, placeholder, 1, true)
  return string.sub(template, 1, s - 1) .. rev .. string.sub(template, e + 1)
end
local function split(stored)
  local nl = string.find(stored, "\\n", 1, true)
  return string.sub(stored, 1, nl - 1), string.sub(stored, nl + 1)
end
"""

# ARGV: key, template, placeholder, resource, namespace that must exist and not be terminating ("" = none);
# KEYS[7]: the namespaces' objects hash. Replies 2 when that namespace is missing, 3 when it is terminating.
CREATE = (
    _HELPERS
    + """
if ARGV[5] ~= '' then
  local ns = redis.call('HGET', KEYS[7], ARGV[5])
  if not ns then return {2} end
  local _, ns_template = split(ns)
  local deleting = cjson.decode(ns_template)['metadata']['deletionTimestamp']
  if deleting ~= nil and deleting ~= cjson.null then return {3} end
end
local current = redis.call('HGET', KEYS[3], ARGV[1])
if current then return {0, current} end
local rev = tostring(redis.call('INCR', KEYS[1]))
local obj = fill(ARGV[2], ARGV[3], rev)
redis.call('HSET', KEYS[3], ARGV[1], rev .. "\\n" .. ARGV[2])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
redis.call('XADD', KEYS[5], rev .. '-0', 'type', 'ADDED', 'key', ARGV[1], 'obj', obj)
redis.call('SADD', KEYS[6], ARGV[4])
return {1, obj}
"""
)

# ARGV: key, template, placeholder, resource, expected revision ("" = any)
UPDATE = (
    _HELPERS
    + """
local current = redis.call('HGET', KEYS[3], ARGV[1])
if not current then return {0} end
local old_rev, old_template = split(current)
if ARGV[5] ~= '' and ARGV[5] ~= old_rev then return {-1, current} end
local rev = tostring(redis.call('INCR', KEYS[1]))
local obj = fill(ARGV[2], ARGV[3], rev)
local prev = fill(old_template, ARGV[3], old_rev)
redis.call('HSET', KEYS[3], ARGV[1], rev .. "\\n" .. ARGV[2])
redis.call('XADD', KEYS[5], rev .. '-0', 'type', 'MODIFIED', 'key', ARGV[1], 'obj', obj, 'prev', prev)
redis.call('SADD', KEYS[6], ARGV[4])
return {1, obj}
"""
)

# ARGV: key, placeholder, resource, expected revision ("" = any)
DELETE = (
    _HELPERS
    + """
local current = redis.call('HGET', KEYS[3], ARGV[1])
if not current then return {0} end
local old_rev, old_template = split(current)
if ARGV[4] ~= '' and ARGV[4] ~= old_rev then return {-1, current} end
local rev = tostring(redis.call('INCR', KEYS[1]))
local obj = fill(old_template, ARGV[2], rev)
local prev = fill(old_template, ARGV[2], old_rev)
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('XADD', KEYS[5], rev .. '-0', 'type', 'DELETED', 'key', ARGV[1], 'obj', obj, 'prev', prev)
redis.call('SADD', KEYS[6], ARGV[3])
return {1, obj}
"""
)

# Watch poll: changes after ARGV[1], at most ARGV[2] of them. Reply: {current, compacted, changes}.
POLL = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local compacted = tonumber(redis.call('GET', KEYS[2]) or '0')
local changes = {}
if tonumber(ARGV[1]) >= compacted then
  changes = redis.call('XRANGE', KEYS[5], (tonumber(ARGV[1]) + 1) .. '-0', '+', 'COUNT', tonumber(ARGV[2]))
end
return {current, compacted, changes}
"""

# Compaction. KEYS: revision counter, compacted-revision, resource set. ARGV: keep, stream key prefix.
# Trims every resource stream to revisions > current - keep and records that as compacted.
COMPACT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local compacted = tonumber(redis.call('GET', KEYS[2]) or '0')
local target = current - tonumber(ARGV[1])
if target <= compacted then return compacted end
redis.call('SET', KEYS[2], target)
for _, resource in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('XTRIM', ARGV[2] .. resource, 'MINID', (target + 1) .. '-0')
end
return target
"""
