"""The station's queue of transaction-related messages.

OCPP asks a station to deliver its transaction messages (1.6 StartTransaction,
StopTransaction and MeterValues of a transaction; 2.x TransactionEvent) in order and
to lose none of them while the CSMS is unreachable.  This queue is the station's own,
distinct from a client's ``offline_queue``: it outlives any connection (and the
client closing), sends one message at a time when the station is online, resends a
message whose connection dropped before its answer (same message id), and retries a
message the CSMS refused (CALLERROR) or left unanswered as TransactionMessageAttempts
and TransactionMessageRetryInterval say (1.6 keys; 2.x OCPPCommCtrlr.MessageAttempts and
MessageAttemptInterval of TransactionEvent): the n-th retry waits n times the interval,
and a message failing every attempt is dropped so the next one can go.

In 1.6 a transaction started offline has no id until the CSMS answers its
StartTransaction: the queue maps the station's key of the transaction to that id and
writes it into the transaction's later messages when they are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..rpc.errors import ConnectionClosedError, RPCGenericTransportError

__all__ = ["QueuedMessage", "TransactionQueue"]

Payload = dict[str, Any]

NOT_DELIVERED: tuple[type[Exception], ...] = (ConnectionClosedError, RPCGenericTransportError)
"""Errors that mean the message did not get (or its answer did not come) through
the connection: it is sent again once the station is online, not counted as an attempt."""


@dataclass(eq=False)
class QueuedMessage:
    """One transaction message waiting to be delivered."""

    action: str
    payload: Payload
    transaction: str | None = None
    """The station's key of the transaction the message belongs to."""
    assigns_id: bool = False
    """1.6 StartTransaction: the ``transactionId`` of its answer is the transaction's id."""
    needs_id: bool = False
    """1.6 StopTransaction, MeterValues: ``transactionId`` is written in when sent."""
    droppable: bool = False
    """A periodic sample, the first to go when the queue is full."""
    on_answer: Callable[[Payload, bool], None] | None = None
    """Called with the CSMS's answer and whether nobody waits for it any more
    (see :meth:`TransactionQueue.first_outcome`)."""
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    """Kept across resends, so the CSMS can tell a resend from a new message."""
    attempts: int = 0
    """Attempts the CSMS refused or left unanswered so far."""
    first: asyncio.Future[Payload | None] | None = field(default=None, repr=False)


Send = Callable[[QueuedMessage, Payload], Awaitable[Payload]]


class TransactionQueue:
    """Transaction messages in order; a worker task sends them while ``ready()``.

    ``send(message, payload)`` delivers one message and returns the answer;
    ``retry()`` gives (attempts, interval in seconds); ``note(line)`` reports.
    """

    limit = 5000
    """Messages kept at most: beyond it the oldest periodic samples are dropped."""

    def __init__(
        self,
        send: Send,
        ready: Callable[[], bool],
        retry: Callable[[], tuple[int, float]],
        note: Callable[[str], None],
    ) -> None:
        self._send = send
        self._ready = ready
        self._retry = retry
        self._note = note
        self._messages: deque[QueuedMessage] = deque()
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._worker: asyncio.Task[None] | None = None
        self._retrying = False  # the first message waits for its retry
        self.transaction_ids: dict[str, int] = {}
        """1.6: the CSMS's id of each transaction the station keys, once known."""
        self.dropped = 0
        """Messages dropped so far (failed every attempt, or the queue was full)."""

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def messages(self) -> list[QueuedMessage]:
        """The messages waiting, oldest first (the first may be in flight)."""
        return list(self._messages)

    def put(self, message: QueuedMessage) -> QueuedMessage:
        """Queue ``message`` behind the others; the worker sends it when it can."""
        message.first = asyncio.get_running_loop().create_future()
        self._messages.append(message)
        self._empty.clear()
        if len(self._messages) > self.limit:
            self._trim()
        if not self._ready() or self._retrying:
            self._settle(message)
        self.wake()
        return message

    async def first_outcome(self, message: QueuedMessage) -> Payload | None:
        """The CSMS's answer if it comes at once; None as soon as the message has to
        wait (the station is offline, or the message or one before it is waiting
        for a retry) or was dropped.  A later answer goes to ``message.on_answer``."""
        assert message.first is not None, "put() the message first"
        return await asyncio.shield(message.first)

    async def drained(self) -> None:
        """Return once no message waits (at once if none does): every one answered
        or dropped."""
        await self._empty.wait()

    def wake(self) -> None:
        """Look again (the station came online, or a message was put)."""
        self._wake.set()
        if self._messages and (self._worker is None or self._worker.done()):
            self._worker = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop sending (the messages stay, for the next :meth:`wake`)."""
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        for message in self._messages:
            self._settle(message)

    # -- the worker ----------------------------------------------------------------------

    async def _run(self) -> None:
        while self._messages:
            if not self._ready():
                for message in self._messages:
                    self._settle(message)
                self._wake.clear()
                await self._wake.wait()
                continue
            message = self._messages[0]
            payload = self._payload(message)
            if payload is None:
                self._drop(message, "its transaction got no id (its StartTransaction was dropped)")
                continue
            try:
                answer = await self._send(message, payload)
            except NOT_DELIVERED:
                if not self._ready():
                    continue  # sent again once online
                await self._failed(message, "the connection failed")
            except Exception as exc:
                await self._failed(message, f"{type(exc).__name__}: {exc}")
            else:
                self._answered(message, answer)

    def _payload(self, message: QueuedMessage) -> Payload | None:
        """The payload as sent: with the transaction's id where 1.6 needs it."""
        if not message.needs_id:
            return message.payload
        transaction_id = self.transaction_ids.get(message.transaction or "")
        if transaction_id is None:
            return None
        return {**message.payload, "transactionId": transaction_id}

    def _answered(self, message: QueuedMessage, answer: Payload) -> None:
        self._remove(message)
        if message.assigns_id and message.transaction is not None:
            transaction_id = answer.get("transactionId")
            if isinstance(transaction_id, int) and not isinstance(transaction_id, bool):
                self.transaction_ids[message.transaction] = transaction_id
        first = message.first
        late = first is None or first.done()
        if message.on_answer is not None:
            message.on_answer(answer, late)
        if first is not None and not first.done():
            first.set_result(answer)

    async def _failed(self, message: QueuedMessage, error: str) -> None:
        """The CSMS refused the message or left it unanswered: retry or drop it."""
        message.attempts += 1
        attempts, interval = self._retry()
        if message.attempts >= max(1, attempts):
            self._drop(message, f"{error}; attempt {message.attempts} of {attempts}")
            return
        delay = interval * message.attempts
        self._note(
            f"{message.action} failed ({error}); attempt {message.attempts} of {attempts}, "
            f"retrying in {delay:g} s"
        )
        for waiting in self._messages:
            self._settle(waiting)
        self._retrying = True
        try:
            await asyncio.sleep(delay)
        finally:
            self._retrying = False

    def _drop(self, message: QueuedMessage, why: str) -> None:
        self._remove(message)
        self.dropped += 1
        self._note(f"{message.action} dropped: {why}")
        self._settle(message)

    def _trim(self) -> None:
        """Over the limit: drop the oldest periodic sample not in flight."""
        for message in list(self._messages)[1:]:
            if message.droppable:
                self._drop(message, f"the queue holds {self.limit} messages")
                return

    def _remove(self, message: QueuedMessage) -> None:
        with contextlib.suppress(ValueError):
            self._messages.remove(message)
        if not self._messages:
            self._empty.set()

    @staticmethod
    def _settle(message: QueuedMessage) -> None:
        """Release whoever waits for the message's first outcome (it waits now)."""
        if message.first is not None and not message.first.done():
            message.first.set_result(None)
