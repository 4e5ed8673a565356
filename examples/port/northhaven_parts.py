"""The parts catalogue of the example port: the crane models and what every unit of each carries.

Every name of a crane maker, terminal, operator, carrier, contract and person here is invented.
The component makers are real industrial vendors (Siemens, ABB, Hirschmann, ...), named only as
the makers of ordinary automation parts, never of a modem; their MAC OUIs are the real ones
(so the ``vendor`` column of the ``assets`` table reads right). Devices of the invented makers
(spreader controllers, telematics units) get locally administered MACs (``02:...``).

``generate.py`` reads this module: change the crane models here and run it again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    """One component every unit of a crane model carries (a line of the model's HBOM)."""

    local: str  # local id on the crane
    kind: str
    name: str  # what it is, on every unit
    maker: str
    model: str
    part_number: str | None
    firmware: str | None
    country: str | None
    oui: str | None  # MAC prefix; None: no Ethernet port (serial only)
    host: int | None  # last octet on the crane LAN
    serial: str  # serial pattern: A letter, D digit, X hex digit, other characters as they are
    location: str
    purpose: str
    radio: str | None = None  # "cellular" or "wifi": a per-unit radio with identifiers
    serial_link: str | None = None  # RS-232/RS-485 wiring for parts without Ethernet
    hardware: str | None = None


@dataclass(frozen=True)
class Model:
    id: str
    maker: str
    model: str
    type: str
    contract: str
    parts: tuple[Part, ...]
    moves_per_hour: float


# fmt: off
# --------------------------------------------------------------------------- common parts
def _cam(local: str, host: int, where: str) -> Part:
    return Part(local, "camera", f"{where} camera", "Axis Communications", "Q1798-LE",
                "01524-001", "11.11.73", "SE", "00:40:8c", host, "XXXXXXXXXXXX",
                f"{where}", "CCTV of the load for the operator")


def _drive(role: str, host: int, maker: str = "ABB") -> Part:
    if maker == "ABB":
        return Part(f"drive-{role}", "drive", f"{role} drive", "ABB", "ACS880-07",
                    "ACS880-07-0910A-3", "AINFX 3.61.0.0", "FI", "00:1c:01", host, "DDDDDDDDDD",
                    "E-room drive line-up", f"{role} motion control")
    return Part(f"drive-{role}", "drive", f"{role} drive", "Siemens", "SINAMICS S120",
                "6SL3040-1MA01-0AA0", "V5.2 SP3", "DE", "28:63:36", host, "T-AXDDDDDDD",
                "E-room drive line-up", f"{role} motion control")


PLC_S7 = Part("plc", "plc", "crane PLC", "Siemens", "S7-1500 CPU 1516-3 PN/DP",
              "6ES7516-3AN02-0AB0", "V2.9.4", "DE", "28:63:36", 20, "S C-AXADDDDD",
              "E-room cabinet +A1", "crane control: hoist, trolley, gantry and boom interlocks",
              hardware="FS 03")
SWITCH_HIRSCHMANN = Part("switch", "router", "crane switch-router", "Hirschmann",
                         "RSPE35", "RSPE35-24044O7T99-SCCZ999HHSE3A", "HiOS-3S 08.7.01", "DE",
                         "00:80:63", 1, "94DDDDDDDDDDDDDD", "E-room cabinet +A2",
                         "crane LAN switching and routing to the terminal network")
CMS_DELL = Part("cms", "cms", "crane management PC", "Dell", "OptiPlex XE4", "XE4-I7-IND",
                "BIOS 1.21.0", "CN", "18:66:da", 10, "AAAAAAA", "operator cabin rack",
                "crane management system: diagnostics, condition monitoring, telemetry")
HMI_SIEMENS = Part("hmi", "hmi", "operator HMI panel", "Siemens", "SIMATIC HMI TP1500 Comfort",
                   "6AV2124-0QC02-0AX1", "V17.0.0.3", "DE", "28:63:36", 60, "S V-AXADDDDD",
                   "operator cabin", "operator screens (OPC UA client of the PLC)")
EWON = Part("ra-gateway", "remote-access", "remote-maintenance gateway", "HMS Industrial Networks",
            "Ewon Cosy 131", "EC61330_00MA", "14.8s2", "BE", "00:03:27", 250, "DDDD-DDDD-DD",
            "E-room cabinet +A2", "vendor remote maintenance over the contracted VPN")


def _spreader(maker: str, model: str, host: int) -> Part:
    return Part("spreader", "spreader", "spreader controller", maker, model, f"{model}-CTRL",
                "4.2.1", "SE", "02:5b:7e", host, "SPDDDDDD", "spreader head",
                "twistlock and telescope control")


def _telematics(maker: str, model: str, host: int) -> Part:
    return Part("telematics", "modem", "telematics control unit", maker, model, f"{model}-EU",
                "3.4.12", "FI", "02:7c:11", host, "TCUDDDDDDD", "cabin roof, antenna on mast",
                "contracted fleet telematics: fuel, engine hours and alarms to the maker's portal",
                radio="cellular")


GNSS = Part("gnss", "sensor", "GNSS positioning receiver", "Septentrio", "AsteRx-m3 Pro",
            "410322", "4.14.0", "BE", None, None, "DDDDDDDDDD", "cabin roof",
            "crane position for the terminal operating system", serial_link="RS-232 to the PLC")

# ---------------------------------------------------------------------------- crane models
ECW = "Eastern Crane Works"
CQS = "Calder Quay Systems"
HLM = "Harbourline Machinery"
KSS = "Kestrel Straddle Systems"

# The STS-65 is the crane of the synthetic capture (cranewatch testbed synth): these local ids
# and host numbers are the synth plant's (switch .1, CMS .10, PLC .20, drives .31-.34, remote
# I/O .41-.42, ET 200SP .45, HMI .60); cameras, spreader and gateway are silent in it.
STS_65 = Model("ecw-sts-65", ECW, "STS-65", "STS", "Contract NH-2017/031 annex C", (
    SWITCH_HIRSCHMANN, CMS_DELL, PLC_S7,
    _drive("hoist", 31), _drive("trolley", 32), _drive("gantry", 33), _drive("boom", 34),
    Part("rio-1", "remote-io", "remote I/O, boom", "Phoenix Contact", "AXC F 2152", "2404267",
         "2023.0.8 LTS", "DE", "00:a0:45", 41, "DDDDDDDDDD", "boom junction box",
         "boom limit switches and wind sensor"),
    Part("rio-2", "remote-io", "remote I/O, gantry", "WAGO", "750-352 fieldbus coupler",
         "750-352/040-000", "FW 18", "DE", "00:30:de", 42, "DDDDDDDD-DDDDDD",
         "sill beam junction box", "gantry travel limits and storm pins"),
    Part("et200sp", "remote-io", "PROFINET I/O station, trolley", "Siemens",
         "ET 200SP IM 155-6 PN HF", "6ES7155-6AU01-0CN0", "V4.2.3", "DE", "28:63:36", 45,
         "S C-AXADDDDD", "trolley cabinet", "trolley and spreader I/O"),
    HMI_SIEMENS, _cam("camera-trolley", 70, "trolley"), _cam("camera-boom", 71, "boom tip"),
    _spreader("Stackwell Spreaders", "SW-45T", 80), EWON,
), 32.0)

STS_70 = Model("ecw-sts-70", ECW, "STS-70 tandem", "STS", "Contract NH-2020/118 annex B", (
    SWITCH_HIRSCHMANN, CMS_DELL, PLC_S7,
    _drive("hoist", 31), _drive("trolley", 32), _drive("gantry", 33), _drive("boom", 34),
    _drive("hoist-2", 35),
    Part("et200sp", "remote-io", "PROFINET I/O station, trolley", "Siemens",
         "ET 200SP IM 155-6 PN HF", "6ES7155-6AU01-0CN0", "V4.2.3", "DE", "28:63:36", 45,
         "S C-AXADDDDD", "trolley cabinet", "trolley and spreader I/O"),
    HMI_SIEMENS, _cam("camera-trolley", 70, "trolley"), _cam("camera-boom", 71, "boom tip"),
    _spreader("Stackwell Spreaders", "SW-TT65", 80), EWON,
), 38.0)

MQ_80 = Model("cqs-mq-80", CQS, "MQ-80 remote", "STS", "Contract NH-2021/007 schedule 4", (
    Part("switch", "router", "crane core switch", "Cisco", "IE-4000-8GT4G4E", "IE-4000-8GT4G4E",
         "IOS 15.2(8)E4", "MX", "00:1b:54", 1, "FOCDDDDAXXX", "E-room cabinet +K1",
         "crane LAN switching and routing"),
    Part("plc", "plc", "crane motion controller", "Beckhoff", "CX2040", "CX2040-0125",
         "TwinCAT 3.1.4024", "DE", "00:01:05", 20, "DDDDDDDDD", "E-room cabinet +K2",
         "crane control and automation sequences"),
    _drive("hoist", 31, "Siemens"), _drive("trolley", 32, "Siemens"),
    _drive("gantry", 33, "Siemens"), _drive("boom", 34, "Siemens"),
    CMS_DELL,
    Part("rcs", "workstation", "remote operating station link", "Dell", "Precision 3260",
         "P3260-XCTO", "BIOS 2.9.0", "CN", "18:66:da", 12, "AAAAAAA", "E-room rack",
         "video and control link to the remote operating desks"),
    _cam("camera-trolley", 70, "trolley"), _cam("camera-boom", 71, "boom tip"),
    _cam("camera-landside", 72, "landside sill"),
    Part("lidar", "sensor", "profile scanner", "SICK", "LMS511-20100 PRO", "1046135", "V2.30",
         "DE", "00:06:77", 90, "DDDDDDDD", "trolley underside", "vessel and load profiling"),
    _spreader("Stackwell Spreaders", "SW-45T", 80),
    Part("ra-gateway", "remote-access", "remote-maintenance gateway", "Moxa", "EDR-G9010",
         "EDR-G9010-VPN-2MGSFP", "3.4", "TW", "00:90:e8", 250, "TAADDDDDDD",
         "E-room cabinet +K1", "vendor remote maintenance (IPsec to the maker's service centre)"),
), 30.0)

ASC_40 = Model("cqs-asc-40", CQS, "ASC-40", "ASC", "Contract NH-2021/007 schedule 5", (
    Part("switch", "switch", "crane switch", "Hirschmann", "GRS1042", "GRS1042-6T6ZSHH00Z9HHSE3A",
         "HiOS-3S 09.0.04", "DE", "00:80:63", 1, "94DDDDDDDDDDDDDD", "E-house",
         "crane LAN switching"),
    Part("plc", "plc", "crane motion controller", "Beckhoff", "CX2040", "CX2040-0125",
         "TwinCAT 3.1.4024", "DE", "00:01:05", 20, "DDDDDDDDD", "E-house", "automated stacking"),
    _drive("hoist", 31, "Siemens"), _drive("trolley", 32, "Siemens"),
    _drive("gantry", 33, "Siemens"),
    Part("lidar", "sensor", "stack profile scanner", "SICK", "LMS511-20100 PRO", "1046135",
         "V2.30", "DE", "00:06:77", 90, "DDDDDDDD", "trolley underside", "stack profiling"),
    _cam("camera-trolley", 70, "trolley"),
    _spreader("Stackwell Spreaders", "SW-40A", 80),
), 22.0)

RTG_41 = Model("hlm-rtg-41", HLM, "RTG-41 hybrid", "RTG", "Contract NH-2016/044 annex A", (
    Part("switch", "switch", "crane switch", "Moxa", "EDS-510E", "EDS-510E-3GTXSFP", "5.7",
         "TW", "00:90:e8", 1, "TAADDDDDDD", "E-house", "crane LAN switching"),
    Part("plc", "plc", "crane PLC", "Rockwell Automation", "ControlLogix 1756-L83E",
         "1756-L83E", "33.011", "US", "00:1d:9c", 20, "XXXXXXXX", "E-house",
         "crane control and engine management"),
    _drive("hoist", 31), _drive("trolley", 32), _drive("gantry", 33),
    HMI_SIEMENS, _cam("camera-trolley", 70, "trolley"),
    _spreader("Stackwell Spreaders", "SW-40A", 80),
    _telematics(HLM, "HL-TCU4", 200), GNSS,
), 24.0)

RMG_30 = Model("hlm-rmg-30", HLM, "RMG-30 rail", "RMG", "Contract NH-2018/090 annex A", (
    Part("switch", "switch", "crane switch", "Moxa", "EDS-510E", "EDS-510E-3GTXSFP", "5.7",
         "TW", "00:90:e8", 1, "TAADDDDDDD", "E-house", "crane LAN switching"),
    PLC_S7, _drive("hoist", 31), _drive("trolley", 32), _drive("gantry", 33),
    CMS_DELL, HMI_SIEMENS, _cam("camera-trolley", 70, "trolley"),
    _spreader("Stackwell Spreaders", "SW-40A", 80),
), 26.0)

SC_4 = Model("kss-sc-4", KSS, "SC-4 hybrid straddle", "straddle", "Contract NH-2022/015", (
    Part("plc", "plc", "vehicle controller", "Siemens", "S7-1500 CPU 1515-2 PN",
         "6ES7515-2AM02-0AB0", "V2.9.4", "DE", "28:63:36", 20, "S C-AXADDDDD", "engine bay",
         "drive train, hoist and spreader control", hardware="FS 02"),
    Part("wlan", "other", "terminal Wi-Fi client", "Moxa", "AWK-3252A", "AWK-3252A-EU",
         "1.7", "TW", "00:90:e8", 5, "TAADDDDDDD", "cabin roof",
         "link to the terminal operating system over the terminal Wi-Fi", radio="wifi"),
    HMI_SIEMENS, _cam("camera-rear", 70, "rear"),
    _spreader("Stackwell Spreaders", "SW-SC40", 80),
    _telematics(KSS, "KS-Link 2", 200), GNSS,
), 20.0)

MODELS = (STS_65, STS_70, MQ_80, ASC_40, RTG_41, RMG_30, SC_4)
# fmt: on
