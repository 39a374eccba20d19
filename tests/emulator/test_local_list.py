"""The local authorization list: updates (pure), and SendLocalList / GetLocalListVersion
from a CSMS with the list then used offline (every version, the strict test CSMS)."""

from __future__ import annotations

import pytest

from browser_ocpp.emulator import IdInfo
from browser_ocpp.emulator.local_list import MAX_PER_MESSAGE, Update, apply_update

from .conftest import Payload, Rig, RigFactory

OK, BLOCKED = IdInfo("Accepted"), IdInfo("Blocked")

UPDATES = [
    ("full replaces", {"A": OK}, 3, Update(1, True, {"B": OK}), ("Accepted", {"B": OK}, 1)),
    (
        "full may lower the version",
        {"A": OK},
        3,
        Update(2, True, {}),
        ("Accepted", {}, 2),
    ),
    (
        "differential adds, changes and removes",
        {"A": OK, "B": OK},
        3,
        Update(4, False, {"A": None, "B": BLOCKED, "C": OK}),
        ("Accepted", {"B": BLOCKED, "C": OK}, 4),
    ),
    (
        "differential of the same version",
        {"A": OK},
        3,
        Update(3, False, {"C": OK}),
        ("VersionMismatch", {"A": OK}, 3),
    ),
    (
        "too many entries in one message",
        {"A": OK},
        3,
        Update(4, True, {f"T{i}": OK for i in range(MAX_PER_MESSAGE + 1)}),
        ("Failed", {"A": OK}, 3),
    ),
]


@pytest.mark.parametrize(
    ("current", "version", "update", "expected"),
    [u[1:] for u in UPDATES],
    ids=[u[0] for u in UPDATES],
)
def test_apply_update(
    current: dict[str, IdInfo],
    version: int,
    update: Update,
    expected: tuple[str, dict[str, IdInfo], int],
) -> None:
    assert apply_update(current, version, update) == expected


def entry(rig: Rig, tag: str, status: str | None = "Accepted") -> Payload:
    if rig.v16:
        item: Payload = {"idTag": tag}
        if status:
            item["idTagInfo"] = {"status": status}
        return item
    item = {"idToken": {"idToken": tag, "type": "ISO14443"}}
    if status:
        item["idTokenInfo"] = {"status": status}
    return item


async def send_list(rig: Rig, version: int, kind: str, *items: Payload) -> Payload:
    key = "listVersion" if rig.v16 else "versionNumber"
    payload = {key: version, "updateType": kind, "localAuthorizationList": list(items)}
    return await rig.csms.send("SendLocalList", payload)


async def version_of(rig: Rig) -> int:
    answer = await rig.csms.send("GetLocalListVersion", {})
    return int(answer["listVersion" if rig.v16 else "versionNumber"])


async def test_the_list_the_csms_sends_authorizes_offline(make_rig: RigFactory) -> None:
    rig = await make_rig()
    assert await version_of(rig) == 0
    full = await send_list(rig, 5, "Full", entry(rig, "LISTED"), entry(rig, "BARRED", "Blocked"))
    assert full == {"status": "Accepted"}
    assert await version_of(rig) == 5
    assert set(rig.station.auth.local_list) == {"LISTED", "BARRED"}
    stale = await send_list(rig, 5, "Differential", entry(rig, "NEW"))
    assert stale == {"status": "VersionMismatch"}
    diff = await send_list(rig, 6, "Differential", entry(rig, "NEW"), entry(rig, "LISTED", None))
    assert diff == {"status": "Accepted"}
    assert set(rig.station.auth.local_list) == {"NEW", "BARRED"}
    assert await version_of(rig) == 6
    await rig.station.set_offline(True)
    assert await rig.station.start_transaction(1, "NEW")  # from the list
    assert not await rig.station.start_transaction(2, "BARRED")
    assert not await rig.station.start_transaction(2, "LISTED")  # removed, unknown
    await rig.station.stop_transaction(1)
    await rig.station.set_offline(False)


async def test_a_disabled_list_is_not_managed(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.station.configuration["LocalAuthListEnabled"] = "false"
    answer = await send_list(rig, 1, "Full", entry(rig, "LISTED"))
    assert answer == {"status": "NotSupported" if rig.v16 else "Failed"}
    assert rig.station.auth.local_list == {}
    if rig.v16:
        assert await version_of(rig) == -1
