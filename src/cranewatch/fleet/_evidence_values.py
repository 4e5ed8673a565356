"""Parsers for evidence values as people write them: dates, data volumes, signal levels,
technology names, component kinds and photo lists, from a CSV cell (text) or a YAML value.

Each parser returns what the pydantic model accepts or raises ``ValueError`` whose message says
what is expected; the caller turns it into a located ``Problem``. The date and byte-count parsers
are hand-written: ``date.fromisoformat`` and ``strptime`` cover the two date forms only with a
fallback chain and locale-dependent messages, and no dependency of the project parses data
volumes with both SI and IEC units (a new one for thirty lines was not worth it). The units are
documented in docs/evidence-formats.md.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation

MAX_BYTE_COUNT = 2**63 - 1  # what a database BIGINT holds


def normalize_header(text: str) -> str:
    """Compare names case- and punctuation-insensitively: ``Label_IMEI`` -> ``label imei``."""
    return " ".join(re.split(r"[\W_]+", text.casefold())).strip()


def parse_text(value: object) -> str | None:
    """Text; a YAML number becomes its digits (quote identifiers in YAML to keep leading zeros)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text, got {_type_name(value)}")
    text = str(value).strip()
    return text or None


_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_DATE_EXPECTED = "expected a date as YYYY-MM-DD or DD.MM.YYYY (e.g. 2024-03-05 or 05.03.2024)"


def parse_date(value: object) -> dt.date:
    """A date written ``YYYY-MM-DD`` or ``DD.MM.YYYY`` (or a YAML date)."""
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0, 0):
            raise ValueError(f"{_DATE_EXPECTED}, without a time of day")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{_DATE_EXPECTED}, got {_type_name(value)}")
    text = value.strip()
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _DOTTED_DATE.fullmatch(text):
        day, month, year = (int(g) for g in match.groups())
    else:
        raise ValueError(f"{_DATE_EXPECTED}, got {_quote(text)}")
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"{_quote(text)} is not a calendar date ({exc})") from None


# SI prefixes are powers of 1000 (kB, MB, GB ...), IEC prefixes powers of 1024 (KiB, MiB ...).
_PREFIX_POWER = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}
_BYTES = re.compile(
    r"(?P<number>-?\d+(?:[.,]\d+)?)\s*(?:(?P<prefix>[kmgtpe])(?P<iec>i)?)?\s*(?P<unit>b|bytes?)?",
    re.IGNORECASE,
)
_BYTES_EXPECTED = "expected a byte count: a whole number, or a number with a unit (300 MiB, 1.5 GB)"


def parse_byte_count(value: object) -> int:
    """A data volume: plain integer bytes, or a number with an SI (kB, MB, GB: 1000^n) or IEC
    (KiB, MiB, GiB: 1024^n) unit. A decimal comma is accepted (``1,5 GB``)."""
    if isinstance(value, bool):
        raise ValueError(f"{_BYTES_EXPECTED}, got {_type_name(value)}")
    if isinstance(value, int):
        count = value
    elif isinstance(value, float) and value.is_integer():
        count = int(value)
    elif isinstance(value, str):
        count = _parse_byte_text(value.strip())
    else:
        raise ValueError(f"{_BYTES_EXPECTED}, got {_type_name(value)}")
    if count < 0:
        raise ValueError(f"a byte count cannot be negative, got {count}")
    if count > MAX_BYTE_COUNT:
        raise ValueError(f"a byte count above {MAX_BYTE_COUNT} (8 EiB) is not plausible")
    return count


def _parse_byte_text(text: str) -> int:
    match = _BYTES.fullmatch(text)
    if match is None or len(text) > 64:
        raise ValueError(f"{_BYTES_EXPECTED}, got {_quote(text)}")
    number = Decimal(match["number"].replace(",", "."))
    prefix = (match["prefix"] or "").lower()
    if prefix and not match["unit"]:
        raise ValueError(f"{_BYTES_EXPECTED}, got {_quote(text)} (add B: {text}B)")
    if match["iec"] and not prefix:
        raise ValueError(f"{_BYTES_EXPECTED}, got {_quote(text)}")
    base = 1024 if match["iec"] else 1000
    exact = number * base ** _PREFIX_POWER[prefix]
    if not prefix and exact != exact.to_integral_value():
        raise ValueError(
            f"{_quote(text)} is not a whole number of bytes (thousands separators are not "
            "accepted; write 1234567 or 1.2 MB)"
        )
    return int(exact.to_integral_value())


def parse_count(value: object) -> int:
    """A whole number such as a session count."""
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {_type_name(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", value):
        return int(value)
    raise ValueError(f"expected a whole number, got {_quote(value)}")


def parse_dbm(value: object) -> float:
    """A signal level in dBm: ``-87``, ``-87.5``, ``-87,5`` or ``-87 dBm``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a signal level in dBm, got {_type_name(value)}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = re.sub(r"\s*dbm\s*$", "", value.strip(), flags=re.IGNORECASE).replace(",", ".")
        try:
            number = float(Decimal(text)) if len(text) <= 32 else math.nan
        except InvalidOperation:
            number = math.nan
    else:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"expected a signal level in dBm like -87 or -87.5, got {_quote(value)}")
    return number


_TECHNOLOGIES = {
    "gsm": "GSM",
    "2g": "GSM",
    "gprs": "GSM",
    "edge": "GSM",
    "umts": "UMTS",
    "3g": "UMTS",
    "wcdma": "UMTS",
    "hspa": "UMTS",
    "lte": "LTE",
    "4g": "LTE",
    "nr": "NR",
    "5g": "NR",
    "5g nr": "NR",
    "nb iot": "NB-IoT",
    "nbiot": "NB-IoT",
    "lte m": "LTE-M",
    "ltem": "LTE-M",
    "cat m1": "LTE-M",
    "wifi": "WiFi",
    "wi fi": "WiFi",
    "wlan": "WiFi",
    "bluetooth": "Bluetooth",
    "bt": "Bluetooth",
    "ble": "Bluetooth",
    "other": "other",
}


def parse_technology(value: object) -> str:
    """The radio technology, with common spellings (4G, Wi-Fi, WLAN, BLE ...) mapped."""
    if not isinstance(value, str):
        raise ValueError(f"expected a technology name, got {_type_name(value)}")
    found = _TECHNOLOGIES.get(normalize_header(value))
    if found is None:
        accepted = "GSM, UMTS, LTE, NR, NB-IoT, LTE-M, WiFi, Bluetooth or other"
        raise ValueError(f"expected one of {accepted}, got {_quote(value)}")
    return found


def parse_component_kind(value: object) -> str:
    """A component kind; ``Remote IO`` and ``remote_io`` mean ``remote-io``."""
    if not isinstance(value, str):
        raise ValueError(f"expected a component kind like modem or plc, got {_type_name(value)}")
    return re.sub(r"[\s_]+", "-", value.strip().lower())


def parse_photo_list(value: object) -> list[str]:
    """Photo paths: a YAML list, or one cell with several paths separated by ``;``."""
    if isinstance(value, str):
        items: list[object] = list(re.split(r"[;\n]", value))
    elif isinstance(value, list):
        items = list(value)
    else:
        raise ValueError(f"expected a list of photo files, got {_type_name(value)}")
    paths: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"expected photo file paths as text, got {_type_name(item)}")
        if item.strip():
            paths.append(item.strip())
    return paths


def _type_name(value: object) -> str:
    names = {dict: "a mapping", list: "a list", bool: "true/false", float: "a number"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if isinstance(value, int):
        return "a number"
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "nothing"
    return type(value).__name__


def _quote(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")
