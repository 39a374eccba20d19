"""The scenario the bench's editor starts with: a station boots, heartbeats,
authorizes and charges, each step with its verdict (it passes against the demo CSMS)."""

from __future__ import annotations

__all__ = ["EXAMPLE_SCENARIO"]

EXAMPLE_SCENARIO = """\
from browser_ocpp.scenario import Bench, scenario


@scenario("EXAMPLE-1", title="A station boots, authorizes and charges", clause="OCPP-J 4.2.2")
async def boots_and_charges(bench: Bench) -> None:
    async with bench.step("Connect and boot"):
        station = await bench.station(start=True)  # boots, then reports its status
        status = station.station.boot_status
        bench.expect(status == "Accepted", f"boot {status}", station.frames)
    async with bench.step("Heartbeat gives the CSMS's time"):
        reply = await station.call("Heartbeat", {})
        answer = bench.expect_result("Heartbeat", reply)  # a valid CALLRESULT
        bench.expect("currentTime" in answer, "no currentTime", reply.frames)
    async with bench.step("Authorize the idTag"):
        assert await station.authorize(bench.settings.id_tag), "idTag refused"
    async with bench.step("Charge for two seconds, then stop"):
        station.set_meter(power_kw=11, interval_s=1)
        assert await station.start_transaction(1), "start refused"
        await bench.wait(2)  # meter values go out meanwhile
        await station.stop_transaction(1)
        assert await station.queue_drained(10), "transaction messages unanswered"
"""
