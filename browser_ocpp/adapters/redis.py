"""RedisAdapter: servers on several processes or machines share one Redis, and each
reaches every station, wherever it is connected.

* Presence: ``<prefix>presence:<identity>`` names the node holding a station, with a
  TTL its node renews in batches; written again after Redis comes back empty; deleted
  on disconnect only by the node it names (a Lua compare-and-delete).
* Commands: each node reads its own stream ``<prefix>node:<node_id>`` (a consumer
  group, so a node that restarts under the same id resumes where it stopped). A call
  for a station held elsewhere is queued there with its deadline; the answer (or the
  station's error) comes back on the caller's stream, matched by a correlation id.
* Delivery is at most once: a command is handed to the station only before its
  deadline (the caller's timeout), never twice; a command that waited past it is
  dropped unread by the station.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..rpc.errors import CallTimeoutError, ConnectionClosedError
from . import lua
from .base import (
    Adapter,
    CallOutcome,
    call_budget_ms,
    check_call,
    decode_outcome,
    encode_error,
    encode_result,
)

try:
    import redis.asyncio as aioredis
    from redis.exceptions import NoScriptError, RedisError, ResponseError
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(
        "the Redis adapter needs the redis package: pip install 'browser-ocpp[redis]'"
    ) from exc

if TYPE_CHECKING:
    from ..peer.logs import OCPPLogger
    from ..server.server import OCPPServer, OCPPServerClient

__all__ = ["RedisAdapter"]

GROUP = "node"
"""The consumer group each node reads its own stream with."""
READ_BLOCK_MS = 2_000
READ_COUNT = 500
RETRY_MS = (50.0, 2_000.0)
"""Pause after a failed read of the stream, doubled per failure up to the second."""
CHUNK = 500
"""Identities per script call when presence is renewed or looked up in bulk."""
MAX_HOPS = 2
"""How often a call may be passed on when the station moved while it travelled."""
TASKS_AT_CLOSE_S = 1.0
"""How long close() lets calls being served finish (the stations are gone by then)."""
REDIS_ERRORS = (RedisError, OSError)


def _default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number, not {value!r}")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _quiet(future: asyncio.Future[Any]) -> None:
    """Retrieve a background command's error (presence is repaired by the next renewal)."""
    if not future.cancelled():
        future.exception()


class RedisAdapter(Adapter):
    """Joins an :class:`~browser_ocpp.OCPPServer` to the others on the same Redis.

    ``url`` (or a ready ``client``: a ``redis.asyncio.Redis`` made with
    ``decode_responses=True``) and ``prefix`` (of every key) say where; ``node_id``
    names this server (default: host, pid and a random tag; give a stable one to
    resume the node's stream after a restart). ``node_ttl_ms``: a node that has not
    renewed its heartbeat for this long is dead (renewed every third of it);
    ``presence_ttl_ms``: how long a presence entry lives unrenewed (renewed every
    third of it); ``stream_max_len``: commands kept waiting per node at most;
    ``stream_ttl_ms``: how long the stream of a node that died is kept for its
    restart. Other keyword arguments go to ``redis.asyncio.Redis.from_url``.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379",
        *,
        prefix: str = "ocpp:",
        node_id: str | None = None,
        client: aioredis.Redis | None = None,
        node_ttl_ms: float = 10_000,
        presence_ttl_ms: float = 120_000,
        stream_max_len: int = 10_000,
        stream_ttl_ms: float = 3_600_000,
        **redis_options: Any,
    ) -> None:
        for name, value in (
            ("node_ttl_ms", node_ttl_ms),
            ("presence_ttl_ms", presence_ttl_ms),
            ("stream_max_len", stream_max_len),
            ("stream_ttl_ms", stream_ttl_ms),
        ):
            _positive(name, value)
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, not {prefix!r}")
        if node_id is not None and (not isinstance(node_id, str) or not node_id):
            raise ValueError(f"node_id must be a non-empty string, not {node_id!r}")
        if client is not None and not client.connection_pool.connection_kwargs.get(
            "decode_responses"
        ):
            raise ValueError("the Redis client must be made with decode_responses=True")
        self.url = url
        self.prefix = prefix
        self.node_id = node_id or _default_node_id()
        self.node_ttl_ms = float(node_ttl_ms)
        self.presence_ttl_ms = float(presence_ttl_ms)
        self.stream_max_len = int(stream_max_len)
        self.stream_ttl_ms = float(stream_ttl_ms)
        self._client = client
        self._redis_options = redis_options
        self._redis: aioredis.Redis | None = None
        self._server: OCPPServer | None = None
        self._logger: OCPPLogger | None = None
        self._nodes = prefix + "nodes"
        self._index = prefix + "presence-index"
        self._claims = prefix + "claims"
        self._streams = prefix + "node:"
        self._stream = self._streams + self.node_id
        self._owned: dict[str, asyncio.Future[Any]] = {}
        """Per station held here: the claim (its token when done)."""
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        """Per correlation id: the outcome of a call sent to another node."""
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._offset_ms = 0.0
        self._last_read = ""

    def __repr__(self) -> str:
        return f"RedisAdapter({self.url!r}, prefix={self.prefix!r}, node_id={self.node_id!r})"

    # -- life cycle ----------------------------------------------------------------------

    async def start(self, server: OCPPServer) -> None:
        if self._redis is not None:
            raise RuntimeError("the adapter is already started")
        self._server = server
        self._logger = server.logger.child("RedisAdapter", self.node_id)
        self._redis = self._client or aioredis.Redis.from_url(
            self.url, decode_responses=True, **self._redis_options
        )
        try:
            await self._join()
        except REDIS_ERRORS as exc:
            await self._disconnect()
            raise ConnectionError(f"cannot reach Redis at {self.url}: {exc}") from exc
        self._loops = [
            asyncio.ensure_future(self._read_loop()),
            asyncio.ensure_future(self._heartbeat_loop()),
        ]
        self._log().info("joined the cluster", stream=self._stream)

    async def close(self) -> None:
        if self._redis is None:
            return
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=TASKS_AT_CLOSE_S)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionClosedError("this node is leaving the cluster"))
        for identity in list(self._owned):
            self.disconnected(identity)
        try:
            await self._script(lua.LEAVE, [self._nodes, self._stream], [self.node_id])
        except REDIS_ERRORS as exc:
            self._log().warn("could not leave the cluster cleanly", error=repr(exc))
        for task in list(self._tasks):
            task.cancel()
        await self._disconnect()
        self._log().info("left the cluster")

    async def _disconnect(self) -> None:
        redis, self._redis = self._redis, None
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if redis is not None and self._client is None:
            await redis.aclose()

    async def _join(self) -> None:
        """(Re)enter the cluster: Redis's clock, this node's stream and group, its
        heartbeat, and a presence entry for every station connected here."""
        redis = self._live()
        before = time.monotonic()
        seconds, microseconds = await redis.time()
        after = time.monotonic()
        self._offset_ms = seconds * 1000 + microseconds / 1000 - (before + after) * 500
        try:
            await redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await self._heartbeat()
        await self._renew(list(self._local()))

    def _live(self) -> aioredis.Redis:
        if self._redis is None:
            raise ConnectionClosedError("the Redis adapter is not started")
        return self._redis

    def _local(self) -> Mapping[str, OCPPServerClient]:
        return self._server.clients if self._server is not None else {}

    def _log(self) -> OCPPLogger:
        assert self._logger is not None
        return self._logger

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _redis_ms(self) -> float:
        """Now on Redis's clock (deadlines are compared on it, whatever each machine's)."""
        return time.monotonic() * 1000 + self._offset_ms

    # -- commands, pipelined ------------------------------------------------------------

    def _run(self, *command: Any) -> asyncio.Future[Any]:
        """Queue a command; everything queued while a pipeline is out goes in the next."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((command, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        return future

    def _script(self, script: lua.Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return self._run("EVALSHA", script.sha, len(keys), *keys, *args)

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._execute([command for command, _ in batch])
            except (*REDIS_ERRORS, ConnectionClosedError) as exc:
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _execute(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        redis = self._live()
        results = await self._pipeline(redis, commands)
        missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if missing:  # Redis restarted: load the scripts again, send those once more
            for script in lua.SCRIPTS:
                await redis.script_load(script.body)
            again = await self._pipeline(redis, [commands[i] for i in missing])
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        return results

    @staticmethod
    async def _pipeline(redis: aioredis.Redis, commands: Iterable[tuple[Any, ...]]) -> list[Any]:
        pipe = redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute(raise_on_error=False))

    # -- presence ------------------------------------------------------------------------

    def _presence(self, identity: str) -> str:
        return f"{self.prefix}presence:{identity}"

    def connected(self, identity: str) -> None:
        claim = self._script(
            lua.CLAIM,
            [self._presence(identity), self._index, self._claims, self._nodes],
            [self.node_id, int(self.presence_ttl_ms), identity, self._streams, self.stream_max_len],
        )
        claim.add_done_callback(_quiet)
        self._owned[identity] = claim

    def disconnected(self, identity: str) -> None:
        self._owned.pop(identity, None)
        if self._redis is None:
            return
        release = self._script(
            lua.RELEASE, [self._presence(identity), self._index], [self.node_id, identity]
        )
        release.add_done_callback(_quiet)

    async def _renew(self, identities: list[str]) -> None:
        """Renew the presence of stations held here, in chunks of one script call each;
        entries Redis lost are written again with new tokens."""
        settled = [i for i in identities if self._owned.get(i) is None or self._owned[i].done()]
        chunks = [settled[start : start + CHUNK] for start in range(0, len(settled), CHUNK)]
        replies = await asyncio.gather(
            *(
                self._script(
                    lua.REFRESH,
                    [self._index, self._claims, *map(self._presence, chunk)],
                    [self.node_id, int(self.presence_ttl_ms), *chunk],
                )
                for chunk in chunks
            )
        )
        loop = asyncio.get_running_loop()
        for chunk, tokens in zip(chunks, replies, strict=True):
            for identity, token in zip(chunk, tokens, strict=True):
                if token > 0 and identity in self._local():
                    future = loop.create_future()
                    future.set_result(token)
                    self._owned[identity] = future
                elif token < 0:
                    self._log().debug("another node holds this station", station=identity)

    async def _heartbeat(self) -> None:
        before = time.monotonic()
        now = await self._script(
            lua.HEARTBEAT,
            [self._nodes, self._index, self._stream],
            [self.node_id, int(self.node_ttl_ms), int(self.stream_ttl_ms), self._last_read],
        )
        self._offset_ms = float(now) - (before + time.monotonic()) * 500

    async def _heartbeat_loop(self) -> None:
        period = self.node_ttl_ms / 3000
        renew_every = self.presence_ttl_ms / 3000
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(period)
            try:
                await self._heartbeat()
                if time.monotonic() - renewed >= renew_every:
                    await self._renew(list(self._local()))
                    renewed = time.monotonic()
            except REDIS_ERRORS as exc:
                self._log().debug("heartbeat failed", error=repr(exc))

    # -- the node's stream ---------------------------------------------------------------

    async def _read_loop(self) -> None:
        redis = self._live()
        delay = RETRY_MS[0]
        lost = False
        while True:
            try:
                if lost:
                    await self._join()
                    self._log().info("back in the cluster: presence written again")
                    lost, delay = False, RETRY_MS[0]
                reply: Any = await redis.xreadgroup(
                    GROUP,
                    self.node_id,
                    {self._stream: ">"},
                    count=READ_COUNT,
                    block=READ_BLOCK_MS,
                    noack=True,
                )
            except REDIS_ERRORS as exc:
                if not lost:
                    self._log().warn("lost Redis: retrying", error=repr(exc))
                if lost or "NOGROUP" not in str(exc):
                    await asyncio.sleep(delay / 1000)
                    delay = min(delay * 2, RETRY_MS[1])
                lost = True
                continue
            streams = reply.items() if isinstance(reply, dict) else reply or []
            for _, entries in streams:
                for entry_id, fields in entries:
                    self._last_read = entry_id
                    self._receive(fields)

    def _receive(self, fields: Mapping[str, str]) -> None:
        kind = fields.get("k")
        try:
            if kind == "reply":
                data = json.loads(fields["d"])
                future = self._waiting.get(data["c"])
                if future is not None and not future.done():
                    future.set_result(data["o"])
            elif kind == "call":
                self._spawn(self._serve(json.loads(fields["d"]), float(fields["x"])))
            elif kind == "evict":
                self._spawn(self._evict(fields["i"], int(fields["t"])))
        except (KeyError, TypeError, ValueError) as exc:
            self._log().warn("unreadable stream entry", kind=kind, error=repr(exc))

    async def _serve(self, data: dict[str, Any], deadline: float) -> None:
        """Run a call queued for a station held here; answer on the caller's stream."""
        try:
            identity, reply_to, correlation = data["i"], data["r"], data["c"]
            args, options = list(data["a"]), dict(data["o"])
        except (KeyError, TypeError, ValueError) as exc:
            self._log().warn("unreadable call", error=repr(exc))
            return
        remaining = deadline - self._redis_ms()
        if remaining <= 0:
            self._log().debug("dropped a call past its deadline", station=identity)
            return
        client = self._local().get(identity)
        if client is not None:
            outcome = await self._call_here(client, args, options, remaining)
        else:
            forwarded = await self._forward(data, deadline)
            if forwarded is None:
                return
            outcome = forwarded
        self._reply(reply_to, correlation, outcome)

    @staticmethod
    async def _call_here(
        client: OCPPServerClient, args: list[Any], options: dict[str, Any], remaining: float
    ) -> dict[str, Any]:
        options = dict(options)
        if not options.get("retries"):
            options["timeout_ms"] = max(1.0, min(float(options["timeout_ms"]), remaining))
        try:
            return encode_result(await client.call(*args, **options))
        except Exception as exc:
            return encode_error(exc)

    async def _forward(self, data: dict[str, Any], deadline: float) -> dict[str, Any] | None:
        """The station is not here (it moved, or left): pass the call on to where it is
        now; None when passed on, else the error to answer with."""
        identity = data["i"]
        nowhere = encode_error(_nowhere(identity))
        if data.get("h", 0) >= MAX_HOPS:
            return nowhere
        data = {**data, "h": data.get("h", 0) + 1}
        try:
            status, owner = await self._dispatch(identity, _dumps(data), deadline)
        except REDIS_ERRORS as exc:
            return encode_error(_unreachable(exc))
        if status == 2:
            return None
        if status == 1:
            return encode_error(_gone(identity, owner))
        client = self._local().get(identity) if status == 3 else None
        if client is not None:  # it came back here meanwhile
            remaining = deadline - self._redis_ms()
            return await self._call_here(client, data["a"], data["o"], remaining)
        return nowhere

    def _reply(self, to: str, correlation: str, outcome: dict[str, Any]) -> None:
        reply = self._run(
            "XADD",
            self._streams + to,
            "NOMKSTREAM",
            "MAXLEN",
            "~",
            self.stream_max_len,
            "*",
            "k",
            "reply",
            "d",
            _dumps({"c": correlation, "o": outcome}),
        )
        reply.add_done_callback(_quiet)

    async def _evict(self, identity: str, token: int) -> None:
        """Another node took ``identity`` with claim ``token``: close our connection of
        it unless ours is the newer claim."""
        from ..server.server import CLOSE_REPLACED

        claim = self._owned.get(identity)
        client = self._local().get(identity)
        if claim is None or client is None:
            return
        try:
            mine = int(await claim)
        except Exception:
            mine = 0
        if mine < token and self._local().get(identity) is client:
            self._log().info("station connected to another node: closing it here", station=identity)
            await client.close(*CLOSE_REPLACED, await_pending=False)

    # -- calls to stations elsewhere -------------------------------------------------------

    def _dispatch(self, identity: str, data: str, deadline: float) -> Any:
        return self._script(
            lua.DISPATCH,
            [self._presence(identity), self._index, self._nodes],
            [self.node_id, identity, self._streams, self.stream_max_len, data, int(deadline)],
        )

    async def call(
        self, identity: str, args: tuple[Any, ...], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        server = self._server
        if server is None:
            raise ConnectionClosedError("the Redis adapter is not started")
        timeout_ms = check_call(args, options, server.options.call_timeout_ms)
        budget = call_budget_ms(timeout_ms, options)
        options = {**options, "timeout_ms": timeout_ms}
        correlation = uuid.uuid4().hex
        data = _dumps(
            {"i": identity, "a": list(args), "o": options, "r": self.node_id, "c": correlation}
        )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = future
        owner = "?"
        try:
            async with asyncio.timeout(budget / 1000):
                try:
                    status, owner = await self._dispatch(identity, data, self._redis_ms() + budget)
                except REDIS_ERRORS as exc:
                    raise _unreachable(exc) from exc
                if status == 0:
                    raise _nowhere(identity)
                if status == 1:
                    raise _gone(identity, owner)
                if status == 3:  # the entry names this node: here after all, or gone
                    client = self._local().get(identity)
                    if client is None:
                        raise _nowhere(identity)
                    return await client.call(*args, **options)
                return decode_outcome(await future)
        except CallTimeoutError:
            raise
        except TimeoutError:
            raise CallTimeoutError(
                f"{_method(args)} to {identity!r} (on node {owner!r}) got no response "
                f"within {budget:g} ms"
            ) from None
        finally:
            self._waiting.pop(correlation, None)

    async def call_many(
        self, identities: Sequence[str], args: tuple[Any, ...], options: Mapping[str, Any]
    ) -> CallOutcome:
        server = self._server
        if server is None:
            raise ConnectionClosedError("the Redis adapter is not started")
        timeout_ms = check_call(args, options, server.options.call_timeout_ms)
        budget = call_budget_ms(timeout_ms, options)
        options = {**options, "timeout_ms": timeout_ms}
        results: dict[str, dict[str, Any] | Exception] = {}
        try:
            owners = await self._locate(identities)
        except REDIS_ERRORS as exc:
            error = _unreachable(exc)
            return dict.fromkeys(identities, error)
        groups: dict[str, list[str]] = {}
        here: list[str] = []
        for identity, owner in zip(identities, owners, strict=True):
            if owner.startswith("!"):
                results[identity] = _gone(identity, owner[1:])
            elif owner == self.node_id and identity in self._local():
                here.append(identity)
            elif owner in ("", self.node_id):
                results[identity] = _nowhere(identity)
            else:
                groups.setdefault(owner, []).append(identity)
        deadline = self._redis_ms() + budget
        waiting: dict[str, asyncio.Future[Any]] = {}
        try:
            sent = [
                self._send_group(node, members, args, options, deadline, waiting)
                for node, members in groups.items()
            ]
            for failed in await asyncio.gather(*sent):
                results.update(failed)
            local = [self._call_local(identity, args, options) for identity in here]
            pending = [future for identity, future in waiting.items() if identity not in results]
            if pending:
                await asyncio.wait(pending, timeout=max(0.0, deadline - self._redis_ms()) / 1000)
            for identity, outcome in zip(here, await asyncio.gather(*local), strict=True):
                results[identity] = outcome
            for identity, future in waiting.items():
                if identity in results:
                    continue
                if future.done() and not future.cancelled():
                    try:
                        results[identity] = decode_outcome(future.result())
                    except Exception as exc:
                        results[identity] = exc
                else:
                    results[identity] = CallTimeoutError(
                        f"{_method(args)} to {identity!r} got no response within {budget:g} ms"
                    )
        finally:
            ours = set(waiting.values())
            for correlation, future in list(self._waiting.items()):
                if future in ours:
                    del self._waiting[correlation]
        return {identity: results[identity] for identity in identities}

    async def _call_local(
        self, identity: str, args: tuple[Any, ...], options: Mapping[str, Any]
    ) -> dict[str, Any] | Exception:
        client = self._local().get(identity)
        if client is None:
            return _nowhere(identity)
        try:
            result: dict[str, Any] = await client.call(*args, **options)
        except Exception as exc:
            return exc
        return result

    async def _locate(self, identities: Sequence[str]) -> list[str]:
        """Per identity: its live node, '' when connected nowhere, '!node' when dead."""
        chunks = [identities[start : start + CHUNK] for start in range(0, len(identities), CHUNK)]
        replies = await asyncio.gather(
            *(
                self._script(lua.LOCATE, [self._nodes, *map(self._presence, chunk)], [self.node_id])
                for chunk in chunks
            )
        )
        return [str(owner) for reply in replies for owner in reply]

    async def _send_group(
        self,
        node: str,
        members: list[str],
        args: tuple[Any, ...],
        options: Mapping[str, Any],
        deadline: float,
        waiting: dict[str, asyncio.Future[Any]],
    ) -> dict[str, Exception]:
        """Queue the call for every member held by ``node``, in one pipeline."""
        loop = asyncio.get_running_loop()
        commands = []
        for identity in members:
            correlation = uuid.uuid4().hex
            future: asyncio.Future[Any] = loop.create_future()
            self._waiting[correlation] = waiting[identity] = future
            data = {
                "i": identity,
                "a": list(args),
                "o": options,
                "r": self.node_id,
                "c": correlation,
            }
            commands.append(
                (
                    "XADD",
                    self._streams + node,
                    "NOMKSTREAM",
                    "MAXLEN",
                    "~",
                    self.stream_max_len,
                    "*",
                    "k",
                    "call",
                    "d",
                    _dumps(data),
                    "x",
                    int(deadline),
                )
            )
        try:
            replies = await self._pipeline(self._live(), commands)
        except REDIS_ERRORS as exc:
            return dict.fromkeys(members, _unreachable(exc))
        failed: dict[str, Exception] = {}
        for identity, reply in zip(members, replies, strict=True):
            if isinstance(reply, Exception):
                failed[identity] = _unreachable(reply)
            elif reply is None:  # the node's stream is gone: it left
                failed[identity] = _gone(identity, node)
        return failed

    # -- figures -------------------------------------------------------------------------

    async def metrics(self) -> dict[str, Any]:
        redis = self._live()
        now = int(self._redis_ms())
        nodes = [str(node) for node in await redis.zrangebyscore(self._nodes, now, "+inf")]
        pipe = redis.pipeline(transaction=False)
        for node in nodes:
            pipe.xinfo_groups(self._streams + node)
            pipe.xlen(self._streams + node)
        pipe.zcount(self._index, now, "+inf")
        replies = await pipe.execute(raise_on_error=False)
        per_node: dict[str, dict[str, int | None]] = {}
        for position, node in enumerate(nodes):
            groups, length = replies[2 * position], replies[2 * position + 1]
            per_node[node] = {
                "pending_messages": _lag(groups, length),
                "stream_length": None if isinstance(length, Exception) else int(length),
            }
        own = per_node.get(self.node_id, {}).get("pending_messages")
        return {
            "adapter": "redis",
            "node_id": self.node_id,
            "nodes_alive": len(nodes),
            "nodes": per_node,
            "presence_entries": int(replies[-1]),
            "local_stations": len(self._local()),
            "calls_waiting": len(self._waiting),
            "redis_consumer_lag": {"pending_messages": own},
        }


def _lag(groups: Any, length: Any) -> int | None:
    """Entries of a node's stream its group has not read yet (XINFO's lag, else the
    stream's length, an upper bound)."""
    if isinstance(groups, list):
        for group in groups:
            if isinstance(group, dict) and group.get("name") == GROUP:
                lag = group.get("lag")
                if lag is not None:
                    return int(lag)
    return None if isinstance(length, Exception) or length is None else int(length)


def _method(args: tuple[Any, ...] | list[Any]) -> str:
    strings = [arg for arg in args if isinstance(arg, str)]
    return strings[-1] if strings else "call"


def _nowhere(identity: str) -> ConnectionClosedError:
    return ConnectionClosedError(f"no station with identity {identity!r} is connected to any node")


def _gone(identity: str, node: str) -> ConnectionClosedError:
    return ConnectionClosedError(
        f"station {identity!r} was connected to node {node!r}, which is not alive"
    )


def _unreachable(exc: BaseException) -> ConnectionClosedError:
    return ConnectionClosedError(f"cannot reach the other nodes (Redis): {exc}")
