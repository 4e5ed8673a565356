"""Code tables of BACnet (ANSI/ASHRAE 135): BVLC functions, network messages, services,
object types, property identifiers, errors, reject and abort reasons.

Clause numbers refer to ANSI/ASHRAE Standard 135-2020: Annex J (BACnet/IP, BVLL functions),
clause 6 (network layer messages), clause 20.1 (APDU types), clause 21 (the ASN.1
enumerations BACnetConfirmedServiceChoice, BACnetUnconfirmedServiceChoice, BACnetObjectType,
BACnetPropertyIdentifier, BACnetErrorClass, BACnetErrorCode, BACnetRejectReason,
BACnetAbortReason). Operation names are the snake_case forms of the service names, as the
ICSNPP BACnet analyzer writes them (``read_property``, ``who_is``, ``i_am``).
"""

from __future__ import annotations

BVLC_FUNCTIONS: dict[int, str] = {
    0x00: "bvlc_result",
    0x01: "write_broadcast_distribution_table",
    0x02: "read_broadcast_distribution_table",
    0x03: "read_broadcast_distribution_table_ack",
    0x04: "forwarded_npdu",
    0x05: "register_foreign_device",
    0x06: "read_foreign_device_table",
    0x07: "read_foreign_device_table_ack",
    0x08: "delete_foreign_device_table_entry",
    0x09: "distribute_broadcast_to_network",
    0x0A: "original_unicast_npdu",
    0x0B: "original_broadcast_npdu",
    0x0C: "secure_bvll",
}
#: BVLC functions followed by an NPDU (after how many BVLC bytes).
BVLC_NPDU_OFFSET = {0x04: 10, 0x09: 4, 0x0A: 4, 0x0B: 4}

NETWORK_MESSAGES: dict[int, str] = {
    0x00: "who_is_router_to_network",
    0x01: "i_am_router_to_network",
    0x02: "i_could_be_router_to_network",
    0x03: "reject_message_to_network",
    0x04: "router_busy_to_network",
    0x05: "router_available_to_network",
    0x06: "initialize_routing_table",
    0x07: "initialize_routing_table_ack",
    0x08: "establish_connection_to_network",
    0x09: "disconnect_connection_to_network",
    0x0A: "challenge_request",
    0x0B: "security_payload",
    0x0C: "security_response",
    0x0D: "request_key_update",
    0x0E: "update_key_set",
    0x0F: "update_distribution_key",
    0x10: "request_master_key",
    0x11: "set_master_key",
    0x12: "what_is_network_number",
    0x13: "network_number_is",
}

PDU_TYPES = (
    "confirmed_request",
    "unconfirmed_request",
    "simple_ack",
    "complex_ack",
    "segment_ack",
    "error",
    "reject",
    "abort",
)

CONFIRMED_SERVICES: dict[int, str] = {
    0: "acknowledge_alarm",
    1: "confirmed_cov_notification",
    2: "confirmed_event_notification",
    3: "get_alarm_summary",
    4: "get_enrollment_summary",
    5: "subscribe_cov",
    6: "atomic_read_file",
    7: "atomic_write_file",
    8: "add_list_element",
    9: "remove_list_element",
    10: "create_object",
    11: "delete_object",
    12: "read_property",
    13: "read_property_conditional",
    14: "read_property_multiple",
    15: "write_property",
    16: "write_property_multiple",
    17: "device_communication_control",
    18: "confirmed_private_transfer",
    19: "confirmed_text_message",
    20: "reinitialize_device",
    21: "vt_open",
    22: "vt_close",
    23: "vt_data",
    24: "authenticate",
    25: "request_key",
    26: "read_range",
    27: "life_safety_operation",
    28: "subscribe_cov_property",
    29: "get_event_information",
    30: "subscribe_cov_property_multiple",
    31: "confirmed_cov_notification_multiple",
    32: "confirmed_audit_notification",
    33: "audit_log_query",
}

UNCONFIRMED_SERVICES: dict[int, str] = {
    0: "i_am",
    1: "i_have",
    2: "unconfirmed_cov_notification",
    3: "unconfirmed_event_notification",
    4: "unconfirmed_private_transfer",
    5: "unconfirmed_text_message",
    6: "time_synchronization",
    7: "who_has",
    8: "who_is",
    9: "utc_time_synchronization",
    10: "write_group",
    11: "unconfirmed_cov_notification_multiple",
    12: "unconfirmed_audit_notification",
    13: "who_am_i",
    14: "you_are",
}

# Classification (issue 3). Restarts and disabling communication are control; so are life
# safety operations (silence, reset of alarms). Clock setting, group writes and file writes
# change device state and count as writes.
READ = frozenset(
    {"read_property", "read_property_conditional", "read_property_multiple", "read_range",
     "atomic_read_file", "get_alarm_summary", "get_enrollment_summary", "get_event_information",
     "audit_log_query", "subscribe_cov", "subscribe_cov_property",
     "subscribe_cov_property_multiple", "read_broadcast_distribution_table",
     "read_foreign_device_table"}
)  # fmt: skip
WRITE = frozenset(
    {"write_property", "write_property_multiple", "add_list_element", "remove_list_element",
     "create_object", "delete_object", "atomic_write_file", "acknowledge_alarm", "write_group",
     "time_synchronization", "utc_time_synchronization", "you_are",
     "write_broadcast_distribution_table", "register_foreign_device",
     "delete_foreign_device_table_entry", "initialize_routing_table"}
)  # fmt: skip
CONTROL = frozenset(
    {"reinitialize_device", "device_communication_control", "life_safety_operation"}
)
DIAGNOSTIC = frozenset(
    {"who_is", "i_am", "who_has", "i_have", "who_am_i", "who_is_router_to_network",
     "i_am_router_to_network", "what_is_network_number", "network_number_is",
     "read_broadcast_distribution_table", "read_foreign_device_table"}
)  # fmt: skip
#: Unconfirmed services a device sends on its own (announcements and notifications).
UNSOLICITED = frozenset(
    {"i_am", "i_have", "unconfirmed_cov_notification", "unconfirmed_event_notification",
     "unconfirmed_cov_notification_multiple", "unconfirmed_audit_notification"}
)  # fmt: skip

OBJECT_TYPES = (
    "analog-input", "analog-output", "analog-value", "binary-input", "binary-output",
    "binary-value", "calendar", "command", "device", "event-enrollment", "file", "group", "loop",
    "multi-state-input", "multi-state-output", "notification-class", "program", "schedule",
    "averaging", "multi-state-value", "trend-log", "life-safety-point", "life-safety-zone",
    "accumulator", "pulse-converter", "event-log", "global-group", "trend-log-multiple",
    "load-control", "structured-view", "access-door", "timer", "access-credential",
    "access-point", "access-rights", "access-user", "access-zone", "credential-data-input",
    "network-security", "bitstring-value", "characterstring-value", "date-pattern-value",
    "date-value", "datetime-pattern-value", "datetime-value", "integer-value",
    "large-analog-value", "octetstring-value", "positive-integer-value", "time-pattern-value",
    "time-value", "notification-forwarder", "alert-enrollment", "channel", "lighting-output",
    "binary-lighting-output", "network-port", "elevator-group", "escalator", "lift", "staging",
    "audit-log", "audit-reporter", "color", "color-temperature"
)  # fmt: skip
OBJECT_DEVICE = 8
OBJECT_FILE = 10

# BACnetPropertyIdentifier 0..206 in order ("-" marks numbers the standard deleted), then
# the few later ones that identify a device or its network port.
_PROPERTIES_0 = (
    "acked-transitions", "ack-required", "action", "action-text", "active-text",
    "active-vt-sessions", "alarm-value", "alarm-values", "all", "all-writes-successful",
    "apdu-segment-timeout", "apdu-timeout", "application-software-version", "archive", "bias",
    "change-of-state-count", "change-of-state-time", "notification-class", "-",
    "controlled-variable-reference", "controlled-variable-units", "controlled-variable-value",
    "cov-increment", "date-list", "daylight-savings-status", "deadband", "derivative-constant",
    "derivative-constant-units", "description", "description-of-halt", "device-address-binding",
    "device-type", "effective-period", "elapsed-active-time", "error-limit", "event-enable",
    "event-state", "event-type", "exception-schedule", "fault-values", "feedback-value",
    "file-access-method", "file-size", "file-type", "firmware-revision", "high-limit",
    "inactive-text", "in-process", "instance-of", "integral-constant", "integral-constant-units",
    "issue-confirmed-notifications", "limit-enable", "list-of-group-members",
    "list-of-object-property-references", "-", "local-date", "local-time", "location",
    "low-limit", "manipulated-variable-reference", "maximum-output", "max-apdu-length-accepted",
    "max-info-frames", "max-master", "max-pres-value", "minimum-off-time", "minimum-on-time",
    "minimum-output", "min-pres-value", "model-name", "modification-date", "notify-type",
    "number-of-apdu-retries", "number-of-states", "object-identifier", "object-list",
    "object-name", "object-property-reference", "object-type", "optional", "out-of-service",
    "output-units", "event-parameters", "polarity", "present-value", "priority", "priority-array",
    "priority-for-writing", "process-identifier", "program-change", "program-location",
    "program-state", "proportional-constant", "proportional-constant-units", "-",
    "protocol-object-types-supported", "protocol-services-supported", "protocol-version",
    "read-only", "reason-for-halt", "-", "recipient-list", "reliability", "relinquish-default",
    "required", "resolution", "segmentation-supported", "setpoint", "setpoint-reference",
    "state-text", "status-flags", "system-status", "time-delay", "time-of-active-time-reset",
    "time-of-state-count-reset", "time-synchronization-recipients", "units", "update-interval",
    "utc-offset", "vendor-identifier", "vendor-name", "vt-classes-supported", "weekly-schedule",
    "attempted-samples", "average-value", "buffer-size", "client-cov-increment",
    "cov-resubscription-interval", "-", "event-time-stamps", "log-buffer",
    "log-device-object-property", "enable", "log-interval", "maximum-value", "minimum-value",
    "notification-threshold", "-", "protocol-revision", "records-since-notification",
    "record-count", "start-time", "stop-time", "stop-when-full", "total-record-count",
    "valid-samples", "window-interval", "window-samples", "maximum-value-timestamp",
    "minimum-value-timestamp", "variance-value", "active-cov-subscriptions",
    "backup-failure-timeout", "configuration-files", "database-revision", "direct-reading",
    "last-restore-time", "maintenance-required", "member-of", "mode", "operation-expected",
    "setting", "silenced", "tracking-value", "zone-members", "life-safety-alarm-values",
    "max-segments-accepted", "profile-name", "auto-slave-discovery",
    "manual-slave-address-binding", "slave-address-binding", "slave-proxy-enable",
    "last-notify-record", "schedule-default", "accepted-modes", "adjust-value", "count",
    "count-before-change", "count-change-time", "cov-period", "input-reference",
    "limit-monitoring-interval", "logging-object", "logging-record", "prescale", "pulse-rate",
    "scale", "scale-factor", "update-time", "value-before-change", "value-set",
    "value-change-time", "align-intervals", "-", "interval-offset", "last-restart-reason",
    "logging-type", "-", "notification-period", "previous-notify-record", "-",
    "restart-notification-recipients", "time-of-device-restart", "time-synchronization-interval",
    "trigger", "utc-time-synchronization-recipients"
)  # fmt: skip
PROPERTIES: dict[int, str] = {i: n for i, n in enumerate(_PROPERTIES_0) if n != "-"}
PROPERTIES.update(
    {371: "property-list", 372: "serial-number", 400: "bacnet-ip-address", 423: "mac-address"}
)
# deleted from the standard, still answered by older devices
PROPERTIES.update(
    {55: "list-of-session-keys", 95: "protocol-conformance-class", 101: "recipient",
     129: "current-notify-time", 138: "previous-notify-time"}
)  # fmt: skip
PROP_OBJECT_IDENTIFIER = 75

#: Device object properties that identify the device (identities.attribute they feed).
DEVICE_IDENTITY_PROPERTIES: dict[int, str] = {
    121: "vendor",  # vendor-name
    120: "vendor_id",  # vendor-identifier
    70: "model",  # model-name
    44: "firmware",  # firmware-revision
    12: "software",  # application-software-version
    372: "serial",  # serial-number
    77: "hostname",  # object-name: the device's network-unique name
}

ERROR_CLASSES = ("device", "object", "property", "resources", "security", "services", "vt",
                 "communication")  # fmt: skip
ERROR_CODES: dict[int, str] = {
    0: "other",
    2: "configuration-in-progress",
    3: "device-busy",
    4: "dynamic-creation-not-supported",
    5: "file-access-denied",
    7: "inconsistent-parameters",
    9: "invalid-data-type",
    10: "invalid-file-access-method",
    11: "invalid-file-start-position",
    13: "invalid-parameter-data-type",
    16: "missing-required-parameter",
    18: "no-space-for-object",
    20: "no-space-to-write-property",
    23: "object-deletion-not-permitted",
    24: "object-identifier-already-exists",
    25: "operational-problem",
    26: "password-failure",
    27: "read-access-denied",
    29: "service-request-denied",
    30: "timeout",
    31: "unknown-object",
    32: "unknown-property",
    36: "unsupported-object-type",
    37: "value-out-of-range",
    40: "write-access-denied",
    42: "invalid-array-index",
    43: "cov-subscription-failed",
    44: "not-cov-property",
    45: "optional-functionality-not-supported",
    47: "datatype-not-supported",
    50: "property-is-not-an-array",
    83: "communication-disabled",
    85: "access-denied",
}
REJECT_REASONS = ("other", "buffer-overflow", "inconsistent-parameters",
                  "invalid-parameter-data-type", "invalid-tag", "missing-required-parameter",
                  "parameter-out-of-range", "too-many-arguments", "undefined-enumeration",
                  "unrecognized-service")  # fmt: skip
ABORT_REASONS = ("other", "buffer-overflow", "invalid-apdu-in-this-state",
                 "preempted-by-higher-priority-task", "segmentation-not-supported",
                 "security-error", "insufficient-security", "window-size-out-of-range",
                 "application-exceeded-reply-time", "out-of-resources", "tsm-timeout",
                 "apdu-too-long")  # fmt: skip

REINITIALIZED_STATES = ("coldstart", "warmstart", "start-backup", "end-backup", "start-restore",
                        "end-restore", "abort-restore", "activate-changes")  # fmt: skip
COMMUNICATION_STATES = ("enable", "disable", "disable-initiation")


def name_of(table: tuple[str, ...] | dict[int, str], value: int, prefix: str) -> str:
    """The name of an enumerated value, or ``prefix-N`` for one outside the table."""
    if isinstance(table, dict):
        return table.get(value, f"{prefix}-{value}")
    return table[value] if 0 <= value < len(table) else f"{prefix}-{value}"


def object_name(object_type: int, instance: int) -> str:
    return f"{name_of(OBJECT_TYPES, object_type, 'object-type')} {instance}"


def property_name(prop: int) -> str:
    return name_of(PROPERTIES, prop, "proprietary" if prop >= 512 else "property")
