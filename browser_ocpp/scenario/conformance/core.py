"""Boot (accepted, pending, rejected), heartbeat, status notifications, authorize."""

from __future__ import annotations

from typing import Any

from ...emulator import messages as msg
from ...emulator.connectors import ConnectorStatus
from ..api import Bench, scenario
from .common import accepted_station, wait_s

__all__ = ["authorize", "boot_accepted", "boot_pending", "boot_rejected", "heartbeat", "status"]


@scenario(
    "BOOT-ACCEPTED",
    title="BootNotification answered: Accepted, currentTime, interval",
    clause="OCPP-J 1.6 4.2.2, 2.0.1/2.1 Part 4 4.2.2 (CALLRESULT, response schema); "
    "1.6 Core 4.2 / 2.0.1 B01 (core texts not in spec/)",
)
async def boot_accepted(bench: Bench) -> None:
    station = await bench.station()
    async with bench.step("BootNotification answered"):
        reply = await station.call("BootNotification", bench.boot_payload())
        answer = bench.expect_result("BootNotification", reply)
    if answer["status"] != "Accepted":
        bench.inconclusive(
            f"the CSMS answered {answer['status']}: use an identity it accepts", reply.frames
        )
    async with bench.step("Accepted with a heartbeat interval"):
        bench.expect(answer["interval"] >= 0, "a negative interval", reply.frames)


async def _boot_status(bench: Bench, wanted: str) -> tuple[Any, dict[str, Any], Any]:
    station = await bench.station()
    async with bench.step(f"BootNotification answered ({wanted} expected)"):
        reply = await station.call("BootNotification", bench.boot_payload())
        answer = bench.expect_result("BootNotification", reply)
    if answer["status"] != wanted:
        bench.inconclusive(
            f"the CSMS answered {answer['status']}, not {wanted}: this case needs an "
            f"identity the CSMS answers {wanted} (--identity)",
            reply.frames,
        )
    return station, answer, reply


@scenario(
    "BOOT-PENDING",
    title="Pending: the boot sent again after the interval is answered",
    clause="1.6 Core 4.2 / 2.0.1 B02 (interval: the wait before the next boot); OCPP-J 4.2.2",
)
async def boot_pending(bench: Bench) -> None:
    station, answer, _ = await _boot_status(bench, "Pending")
    async with bench.step("BootNotification again after the interval"):
        # The CSMS may query or configure the station meanwhile: the emulator answers.
        await bench.wait(wait_s(bench, answer["interval"]))
        reply = await station.call("BootNotification", bench.boot_payload())
        again = bench.expect_result("BootNotification", reply)
        bench.passed(f"answered {again['status']}", reply.frames)


@scenario(
    "BOOT-REJECTED",
    title="Rejected: the CSMS sends no call, answers the next boot",
    clause="1.6 Core 4.2 / 2.0.1 B03 (no CSMS message while Rejected); OCPP-J 4.2.2",
)
async def boot_rejected(bench: Bench) -> None:
    station, answer, reply = await _boot_status(bench, "Rejected")
    async with bench.step("No CSMS call during the interval"):
        start = station.log.records.index(reply.answer) + 1 if reply.answer else 0

        def csms_call(record: Any, frame: Any) -> bool:
            return record.direction == "in" and frame is not None and frame[0] == 2

        call = await station.log.wait_for(csms_call, wait_s(bench, answer["interval"]), start)
        if call is not None:
            bench.fail("the CSMS sent a CALL to a station it rejected", [*reply.frames, call])
    async with bench.step("BootNotification again is answered"):
        again = await station.call("BootNotification", bench.boot_payload())
        bench.expect_result("BootNotification", again)


@scenario(
    "HEARTBEAT",
    title="Heartbeat answered with the CSMS's currentTime",
    clause="1.6 Core 4.6 / 2.0.1 G02; OCPP-J 1.6 5.3, 2.0.1 Part 4 5.2, 2.1 5.3 "
    "(Heartbeat for time synchronisation); OCPP-J 4.2.2",
)
async def heartbeat(bench: Bench) -> None:
    station = await accepted_station(bench)
    async with bench.step("Heartbeat answered"):
        reply = await station.call("Heartbeat", {})
        answer = bench.expect_result("Heartbeat", reply)
        bench.expect("currentTime" in answer, "no currentTime", reply.frames)


@scenario(
    "STATUS",
    title="StatusNotification of each status answered",
    clause="OCPP-J 4.2.2 (StatusNotification response schema); 1.6 Core 4.9 / 2.0.1 G01",
)
async def status(bench: Bench) -> None:
    station = await accepted_station(bench)
    statuses = [ConnectorStatus.AVAILABLE, ConnectorStatus.PREPARING, ConnectorStatus.FAULTED]
    for state in statuses:
        payload = msg.status_notification(bench.protocol, 1, state)
        async with bench.step(f"StatusNotification {payload.get('status', state.value)}"):
            reply = await station.call("StatusNotification", payload)
            bench.expect_result("StatusNotification", reply)


@scenario(
    "AUTHORIZE",
    title="Authorize answered with an idTagInfo/idTokenInfo status",
    clause="OCPP-J 4.2.2 (Authorize response schema); 1.6 Core 4.1 / 2.0.1 C01",
)
async def authorize(bench: Bench) -> None:
    station = await accepted_station(bench)
    for tag in (bench.settings.id_tag, "UNKNOWN-TAG-0000"):
        async with bench.step(f"Authorize {tag}"):
            payload = msg.authorize(bench.protocol, msg.id_token(tag))
            reply = await station.call("Authorize", payload)
            answer = bench.expect_result("Authorize", reply)
            info = answer.get("idTagInfo") or answer.get("idTokenInfo") or {}
            bench.passed(f"{tag}: {info.get('status')}", reply.frames)
