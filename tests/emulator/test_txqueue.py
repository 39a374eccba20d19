"""The transaction queue and local authorization, without a connection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from browser_ocpp import ConnectionClosedError, RPCInternalError
from browser_ocpp.emulator.auth import Authorization, IdInfo, offline_refusal
from browser_ocpp.emulator.txqueue import QueuedMessage, TransactionQueue

Payload = dict[str, object]


class FakeCSMS:
    """What the queue's ``send`` reaches: records, answers, fails on demand."""

    def __init__(self) -> None:
        self.online = True
        self.sent: list[tuple[str, Payload, str]] = []
        self.fail: list[Exception] = []  # raised by the next sends, in order
        self.lines: list[str] = []
        self.retry = (3, 0.01)
        self.queue = TransactionQueue(self.send, lambda: self.online, lambda: self.retry, self.note)

    def note(self, line: str) -> None:
        self.lines.append(line)

    async def send(self, message: QueuedMessage, payload: Payload) -> Payload:
        await asyncio.sleep(0)
        self.sent.append((message.action, payload, message.message_id))
        if self.fail:
            error = self.fail.pop(0)
            if isinstance(error, ConnectionClosedError):
                self.online = False
            raise error
        if message.action == "StartTransaction":
            return {"transactionId": 7, "idTagInfo": {"status": "Accepted"}}
        return {}

    async def drained(self) -> None:
        """Wait until every message is sent or dropped."""
        for _ in range(1000):
            if not len(self.queue):
                return
            await asyncio.sleep(0.005)
        pytest.fail("the queue did not drain")


def start(key: str = "local-1") -> QueuedMessage:
    return QueuedMessage("StartTransaction", {"connectorId": 1}, transaction=key, assigns_id=True)


def sample(key: str = "local-1", n: int = 0) -> QueuedMessage:
    payload: Payload = {"connectorId": 1, "n": n}
    return QueuedMessage("MeterValues", payload, transaction=key, needs_id=True, droppable=True)


async def test_messages_go_in_order_with_the_transaction_id_written_in() -> None:
    csms = FakeCSMS()
    queue = csms.queue
    first = queue.put(start())
    assert await queue.first_outcome(first) == {
        "transactionId": 7,
        "idTagInfo": {"status": "Accepted"},
    }
    for n in range(3):
        queue.put(sample(n=n))
    queue.put(QueuedMessage("StopTransaction", {"meterStop": 5}, "local-1", needs_id=True))
    await csms.drained()
    assert [(a, p.get("n"), p.get("transactionId")) for a, p, _ in csms.sent] == [
        ("StartTransaction", None, None),
        ("MeterValues", 0, 7),
        ("MeterValues", 1, 7),
        ("MeterValues", 2, 7),
        ("StopTransaction", None, 7),
    ]
    assert queue.transaction_ids == {"local-1": 7}
    assert queue.messages == [] and queue.dropped == 0


async def test_offline_messages_wait_and_the_first_outcome_comes_at_once() -> None:
    csms = FakeCSMS()
    csms.online = False
    answers: list[tuple[Payload, bool]] = []
    message = start()
    message.on_answer = lambda answer, late: answers.append((answer, late))
    queue = csms.queue
    assert await queue.first_outcome(queue.put(message)) is None  # offline: it waits
    queue.put(sample())
    await asyncio.sleep(0.02)
    assert csms.sent == [] and len(queue) == 2
    csms.online = True
    queue.wake()
    await csms.drained()
    assert answers == [({"transactionId": 7, "idTagInfo": {"status": "Accepted"}}, True)]
    assert csms.sent[1][1]["transactionId"] == 7


async def test_a_message_whose_connection_dropped_is_resent_with_its_id() -> None:
    csms = FakeCSMS()
    csms.fail = [ConnectionClosedError("lost")]
    queue = csms.queue
    assert await queue.first_outcome(queue.put(start())) is None
    await asyncio.sleep(0.02)
    assert len(queue) == 1  # kept, not counted as an attempt
    csms.online = True
    queue.wake()
    await csms.drained()
    assert len(csms.sent) == 2 and csms.sent[0][2] == csms.sent[1][2]
    assert queue.messages == [] and queue.dropped == 0


async def test_refused_messages_are_retried_then_dropped_with_their_transaction() -> None:
    csms = FakeCSMS()
    csms.retry = (2, 0.01)
    csms.fail = [RPCInternalError("down"), RPCInternalError("down")]
    queue = csms.queue
    queue.put(start())
    queue.put(sample())  # needs the id the dropped start never got
    queue.put(start("local-2"))
    await csms.drained()
    assert [a for a, _, _ in csms.sent] == ["StartTransaction"] * 3
    assert queue.dropped == 2
    assert queue.transaction_ids == {"local-2": 7}
    assert any("attempt 1 of 2, retrying in 0.01 s" in line for line in csms.lines)
    assert any("MeterValues dropped: its transaction got no id" in line for line in csms.lines)


async def test_a_full_queue_drops_the_oldest_periodic_sample() -> None:
    csms = FakeCSMS()
    csms.online = False
    queue = csms.queue
    queue.limit = 3
    queue.put(start())
    for n in range(3):
        queue.put(sample(n=n))
    assert [m.payload.get("n") for m in queue.messages] == [None, 1, 2]
    assert queue.dropped == 1
    await queue.stop()


def test_id_info_reads_both_versions() -> None:
    assert IdInfo.parse({"status": "Accepted"}) == IdInfo("Accepted")
    v16 = IdInfo.parse({"status": "Blocked", "expiryDate": "2030-01-01T00:00:00Z"})
    assert v16 == IdInfo("Blocked", datetime(2030, 1, 1, tzinfo=UTC))
    v2 = IdInfo.parse({"status": "Accepted", "cacheExpiryDateTime": "2020-01-01T00:00:00"})
    assert v2 is not None and not v2.valid(datetime.now(UTC))  # expired
    assert IdInfo.parse({"nope": 1}) is None and IdInfo.parse(None) is None


@pytest.mark.parametrize(
    ("known", "local_authorize_offline", "allow_unknown", "starts"),
    [
        (IdInfo("Accepted"), True, False, True),
        (IdInfo("Blocked"), True, True, False),
        (IdInfo("Accepted", datetime(2000, 1, 1, tzinfo=UTC)), True, True, False),
        (None, True, False, False),
        (None, True, True, True),
        (IdInfo("Accepted"), False, False, False),
        (IdInfo("Blocked"), False, True, True),  # local data unused: any idTag starts
    ],
)
def test_offline_decisions(
    known: IdInfo | None, local_authorize_offline: bool, allow_unknown: bool, starts: bool
) -> None:
    refusal = offline_refusal(
        "TAG",
        known,
        datetime.now(UTC),
        local_authorize_offline=local_authorize_offline,
        allow_unknown=allow_unknown,
    )
    assert (refusal is None) is starts


def test_the_local_list_comes_before_the_cache() -> None:
    auth = Authorization()
    auth.remember("TAG", IdInfo("Accepted"))
    auth.local_list["TAG"] = IdInfo("Blocked", datetime.now(UTC) + timedelta(days=1))
    assert auth.lookup("TAG", cache=True, local_list=True) == auth.local_list["TAG"]
    assert auth.lookup("TAG", cache=True, local_list=False) == IdInfo("Accepted")
    assert auth.lookup("TAG", cache=False, local_list=False) is None
    auth.clear_cache()
    assert auth.lookup("TAG", cache=True, local_list=False) is None


async def test_drained_returns_once_every_message_is_answered() -> None:
    csms = FakeCSMS()
    await asyncio.wait_for(csms.queue.drained(), 1)  # nothing waits: at once
    csms.online = False
    csms.queue.put(start())
    csms.queue.put(QueuedMessage("StopTransaction", {}, transaction="local-1", needs_id=True))
    drained = asyncio.ensure_future(csms.queue.drained())
    await asyncio.sleep(0)
    assert not drained.done()  # offline: both wait
    csms.online = True
    csms.queue.wake()
    await asyncio.wait_for(drained, 5)
    assert [action for action, _, _ in csms.sent] == ["StartTransaction", "StopTransaction"]
    assert len(csms.queue) == 0


async def test_a_message_put_while_an_earlier_one_waits_for_its_retry_waits_too() -> None:
    csms = FakeCSMS()
    csms.retry = (3, 60.0)  # the retry is a minute away
    csms.fail = [RPCInternalError("down")]
    queue = csms.queue
    assert await asyncio.wait_for(queue.first_outcome(queue.put(start())), 5) is None
    stop = QueuedMessage("StopTransaction", {}, transaction="local-1", needs_id=True)
    # Behind a message waiting for its retry: its first outcome is None at once, as
    # first_outcome says, not after the retry.
    assert await asyncio.wait_for(queue.first_outcome(queue.put(stop)), 5) is None
    await queue.stop()
