"""The words procurement spreadsheets use: column headers, component kinds, interfaces (EN, DE).

A header matches a field when both normalise to the same key: Unicode-folded (``Ä`` -> ``a``,
``ß`` -> ``ss``), lower case, everything but letters and digits removed, so ``Serial No.``,
``serial-no`` and ``SERIAL NO`` are one key. docs/fleet-formats.md lists every alias.
"""

from __future__ import annotations

import re
import unicodedata

from cranewatch.fleet.model import ComponentKind


def normalise(text: str) -> str:
    """The matching key of a header or a value: folded, lower case, letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[\W_]+", "", plain)


# The tables are data: one line per entry reads better than the formatter's one word per line.
# fmt: off
# field -> the headers that mean it (English, then German)
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "component id", "local id", "tag", "asset id", "asset tag",
           "Komponenten-ID", "Kennung", "BMK", "Betriebsmittelkennzeichen"),
    "crane": ("crane", "crane id", "crane no.", "Kran", "Kran-Nr.", "Kran-ID"),
    "terminal": ("terminal", "terminal id", "Terminal-ID"),
    "name": ("name", "description", "designation", "Bezeichnung", "Beschreibung", "Benennung"),
    "kind": ("kind", "type", "category", "component type", "device type",
             "Art", "Kategorie", "Komponententyp", "Komponentenart", "Geräteart", "Gerätetyp"),
    "manufacturer": ("manufacturer", "maker", "make", "brand", "OEM",
                     "Hersteller", "Fabrikat", "Marke"),
    "model": ("model", "model number", "model no.", "product", "type designation",
              "Modell", "Typ", "Typbezeichnung", "Produkt"),
    "part_number": ("part number", "part no.", "P/N", "PN", "article number", "article no.",
                    "order number", "order no.", "catalogue number", "catalog number", "SKU",
                    "Artikelnummer", "Art.-Nr.", "Bestellnummer", "Best.-Nr.", "Teilenummer",
                    "Sachnummer", "MLFB"),
    "serial": ("serial", "serial number", "serial no.", "S/N", "SN", "Seriennummer",
               "Serien-Nr.", "Fabriknummer", "Fabrik-Nr."),
    "hardware_version": ("hardware version", "HW version", "hardware revision", "HW revision",
                         "HW", "revision", "Hardwarestand", "Hardwareversion", "HW-Stand",
                         "Ausgabestand", "Erzeugnisstand"),
    "firmware_version": ("firmware", "firmware version", "FW", "FW version", "software version",
                         "Firmwarestand", "Firmwareversion", "FW-Stand", "Softwarestand"),
    "firmware_sha256": ("firmware SHA-256", "firmware SHA256", "firmware hash", "FW SHA-256",
                        "SHA-256", "Firmware-Hash", "Firmware-Prüfsumme"),
    "country_of_origin": ("country of origin", "origin", "COO", "made in",
                          "Herkunftsland", "Ursprungsland"),
    "supplier": ("supplier", "vendor", "distributor", "contractor",
                 "Lieferant", "Auftragnehmer", "Zulieferer"),
    "macs": ("MAC", "MACs", "MAC address", "MAC addresses", "MAC address(es)",
             "hardware address", "MAC-Adresse", "MAC-Adressen"),
    "ips": ("IP", "IPs", "IP address", "IP addresses", "IP address(es)",
            "IP-Adresse", "IP-Adressen"),
    "zone": ("zone", "network zone", "security zone", "Netzwerkzone", "Sicherheitszone"),
    "location": ("location", "position", "installation location", "mounting location", "cabinet",
                 "Einbauort", "Einbauplatz", "Standort", "Ort", "Schrank"),
    "purpose": ("purpose", "function", "use", "usage",
                "Zweck", "Funktion", "Verwendung", "Verwendungszweck"),
    "capabilities": ("interfaces", "communication", "communication interfaces", "capabilities",
                     "comms", "Schnittstellen", "Kommunikation", "Kommunikationsschnittstellen"),
    "imei": ("IMEI",),
    "iccid": ("ICCID", "SIM", "SIM card", "SIM number", "SIM-Karte", "SIM-Nummer"),
    "imsi": ("IMSI",),
    "carrier": ("carrier", "mobile operator", "network operator", "mobile carrier", "provider",
                "Mobilfunkanbieter", "Netzbetreiber", "Mobilfunknetz"),
    "apn": ("APN", "access point name"),
    "source_kind": ("source", "source kind", "record source", "Quelle", "Herkunft"),
    "source_document": ("document", "source document", "reference", "contract",
                        "contract ref", "contract reference", "Dokument", "Vertrag",
                        "Referenz", "Vertragsreferenz", "Quelldokument"),
    "source_date": ("date", "source date", "document date", "Datum", "Dokumentdatum"),
}

# component kind -> the words for it (the kind's own value always works)
KIND_ALIASES: dict[ComponentKind, tuple[str, ...]] = {
    ComponentKind.PLC: ("PLC", "SPS", "controller", "Steuerung", "CPU"),
    ComponentKind.DRIVE: ("drive", "VFD", "inverter", "converter", "Antrieb", "Umrichter",
                          "Frequenzumrichter"),
    ComponentKind.REMOTE_IO: ("remote I/O", "remote IO", "I/O", "IO module",
                              "dezentrale Peripherie", "E/A"),
    ComponentKind.HMI: ("HMI", "panel", "operator panel", "touch panel", "Bedienpanel",
                        "Bediengerät"),
    ComponentKind.CMS: ("CMS", "crane management system", "Kranmanagementsystem"),
    ComponentKind.SPREADER: ("spreader",),
    ComponentKind.CAMERA: ("camera", "CCTV", "IP camera", "Kamera"),
    ComponentKind.SWITCH: ("switch", "network switch", "Netzwerkswitch"),
    ComponentKind.ROUTER: ("router",),
    ComponentKind.FIREWALL: ("firewall",),
    ComponentKind.REMOTE_ACCESS: ("remote access", "remote maintenance", "remote service",
                                  "Fernwartung", "Fernwartungsbox"),
    ComponentKind.MODEM: ("modem", "cellular modem", "cellular router", "LTE router",
                          "Mobilfunkmodem", "Mobilfunkrouter"),
    ComponentKind.SERVER: ("server",),
    ComponentKind.WORKSTATION: ("workstation", "PC", "industrial PC", "IPC", "Arbeitsplatz"),
    ComponentKind.SENSOR: ("sensor", "Messgerät"),
    ComponentKind.OTHER: ("other", "sonstige", "Sonstiges"),
}

# interface word -> (capability type, the technology or serial interface it names)
CAPABILITY_ALIASES: dict[str, tuple[str, str | None]] = {
    **{w: ("ethernet", None) for w in ("ethernet", "LAN", "Profinet", "EtherNet/IP", "RJ45",
                                       "Netzwerk")},
    **{w: ("cellular", None) for w in ("cellular", "mobile", "Mobilfunk")},
    **{w: ("cellular", w) for w in ("GSM", "GPRS", "UMTS", "3G", "LTE", "4G", "5G", "NB-IoT",
                                    "LTE-M")},
    **{w: ("wifi", None) for w in ("Wi-Fi", "WiFi", "WLAN", "wireless LAN")},
    **{w: ("bluetooth", None) for w in ("Bluetooth", "BT", "BLE")},
    **{w: ("serial", w) for w in ("RS-232", "RS-422", "RS-485")},
    **{w: ("serial", None) for w in ("serial", "seriell", "Modbus RTU", "Profibus")},
}
# fmt: on

FIELDS = tuple(COLUMN_ALIASES)
LIST_FIELDS = frozenset({"macs", "ips", "capabilities"})
CELLULAR_FIELDS = ("imei", "iccid", "imsi", "carrier", "apn")
IGNORE = "ignore"

HEADER_INDEX: dict[str, str] = {normalise(name): name for name in FIELDS}
HEADER_INDEX.update(
    {normalise(alias): name for name, aliases in COLUMN_ALIASES.items() for alias in aliases}
)
KIND_WORDS: dict[str, ComponentKind] = {
    normalise(word): kind for kind, words in KIND_ALIASES.items() for word in (kind.value, *words)
}
CAPABILITY_WORDS = {normalise(word): meaning for word, meaning in CAPABILITY_ALIASES.items()}
