"""OPC UA services by the numeric id of their binary encoding node, and how each is classified.

The ids are those of ``<Service>Request_Encoding_DefaultBinary`` and
``<Service>Response_Encoding_DefaultBinary`` in the OPC Foundation's NodeIds.csv (OPC 10000-6,
annex A; the services themselves are defined in OPC 10000-4, section 5). The class of each
service is cranewatch's: what it means for "is there proof of use".
"""

from __future__ import annotations

from dataclasses import dataclass

READ, WRITE, CONTROL, DIAGNOSTIC, NONE = "read", "write", "control", "diagnostic", ""

#: service name -> (request id, response id, class)
_TABLE: dict[str, tuple[int, int, str]] = {
    "service_fault": (0, 397, NONE),
    "test_stack": (410, 413, DIAGNOSTIC),
    "test_stack_ex": (416, 419, DIAGNOSTIC),
    "find_servers": (422, 425, DIAGNOSTIC),
    "get_endpoints": (428, 431, DIAGNOSTIC),
    "register_server": (437, 440, WRITE),
    "open_secure_channel": (446, 449, NONE),
    "close_secure_channel": (452, 455, NONE),
    "create_session": (461, 464, NONE),
    "activate_session": (467, 470, NONE),
    "close_session": (473, 476, NONE),
    "cancel": (479, 482, NONE),
    "add_nodes": (488, 491, WRITE),
    "add_references": (494, 497, WRITE),
    "delete_nodes": (500, 503, WRITE),
    "delete_references": (506, 509, WRITE),
    "browse": (527, 530, DIAGNOSTIC),
    "browse_next": (533, 536, DIAGNOSTIC),
    "translate_browse_paths_to_node_ids": (554, 557, DIAGNOSTIC),
    "register_nodes": (560, 563, DIAGNOSTIC),
    "unregister_nodes": (566, 569, DIAGNOSTIC),
    "query_first": (615, 618, READ),
    "query_next": (621, 624, READ),
    "read": (631, 634, READ),
    "history_read": (664, 667, READ),
    "write": (673, 676, WRITE),
    "history_update": (700, 703, WRITE),
    "call": (712, 715, CONTROL),
    "create_monitored_items": (751, 754, READ),
    "modify_monitored_items": (763, 766, READ),
    "set_monitoring_mode": (769, 772, READ),
    "set_triggering": (775, 778, READ),
    "delete_monitored_items": (781, 784, READ),
    "create_subscription": (787, 790, READ),
    "modify_subscription": (793, 796, READ),
    "set_publishing_mode": (799, 802, READ),
    "publish": (826, 829, READ),
    "republish": (832, 835, READ),
    "transfer_subscriptions": (841, 844, READ),
    "delete_subscriptions": (847, 850, READ),
    "find_servers_on_network": (12208, 12209, DIAGNOSTIC),
    "register_server2": (12211, 12212, WRITE),
}


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    is_request: bool
    kind: str  # READ, WRITE, CONTROL, DIAGNOSTIC or NONE


SERVICES: dict[int, Service] = {}
for _name, (_req, _res, _kind) in _TABLE.items():
    if _req:
        SERVICES[_req] = Service(_name, True, _kind)
    SERVICES[_res] = Service(_name, False, _kind)

OPEN_REQUEST, OPEN_RESPONSE = _TABLE["open_secure_channel"][:2]
CLOSE_REQUEST = _TABLE["close_secure_channel"][0]
SERVICE_FAULT = _TABLE["service_fault"][1]

#: UserIdentityToken encodings in ActivateSession (OPC 10000-4, 7.36)
IDENTITY_TOKENS = {321: "anonymous", 324: "username", 327: "x509", 940: "issued"}
