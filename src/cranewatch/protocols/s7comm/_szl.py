"""S7 system status lists (SZL, "System-Zustandsliste") that identify a module.

A Read SZL response (userdata function group 4, subfunction 1) carries the SZL-ID and index
asked for, the length of one record, the number of records and the records. Two lists name the
module, as the S7-300/400 "System Software for S7-300/400 System and Standard Functions"
reference manual (Siemens A5E02789976, chapter 34 "System Status Lists") describes them:

- SZL-ID W#16#xy11 "module identification": 28-byte records of index (1 module, 6 basic
  hardware, 7 basic firmware, 0x81 firmware extension), MLFB (the 20-character order number),
  BGTyp, Ausbg and Ausbe; for the firmware record Ausbg/Ausbe hold the version as
  'V', major, minor, patch;
- SZL-ID W#16#xy1C "component identification": 34-byte records of index and a 32-character
  text: 1 name of the automation system, 2 module name, 3 plant designation, 4 copyright,
  5 module serial number, 7 module type name, 8 memory card serial number, 9 manufacturer and
  profile (PROFIBUS/PROFINET vendor id), 10 OEM id, 11 location designation.

Large responses arrive in several userdata PDUs; ``__init__`` joins them before calling here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_RECORDS = 64

#: SZL-ID (low byte of the partial list) names, as the SZL reference names them
SZL_NAMES = {0x00: "list of all SZL-IDs", 0x11: "module identification",
             0x12: "CPU characteristics", 0x13: "user memory areas", 0x14: "system areas",
             0x15: "block types", 0x19: "status of the module LEDs",
             0x1C: "component identification", 0x22: "interrupt status",
             0x24: "modes", 0x31: "communication capability parameters",
             0x32: "communication status data", 0x37: "Ethernet details of a module",
             0x74: "status of the module LEDs", 0x91: "module status information",
             0xA0: "diagnostic buffer", 0xB1: "module diagnostic information"}  # fmt: skip
#: vendor ids of the PROFIBUS/PROFINET registry that SZL 0x001C index 9 reports
VENDORS = {0x002A: "Siemens"}


@dataclass(slots=True)
class SzlResult:
    szl_id: int
    index: int
    facts: list[tuple[str, str]] = field(default_factory=list)  # (attribute, value)
    detail: dict[str, str] = field(default_factory=dict)  # facts without an attribute


def szl_name(szl_id: int) -> str:
    return SZL_NAMES.get(szl_id & 0xFF, "unknown")


def _text(raw: bytes) -> str:
    return raw.decode("latin-1").replace("\x00", " ").strip()


def _version(ausbg: int, ausbe: int) -> str | None:
    """Ausbg/Ausbe of a firmware record: 'V' 3 / 2 7 -> "V3.2.7"."""
    letter = ausbg >> 8
    if not 0x41 <= letter <= 0x5A:
        return None
    return f"{chr(letter)}{ausbg & 0xFF}.{ausbe >> 8}.{ausbe & 0xFF}"


def decode_response(payload: bytes) -> SzlResult | None:
    """Identity facts from a whole Read SZL response payload (after the 4-byte data header)."""
    if len(payload) < 8:
        return None
    szl_id, index = (payload[0] << 8) | payload[1], (payload[2] << 8) | payload[3]
    rec_len, count = (payload[4] << 8) | payload[5], (payload[6] << 8) | payload[7]
    result = SzlResult(szl_id, index)
    if rec_len == 0:
        return result
    records = [
        payload[8 + k * rec_len : 8 + (k + 1) * rec_len] for k in range(min(count, MAX_RECORDS))
    ]
    records = [r for r in records if len(r) == rec_len]
    kind = szl_id & 0xFF
    if kind == 0x11 and rec_len >= 28:
        _module_identification(records, result)
    elif kind == 0x1C and rec_len >= 34:
        _component_identification(records, result)
    return result


def _module_identification(records: list[bytes], result: SzlResult) -> None:
    for rec in records:
        idx = (rec[0] << 8) | rec[1]
        mlfb = _text(rec[2:22])
        ausbg, ausbe = (rec[24] << 8) | rec[25], (rec[26] << 8) | rec[27]
        if idx == 0x0001 and mlfb:
            result.facts.append(("order_number", mlfb))
        elif idx == 0x0006:
            if mlfb:
                result.detail["hardware_order_number"] = mlfb
            result.facts.append(("hardware_version", str(ausbg)))
        elif idx == 0x0007:
            version = _version(ausbg, ausbe)
            if version:
                result.facts.append(("firmware", version))
        elif idx == 0x0081:
            version = _version(ausbg, ausbe)
            if version:
                result.detail["firmware_extension"] = f"{mlfb} {version}".strip()


def _component_identification(records: list[bytes], result: SzlResult) -> None:
    for rec in records:
        idx = (rec[0] << 8) | rec[1]
        text = _text(rec[2:34])
        if idx == 0x0009:
            vendor = (rec[2] << 8) | rec[3]
            result.facts.append(("vendor_id", f"0x{vendor:04x}"))
            if vendor in VENDORS:
                result.facts.append(("vendor", VENDORS[vendor]))
            result.detail["profile_id"] = f"0x{(rec[4] << 8) | rec[5]:04x}"
            continue
        if not text:
            continue
        if idx == 0x0001:
            result.facts.append(("station_name", text))  # name of the automation system
        elif idx == 0x0002:
            result.facts.append(("product_name", text))  # module name (user-assignable)
        elif idx == 0x0003:
            result.detail["plant_id"] = text
        elif idx == 0x0004:
            result.detail["copyright"] = text
        elif idx == 0x0005:
            result.facts.append(("serial", text))
        elif idx == 0x0007:
            result.facts.append(("model", text))  # module type name
        elif idx == 0x0008:
            result.detail["memory_card_serial"] = text
        elif idx == 0x000B:
            result.detail["location_id"] = text
