"""The crane PLC: a python-snap7 S7 server whose data blocks move like a working crane.

The S7 PLC is what a collector reads and a saboteur writes or stops, so it must be a real S7
stack: python-snap7's ``Server`` (through ``_s7_server.CraneS7Server``, which adds the events
and program-block downloads the library has no callback for). DB1 holds the crane's process
values (``_crane.DB1_LAYOUT``: hoist load and height, trolley and gantry position, speeds,
wind, moves counter, status, heartbeat), refreshed every ``update_s`` from the container-move
cycle in ``_crane``; while the CPU is in STOP the values freeze, as a stopped PLC stops
scanning. DB12 holds setpoints (``_crane.DB12_DEFAULTS``: speed limits, max load, wind stop).

Config keys:
    ``bind``              (str, default "0.0.0.0") address to listen on
    ``port``              (int, default 102) TCP port (ISO-on-TCP)
    ``cycle_s``           (float, default 40.0) seconds per container move
    ``update_s``          (float, default 0.5) DB1 refresh interval
    ``read_event_every``  (int, default 20) one ``s7-read`` event per this many reads of a peer
    ``station``, ``module``, ``serial``, ``plant`` (str) identity in SZL 0x001C
    ``order_code``, ``firmware`` (str, "6ES7 315-2EH14-0AB0", "V3.2.6") identity in SZL 0x0011
    ``duration_s``        (float, default 600.0) stop serving after this long

Events: ``s7-server-start`` (bind, port); ``s7-connect`` / ``s7-disconnect`` (peer);
``s7-read`` (peer, count, total; area, db, start, size of the read that made it due);
``s7-write`` (peer, area, db, start, size, hex: the bytes now there); ``s7-szl-read`` (peer,
szl_id); ``plc-stop`` (peer, was_running); ``plc-start`` (peer, restart hot/cold);
``plc-control`` (peer, service: another PI service); ``program-download`` (peer, block, size:
the request) and ``program-download-end`` (peer, block, ok, size); ``s7-server-stop``
(blocks: program blocks received).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from snap7.datatypes import S7Area
from snap7.type import SrvArea

from cranewatch.testbed.hosts._common import Events, StopFlag, deadline, fail, ready, setup
from cranewatch.testbed.hosts._crane import encode_db1, encode_db12, state
from cranewatch.testbed.hosts._s7_server import BLOCK_TYPES, CraneS7Server, Identity

PROGRAM = "s7_plc"
DEFAULTS: dict[str, object] = {
    "bind": "0.0.0.0",
    "port": 102,
    "cycle_s": 40.0,
    "update_s": 0.5,
    "read_event_every": 20,
    "station": Identity.station,
    "module": Identity.module,
    "serial": Identity.serial,
    "plant": Identity.plant,
    "order_code": Identity.order_code,
    "firmware": "V3.2.6",
    "duration_s": 600.0,
}
_RUN = 8


def firmware(text: str) -> tuple[int, int, int]:
    """``"V3.2.6"`` → (3, 2, 6); exit 2 when it is not a three-part version."""
    parts = text.strip().lstrip("Vv").split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) < 256 for p in parts):
        fail(f"config key 'firmware' must look like V3.2.6, got {text!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def main(argv: Sequence[str] | None = None) -> int:
    args, cfg = setup(argv, DEFAULTS)
    stop = StopFlag()
    identity = Identity(
        station=str(cfg["station"]),
        module=str(cfg["module"]),
        serial=str(cfg["serial"]),
        plant=str(cfg["plant"]),
        order_code=str(cfg["order_code"]),
        firmware=firmware(str(cfg["firmware"])),
    )
    cycle_s, update_s = float(cfg["cycle_s"]), max(0.05, float(cfg["update_s"]))
    with Events(args.events, args.host, PROGRAM) as events:
        server = CraneS7Server(events, identity, int(cfg["read_event_every"]))
        db1 = bytearray(encode_db1(state(0.0, cycle_s), 0))
        server.register_area(SrvArea.DB, 1, db1)
        server.register_area(SrvArea.DB, 12, bytearray(encode_db12()))
        try:
            server.start_to(str(cfg["bind"]), int(cfg["port"]))
        except Exception as err:  # the library wraps every bind error in S7ConnectionError
            print(
                f"{PROGRAM}: cannot listen on {cfg['bind']}:{cfg['port']}: {err}", file=sys.stderr
            )
            return 1
        events.emit("s7-server-start", bind=cfg["bind"], port=cfg["port"])
        ready()
        start, end, heartbeat = time.monotonic(), deadline(float(cfg["duration_s"])), 0
        lock = server.area_locks[(S7Area.DB, 1)]
        try:
            while not stop.wait(min(update_s, end - time.monotonic())):
                if time.monotonic() >= end:
                    break
                if int(server.cpu_state) != _RUN:
                    continue  # a stopped CPU does not scan: DB1 freezes
                heartbeat += 1
                values = encode_db1(state(time.monotonic() - start, cycle_s), heartbeat)
                with lock:
                    db1[:] = values
        finally:
            server.stop()
            blocks = [f"{BLOCK_TYPES[t]}{n}" for t, n in sorted(server.program_blocks)]
            events.emit("s7-server-stop", blocks=blocks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
