"""Code tables of EtherNet/IP and CIP: commands, CPF items, services, classes, statuses.

Values follow *The CIP Networks Library* (ODVA): Volume 1 (CIP) Appendix A (services, general
status codes), Chapter 5 (object classes, Identity and File objects), Chapter 3 (Connection
Manager); Volume 2 (EtherNet/IP adaptation) Chapter 2 (encapsulation commands, common packet
format items). Rockwell's Logix services are those of publication 1756-PM020 ("Logix 5000
Controllers Data Access"). Names are snake_case forms of the specification's names.
"""

from __future__ import annotations

# -- encapsulation (Vol 2, 2-3 and 2-4) -----------------------------------------------------
COMMANDS: dict[int, str] = {
    0x0000: "nop",
    0x0004: "list_services",
    0x0063: "list_identity",
    0x0064: "list_interfaces",
    0x0065: "register_session",
    0x0066: "unregister_session",
    0x006F: "send_rr_data",
    0x0070: "send_unit_data",
    0x0072: "indicate_status",
    0x0073: "cancel",
    0x00C8: "start_dtls",
}
#: Commands that answer "who are you / what can you do" (discovery).
DISCOVERY_COMMANDS = frozenset({0x0004, 0x0063, 0x0064})

# -- common packet format item types (Vol 2, 2-6) --------------------------------------------
ITEM_NULL_ADDRESS = 0x0000
ITEM_IDENTITY = 0x000C
ITEM_CONNECTED_ADDRESS = 0x00A1
ITEM_CONNECTED_DATA = 0x00B1
ITEM_UNCONNECTED_DATA = 0x00B2
ITEM_LIST_SERVICES = 0x0100
ITEM_SOCKADDR_O_T = 0x8000
ITEM_SOCKADDR_T_O = 0x8001
ITEM_SEQUENCED_ADDRESS = 0x8002
KNOWN_ITEMS = frozenset(
    {0x0000, 0x000C, 0x0086, 0x0087, 0x0088, 0x00A1, 0x00B1, 0x00B2, 0x0100, 0x8000, 0x8001,
     0x8002, 0x8003}
)  # fmt: skip

# -- CIP services (Vol 1, Appendix A, table: common services) --------------------------
COMMON_SERVICES: dict[int, str] = {
    0x01: "get_attributes_all",
    0x02: "set_attributes_all",
    0x03: "get_attribute_list",
    0x04: "set_attribute_list",
    0x05: "reset",
    0x06: "start",
    0x07: "stop",
    0x08: "create",
    0x09: "delete",
    0x0A: "multiple_service_packet",
    0x0D: "apply_attributes",
    0x0E: "get_attribute_single",
    0x10: "set_attribute_single",
    0x11: "find_next_object_instance",
    0x14: "error_response",
    0x15: "restore",
    0x16: "save",
    0x17: "nop",
    0x18: "get_member",
    0x19: "set_member",
    0x1A: "insert_member",
    0x1B: "remove_member",
    0x1C: "group_sync",
}

CLASS_IDENTITY = 0x01
CLASS_MESSAGE_ROUTER = 0x02
CLASS_CONNECTION_MANAGER = 0x06
CLASS_FILE = 0x37
CLASS_PCCC = 0x67
CLASS_SYMBOL = 0x6B
CLASS_TEMPLATE = 0x6C
CLASS_TCPIP = 0xF5
CLASS_ETHERNET_LINK = 0xF6

#: Object-specific services (codes 0x4B..0x63 mean different things per class).
CONNECTION_MANAGER_SERVICES: dict[int, str] = {
    0x4E: "forward_close",
    0x52: "unconnected_send",
    0x54: "forward_open",
    0x56: "get_connection_data",
    0x57: "search_connection_data",
    0x5A: "get_connection_owner",
    0x5B: "large_forward_open",
}
FILE_SERVICES: dict[int, str] = {
    0x4B: "initiate_upload",
    0x4C: "initiate_download",
    0x4D: "initiate_partial_read",
    0x4E: "initiate_partial_write",
    0x4F: "upload_transfer",
    0x50: "download_transfer",
    0x51: "clear_file",
}
#: Rockwell Logix services, addressed to symbolic tag paths or the Symbol/Template classes.
LOGIX_SERVICES: dict[int, str] = {
    0x4C: "read_tag",
    0x4D: "write_tag",
    0x4E: "read_modify_write_tag",
    0x52: "read_tag_fragmented",
    0x53: "write_tag_fragmented",
    0x55: "get_instance_attribute_list",
}
PCCC_SERVICES: dict[int, str] = {0x4B: "execute_pccc"}

# Classification of service names (issue 3: read / write / control / diagnostic).
READ_SERVICES = frozenset(
    {"get_attributes_all", "get_attribute_list", "get_attribute_single", "get_member",
     "find_next_object_instance", "read_tag", "read_tag_fragmented",
     "get_instance_attribute_list", "initiate_upload", "upload_transfer",
     "initiate_partial_read"}
)  # fmt: skip
WRITE_SERVICES = frozenset(
    {"set_attributes_all", "set_attribute_list", "set_attribute_single", "set_member",
     "insert_member", "remove_member", "create", "delete", "apply_attributes", "restore",
     "save", "write_tag", "write_tag_fragmented", "read_modify_write_tag",
     "initiate_download", "download_transfer", "initiate_partial_write", "clear_file"}
)  # fmt: skip
#: Stop/start/restart and program or firmware download (File object downloads).
CONTROL_SERVICES = frozenset(
    {"reset", "start", "stop", "initiate_download", "download_transfer",
     "initiate_partial_write"}
)  # fmt: skip
DIAGNOSTIC_SERVICES = frozenset(
    {"nop", "get_connection_data", "search_connection_data", "get_connection_owner"}
)

CLASS_NAMES: dict[int, str] = {
    0x01: "Identity",
    0x02: "Message Router",
    0x03: "DeviceNet",
    0x04: "Assembly",
    0x05: "Connection",
    0x06: "Connection Manager",
    0x07: "Register",
    0x08: "Discrete Input Point",
    0x09: "Discrete Output Point",
    0x0A: "Analog Input Point",
    0x0B: "Analog Output Point",
    0x0F: "Parameter",
    0x10: "Parameter Group",
    0x28: "Motor Data",
    0x29: "Control Supervisor",
    0x2A: "AC/DC Drive",
    0x37: "File",
    0x39: "Safety Supervisor",
    0x3A: "Safety Validator",
    0x41: "Event Log",
    0x42: "Motion Device Axis",
    0x43: "Time Sync",
    0x44: "Modbus",
    0x47: "Device Level Ring",
    0x48: "QoS",
    0x5D: "CIP Security",
    0x5E: "EtherNet/IP Security",
    0x5F: "Certificate Management",
    0x67: "PCCC",
    0x6B: "Symbol",
    0x6C: "Template",
    0xF4: "Port",
    0xF5: "TCP/IP Interface",
    0xF6: "Ethernet Link",
}

#: Identity object attribute 2, device type (Vol 1, chapter 6 device profiles).
DEVICE_TYPES: dict[int, str] = {
    0x00: "Generic Device",
    0x02: "AC Drive",
    0x03: "Motor Overload",
    0x04: "Limit Switch",
    0x05: "Inductive Proximity Switch",
    0x06: "Photoelectric Sensor",
    0x07: "General Purpose Discrete I/O",
    0x09: "Resolver",
    0x0C: "Communications Adapter",
    0x0E: "Programmable Logic Controller",
    0x10: "Position Controller",
    0x13: "DC Drive",
    0x15: "Contactor",
    0x16: "Motor Starter",
    0x17: "Soft Start",
    0x18: "Human-Machine Interface",
    0x22: "Encoder",
    0x23: "Safety Discrete I/O Device",
    0x25: "CIP Motion Drive",
    0x28: "CIP Modbus Device",
    0x29: "CIP Modbus Translator",
    0x2A: "Safety Analog I/O Device",
    0x2B: "Generic Device (keyable)",
    0x2C: "Managed Ethernet Switch",
    0x33: "Circuit Breaker",
}

#: General status codes (Vol 1, Appendix B); 0x06 "partial transfer" is not a failure.
GENERAL_STATUS: dict[int, str] = {
    0x00: "success",
    0x01: "connection_failure",
    0x02: "resource_unavailable",
    0x03: "invalid_parameter_value",
    0x04: "path_segment_error",
    0x05: "path_destination_unknown",
    0x06: "partial_transfer",
    0x07: "connection_lost",
    0x08: "service_not_supported",
    0x09: "invalid_attribute_value",
    0x0A: "attribute_list_error",
    0x0B: "already_in_requested_mode",
    0x0C: "object_state_conflict",
    0x0D: "object_already_exists",
    0x0E: "attribute_not_settable",
    0x0F: "privilege_violation",
    0x10: "device_state_conflict",
    0x11: "reply_data_too_large",
    0x13: "not_enough_data",
    0x14: "attribute_not_supported",
    0x15: "too_much_data",
    0x16: "object_does_not_exist",
    0x1E: "embedded_service_error",
    0x1F: "vendor_specific_error",
    0x20: "invalid_parameter",
}
STATUS_PARTIAL_TRANSFER = 0x06

#: Reset service (0x05) parameter on the Identity object.
RESET_TYPES = {0: "power_cycle", 1: "factory_defaults", 2: "factory_defaults_keep_comm"}
