"""The Redis adapter's server-side scripts: each reads and writes in one atomic step
what would otherwise take several round trips and leave races between them.

Presence of a station is ``<prefix>presence:<identity>`` = ``"<token>:<node>"`` with a
TTL, mirrored in the sorted set ``<prefix>presence-index`` (identity by expiry, to
count entries without scanning keys). A token comes from ``<prefix>claims``, one per
claim, so the newest claim of an identity is known everywhere. Live nodes are the
sorted set ``<prefix>nodes`` (node by the expiry of its heartbeat, on Redis's clock).
Each node reads the stream ``<prefix>node:<node>``. Scripts build stream key names
from node ids, so they need one Redis (with replicas or Sentinel), not Redis Cluster.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = [
    "CLAIM",
    "DISPATCH",
    "HEARTBEAT",
    "LEAVE",
    "LOCATE",
    "REFRESH",
    "RELEASE",
    "SCRIPTS",
    "Script",
]

_COMMON = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function owner_of(value)
  local sep = string.find(value, ':', 1, true)
  return string.sub(value, sep + 1)
end
local function alive(nodes, node, now)
  local score = redis.call('ZSCORE', nodes, node)
  return score ~= false and score ~= nil and tonumber(score) > now
end
"""


@dataclass(frozen=True)
class Script:
    """A Lua script, run with EVALSHA (and loaded again when Redis has lost it)."""

    body: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", _COMMON + self.body)
        object.__setattr__(self, "sha", hashlib.sha1(self.body.encode()).hexdigest())


CLAIM = Script("""
-- KEYS: presence, index, claims, nodes; ARGV: node, ttl_ms, identity, stream prefix, maxlen
-- Record the station here with a new token; tell a live previous holder to evict it.
local now = now_ms()
local old = redis.call('GET', KEYS[1])
local token = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
if old then
  local owner = owner_of(old)
  if owner ~= ARGV[1] and alive(KEYS[4], owner, now) then
    redis.call('XADD', ARGV[4] .. owner, 'NOMKSTREAM', 'MAXLEN', '~', ARGV[5], '*',
               'k', 'evict', 'i', ARGV[3], 't', token)
  end
end
return token
""")

RELEASE = Script("""
-- KEYS: presence, index; ARGV: node, identity. Forget it only if this node holds it.
local value = redis.call('GET', KEYS[1])
if value and owner_of(value) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
""")

REFRESH = Script("""
-- KEYS: index, claims, presence...; ARGV: node, ttl_ms, identity... (aligned with KEYS)
-- Per identity: 0 kept (TTL renewed), a new token when the entry was gone (Redis
-- restarted or the TTL ran out), -1 when another node holds it.
local now = now_ms()
local out = {}
for i = 3, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if not value then
    local token = redis.call('INCR', KEYS[2])
    redis.call('SET', KEYS[i], token .. ':' .. ARGV[1], 'PX', ARGV[2])
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i])
    out[#out + 1] = token
  elseif owner_of(value) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i])
    out[#out + 1] = 0
  else
    out[#out + 1] = -1
  end
end
return out
""")

DISPATCH = Script("""
-- KEYS: presence, index, nodes; ARGV: self, identity, stream prefix, maxlen, data, deadline
-- {0} connected nowhere; {1, node} its node is dead (entry dropped); {2, node} queued
-- on that node's stream; {3, node} the entry names this very node.
local value = redis.call('GET', KEYS[1])
if not value then return {0, ''} end
local owner = owner_of(value)
if owner == ARGV[1] then return {3, owner} end
if not alive(KEYS[3], owner, now_ms()) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return {1, owner}
end
local id = redis.call('XADD', ARGV[3] .. owner, 'NOMKSTREAM', 'MAXLEN', '~', ARGV[4], '*',
                      'k', 'call', 'd', ARGV[5], 'x', ARGV[6])
if not id then return {1, owner} end
return {2, owner}
""")

LOCATE = Script("""
-- KEYS: nodes, presence...; ARGV: self. Per identity: its live node, '' when connected
-- nowhere, '!' .. node when that node is dead.
local now = now_ms()
local out, seen = {}, {}
for i = 2, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if not value then
    out[#out + 1] = ''
  else
    local owner = owner_of(value)
    if seen[owner] == nil then
      seen[owner] = owner == ARGV[1] or alive(KEYS[1], owner, now)
    end
    out[#out + 1] = seen[owner] and owner or ('!' .. owner)
  end
end
return out
""")

HEARTBEAT = Script("""
-- KEYS: nodes, index, own stream; ARGV: node, node ttl_ms, stream ttl_ms, trim id
-- This node is alive until now + ttl; dead nodes and expired presence leave the sets;
-- consumed entries leave the stream. Returns Redis's clock in milliseconds.
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
  if ARGV[4] ~= '' then redis.call('XTRIM', KEYS[3], 'MINID', ARGV[4]) end
end
return now
""")

LEAVE = Script("""
-- KEYS: nodes, own stream; ARGV: node. A clean stop: not alive, nothing left to read.
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
""")

SCRIPTS = (CLAIM, RELEASE, REFRESH, DISPATCH, LOCATE, HEARTBEAT, LEAVE)
