"""What the station answers to CSMS commands, and does after answering.

Handlers answer at once; work that sends messages (a start, a stop, a reset, a
triggered message) runs after the response has gone out (:meth:`Station.after_reply`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any

from ..peer.handlers import NOREPLY, HandlerContext
from ..rpc.versions import OCPP16, OCPP21, OCPP201
from . import display, firmware, local_list, logs, reservations, smart_charging
from .config import CONFIG_KEYS, find_key, find_variable, is_known_component
from .connectors import Connector
from .messages import id_token

if TYPE_CHECKING:
    from .station import Station

__all__ = ["BLOCKS", "install"]

Payload = dict[str, Any]
Handler = Callable[["Station", HandlerContext], Payload]

BLOCKS = (smart_charging, reservations, local_list, firmware, logs, display)
"""Modules answering a block of commands, each with its ``V16`` and ``V2`` tables."""


def install(station: Station) -> None:
    """Register the station's handlers on its client, each for its own versions (this
    module's, then each block's: smart charging, reservations, local list, firmware,
    logs, display messages)."""
    v16, v2 = dict(V16), dict(V2)
    for block in BLOCKS:
        v16.update(getattr(block, "V16", {}))
        v2.update(getattr(block, "V2", {}))
    for action, handler in v16.items():
        station.client.handle(OCPP16, action, partial(_answer, station, handler))
    for protocol in (OCPP201, OCPP21):
        for action, handler in v2.items():
            station.client.handle(protocol, action, partial(_answer, station, handler))


def _answer(station: Station, handler: Handler, ctx: HandlerContext) -> Any:
    """Check the command as a real station does, then act on it (unless
    ``station.faults`` says to drop, refuse or delay it).

    With the client's strict mode off, nothing has checked the payload yet: a command
    the station cannot read (RemoteStartTransaction without idTag, Reset of type
    "Bogus") is refused with the CALLERROR strict mode would give (Occurrence-,
    PropertyConstraintViolation...), never acted on, nor an InternalError.
    """
    faults = station.faults
    faulty = faults.applies_to(ctx.method)
    if faulty and faults.drop_replies:
        station.note(f"{ctx.method} from the CSMS dropped (fault): no answer")
        return NOREPLY
    if faulty and faults.reject_with is not None:
        station.note(f"{ctx.method} from the CSMS refused with {faults.reject_with} (fault)")
        raise faults.refusal()
    scripted = faults.answer_with.get(ctx.method)
    if scripted is not None:
        station.note(f"{ctx.method} from the CSMS answered as scripted, not acted on")
        return scripted
    if not station.client.options.is_strict(ctx.protocol, ctx.method):
        from ..rpc.validation import validator_for  # loads jsonschema on first use

        validator = validator_for(ctx.protocol or "")
        if validator is not None:
            validator.validate_request(ctx.method, ctx.params)
    answer = handler(station, ctx)
    if faulty and faults.reply_delay_ms > 0:
        station.note(f"{ctx.method}: answer delayed {faults.reply_delay_ms:g} ms (fault)")
        return _later(answer, faults.reply_delay_ms / 1000)
    return answer


async def _later(answer: Payload, seconds: float) -> Payload:
    await asyncio.sleep(seconds)
    return answer


def _then(
    station: Station, ctx: HandlerContext, action: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    station.after_reply(ctx.message_id, action)


def _by_id(station: Station, connector_id: Any) -> Connector | None:
    if isinstance(connector_id, int) and 1 <= connector_id <= len(station.connectors):
        return station.connectors[connector_id - 1]
    return None


def _by_evse(station: Station, evse: Payload | None) -> Connector | None:
    """The connector of a 2.x EVSEType (connector 1 of EVSE ``id``)."""
    if evse is None or evse.get("connectorId", 1) != 1:
        return None
    return _by_id(station, evse.get("id"))


def _by_transaction(station: Station, transaction_id: str) -> Connector | None:
    return next((c for c in station.connectors if c.transaction_id == transaction_id), None)


# -- shared --------------------------------------------------------------------------------


def clear_cache(station: Station, ctx: HandlerContext) -> Payload:
    station.auth.clear_cache()
    station.note("ClearCache requested by CSMS: the authorization cache is empty")
    return {"status": "Accepted"}


def data_transfer(station: Station, ctx: HandlerContext) -> Payload:
    vendor = ctx.params["vendorId"]
    if vendor != station.config.vendor:
        station.note(f"DataTransfer from unknown vendor {vendor!r}")
        return {"status": "UnknownVendorId"}
    station.note(f"DataTransfer ({ctx.params.get('messageId', '-')}) from CSMS")
    response: Payload = {"status": "Accepted"}
    if "data" in ctx.params:
        response["data"] = ctx.params["data"]
    return response


def _availability(station: Station, targets: list[Connector], operative: bool) -> str:
    results = [station.set_availability(c, operative) for c in targets]
    return "Scheduled" if "Scheduled" in results else "Accepted"


# -- OCPP 1.6 ------------------------------------------------------------------------------


def reset_16(station: Station, ctx: HandlerContext) -> Payload:
    kind = ctx.params["type"]
    station.note(f"Reset ({kind}) requested by CSMS")
    _then(station, ctx, partial(station.reset, f"{kind}Reset"))
    return {"status": "Accepted"}


def remote_start_16(station: Station, ctx: HandlerContext) -> Payload:
    tag, wanted = ctx.params["idTag"], ctx.params.get("connectorId")
    connector = station.claim(wanted, tag)
    where = f" on connector {wanted}" if wanted is not None else ""
    status = "Rejected" if connector is None else "Accepted"
    station.note(f"RemoteStartTransaction ({tag}{where}) requested by CSMS: {status}")
    if connector is not None:
        _then(station, ctx, partial(station.remote_start, connector, id_token(tag), None))
    return {"status": status}


def remote_stop_16(station: Station, ctx: HandlerContext) -> Payload:
    return _stop(station, ctx, str(ctx.params["transactionId"]), "RemoteStopTransaction")


def _stop(station: Station, ctx: HandlerContext, transaction_id: str, action: str) -> Payload:
    """Stop the transaction the CSMS names (remote stop in every version)."""
    connector = _by_transaction(station, transaction_id)
    status = "Rejected" if connector is None else "Accepted"
    station.note(f"{action} ({transaction_id}) requested by CSMS: {status}")
    if connector is not None:
        _then(station, ctx, partial(station.stop_locked, connector, "Remote"))
    return {"status": status}


def change_availability_16(station: Station, ctx: HandlerContext) -> Payload:
    wanted, kind = ctx.params["connectorId"], ctx.params["type"]
    found = _by_id(station, wanted)
    targets = list(station.connectors) if wanted == 0 else [found] if found else []
    status = _availability(station, targets, kind == "Operative") if targets else "Rejected"
    station.note(f"ChangeAvailability ({kind}, connector {wanted}) requested by CSMS: {status}")
    _then(station, ctx, station.refresh_all)
    return {"status": status}


def get_configuration(station: Station, ctx: HandlerContext) -> Payload:
    keys: list[str] = ctx.params.get("key") or []
    entries = [find_key(key) for key in keys] if keys else list(CONFIG_KEYS)
    known = [
        {"key": e.key, "readonly": e.readonly, "value": station.configuration.get(e.key, "")[:500]}
        for e in entries
        if e is not None
    ]
    response: Payload = {"configurationKey": known}
    unknown = [key for key, e in zip(keys, entries, strict=True) if e is None] if keys else []
    if unknown:
        response["unknownKey"] = unknown
    station.note(f"GetConfiguration ({', '.join(keys) or 'all keys'}) requested by CSMS")
    return response


def change_configuration(station: Station, ctx: HandlerContext) -> Payload:
    key, value = ctx.params["key"], ctx.params["value"]
    entry = find_key(key)
    if entry is None:
        status = "NotSupported"
    elif entry.readonly:
        status = "Rejected"
    else:
        status = "Accepted" if station.set_config(entry, value) else "Rejected"
    station.note(f"ChangeConfiguration {key}={value!r} requested by CSMS: {status}")
    return {"status": status}


_TRIGGERS_CORE = ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues")
_TRIGGERS_16 = (*_TRIGGERS_CORE, "FirmwareStatusNotification", "DiagnosticsStatusNotification")


def trigger_message_16(station: Station, ctx: HandlerContext) -> Payload:
    what, wanted = ctx.params["requestedMessage"], ctx.params.get("connectorId")
    found = _by_id(station, wanted)
    if what not in _TRIGGERS_16:
        status = "NotImplemented"
    elif wanted is not None and wanted != 0 and found is None:
        status = "Rejected"
    else:
        status = "Accepted"
        targets = [found] if found is not None else list(station.connectors)
        station_too = what == "StatusNotification" and found is None
        if station_too and wanted == 0:  # connector 0: the station alone
            targets = []
        _then(station, ctx, partial(_send_triggered, station, what, targets, station_too))
    station.note(f"TriggerMessage ({what}) requested by CSMS: {status}")
    return {"status": status}


async def _send_triggered(
    station: Station,
    what: str,
    targets: list[Connector],
    station_too: bool = False,
) -> None:
    if what == "BootNotification":
        await station.triggered_boot()
    elif what == "Heartbeat":
        await station.send_heartbeat()
    elif what == "StatusNotification":
        if station_too:
            await station.send_station_status()
        for connector in targets:
            await station.send_status(connector)
    elif what == "MeterValues":
        for connector in targets:
            await station.send_sample(connector, triggered=True)
    elif what == "TransactionEvent":
        for connector in targets:
            await station.send_transaction_update(connector, "Trigger", "Trigger")
    elif what == "FirmwareStatusNotification":
        await station.firmware.send_triggered()
    elif what in ("DiagnosticsStatusNotification", "LogStatusNotification"):
        await station.logs.send_triggered()


def unlock_connector_16(station: Station, ctx: HandlerContext) -> Payload:
    wanted = ctx.params["connectorId"]
    connector = _by_id(station, wanted)
    status = "NotSupported" if connector is None else "Unlocked"
    station.note(f"UnlockConnector ({wanted}) requested by CSMS: {status}")
    if connector is not None:
        _then(station, ctx, partial(station.unlock, connector))
    return {"status": status}


# -- OCPP 2.0.1 / 2.1 ----------------------------------------------------------------------


def reset_2(station: Station, ctx: HandlerContext) -> Payload:
    kind, evse_id = ctx.params["type"], ctx.params.get("evseId")
    busy = any(c.transaction_id is not None for c in station.connectors)
    if evse_id:
        connector = _by_id(station, evse_id)
        if connector is None or (kind == "OnIdle" and connector.transaction_id is not None):
            status = "Rejected"
        else:
            status = "Accepted"
            _then(station, ctx, partial(station.stop_locked, connector, "ImmediateReset"))
    elif kind == "OnIdle" and busy:
        status = "Scheduled"
        station.reset_when_idle = True
    else:
        status = "Accepted"
        _then(station, ctx, partial(station.reset, "ImmediateReset"))
    where = f", EVSE {evse_id}" if evse_id else ""
    station.note(f"Reset ({kind}{where}) requested by CSMS: {status}")
    return {"status": status}


def request_start(station: Station, ctx: HandlerContext) -> Payload:
    token, wanted = ctx.params["idToken"], ctx.params.get("evseId")
    connector = station.claim(wanted, str(token["idToken"]))
    where = f" on EVSE {wanted}" if wanted is not None else ""
    status = "Rejected" if connector is None else "Accepted"
    station.note(f"RequestStartTransaction ({token['idToken']}{where}) requested by CSMS: {status}")
    if connector is not None:
        remote_start_id = ctx.params["remoteStartId"]
        _then(station, ctx, partial(station.remote_start, connector, token, remote_start_id))
    return {"status": status}


def request_stop(station: Station, ctx: HandlerContext) -> Payload:
    return _stop(station, ctx, ctx.params["transactionId"], "RequestStopTransaction")


def change_availability_2(station: Station, ctx: HandlerContext) -> Payload:
    kind, evse = ctx.params["operationalStatus"], ctx.params.get("evse")
    if evse is None or evse.get("id") == 0:
        targets = list(station.connectors)
    else:
        found = _by_evse(station, evse)
        targets = [found] if found is not None else []
    status = _availability(station, targets, kind == "Operative") if targets else "Rejected"
    where = f", EVSE {evse['id']}" if evse else ""
    station.note(f"ChangeAvailability ({kind}{where}) requested by CSMS: {status}")
    _then(station, ctx, station.refresh_all)
    return {"status": status}


def _variable_status(component: Payload, variable: Payload, item: Payload) -> tuple[str, Any]:
    instance = variable.get("instance")
    entry = find_variable(str(component["name"]), str(variable["name"]), instance)
    if entry is None:
        known = is_known_component(str(component["name"]))
        return ("UnknownVariable" if known else "UnknownComponent"), None
    if item.get("attributeType", "Actual") != "Actual":
        return "NotSupportedAttributeType", None
    return "Accepted", entry


def get_variables(station: Station, ctx: HandlerContext) -> Payload:
    results = []
    for item in ctx.params["getVariableData"]:
        component, variable = item["component"], item["variable"]
        status, entry = _variable_status(component, variable, item)
        result: Payload = {"attributeStatus": status, "component": component, "variable": variable}
        if "attributeType" in item:
            result["attributeType"] = item["attributeType"]
        if entry is not None:
            result["attributeValue"] = station.configuration.get(entry.key, "")[:2500]
        results.append(result)
    names = ", ".join(f"{i['component']['name']}.{i['variable']['name']}" for i in results)
    station.note(f"GetVariables ({names}) requested by CSMS")
    return {"getVariableResult": results}


def set_variables(station: Station, ctx: HandlerContext) -> Payload:
    results = []
    for item in ctx.params["setVariableData"]:
        component, variable = item["component"], item["variable"]
        status, entry = _variable_status(component, variable, item)
        if entry is not None:
            valid = not entry.readonly and station.set_config(entry, item["attributeValue"])
            status = "Accepted" if valid else "Rejected"
        result: Payload = {"attributeStatus": status, "component": component, "variable": variable}
        if "attributeType" in item:
            result["attributeType"] = item["attributeType"]
        results.append(result)
        station.note(
            f"SetVariables {component['name']}.{variable['name']}={item['attributeValue']!r} "
            f"requested by CSMS: {status}"
        )
    return {"setVariableResult": results}


_TRIGGERS_2 = (
    *_TRIGGERS_CORE,
    "TransactionEvent",
    "FirmwareStatusNotification",
    "LogStatusNotification",
)


def trigger_message_2(station: Station, ctx: HandlerContext) -> Payload:
    what, evse = ctx.params["requestedMessage"], ctx.params.get("evse")
    whole = evse is None or evse.get("id") == 0
    found = None if whole else _by_evse(station, evse)
    targets = list(station.connectors) if whole else [found] if found is not None else []
    if what == "TransactionEvent":
        targets = [c for c in targets if c.transaction_id is not None]
    if what not in _TRIGGERS_2:
        status = "NotImplemented"
    elif not targets and what in ("StatusNotification", "MeterValues", "TransactionEvent"):
        status = "Rejected"
    else:
        status = "Accepted"
        _then(station, ctx, partial(_send_triggered, station, what, targets))
    station.note(f"TriggerMessage ({what}) requested by CSMS: {status}")
    return {"status": status}


def unlock_connector_2(station: Station, ctx: HandlerContext) -> Payload:
    evse_id, connector_id = ctx.params["evseId"], ctx.params["connectorId"]
    connector = _by_id(station, evse_id) if connector_id == 1 else None
    status = "UnknownConnector" if connector is None else "Unlocked"
    station.note(f"UnlockConnector (EVSE {evse_id}, connector {connector_id}): {status}")
    if connector is not None:
        _then(station, ctx, partial(station.unlock, connector))
    return {"status": status}


V16: dict[str, Handler] = {
    "Reset": reset_16,
    "RemoteStartTransaction": remote_start_16,
    "RemoteStopTransaction": remote_stop_16,
    "ChangeAvailability": change_availability_16,
    "GetConfiguration": get_configuration,
    "ChangeConfiguration": change_configuration,
    "TriggerMessage": trigger_message_16,
    "UnlockConnector": unlock_connector_16,
    "ClearCache": clear_cache,
    "DataTransfer": data_transfer,
}

V2: dict[str, Handler] = {
    "Reset": reset_2,
    "RequestStartTransaction": request_start,
    "RequestStopTransaction": request_stop,
    "ChangeAvailability": change_availability_2,
    "GetVariables": get_variables,
    "SetVariables": set_variables,
    "TriggerMessage": trigger_message_2,
    "UnlockConnector": unlock_connector_2,
    "ClearCache": clear_cache,
    "DataTransfer": data_transfer,
}
